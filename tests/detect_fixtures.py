"""Shared pieces of the detect / eval / detection tests.

`energy_model` is a model file whose outputs are known without training: its score
follows the loudness of what it hears (~0 for QUIET, 0.83-0.94 for MEDIUM, ~1 for LOUD), so
noise bursts placed at chosen times over quiet noise are "utterances" with exactly
known detections.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from wakeword.audio import load_audio, resample, write_wav
from wakeword.cli import main
from wakeword.config import Config, ModelConfig
from wakeword import __version__
from wakeword.model import WakewordModel, save_model
from wakeword.modelfile import FORMAT, FORMAT_VERSION, META

BIN = Path(sys.executable).parent
SMALL = ModelConfig(conv_channels=8, conv_kernel=15, conv_stride=4, gru_hidden=8, gru_layers=2, dropout=0.0)

# Levels as standard deviations of 16 kHz white noise: -60, -29 and -20 dBFS.
QUIET, MEDIUM, LOUD = 0.001, 0.035, 0.1
# Mean log-mel power half-way between the two (measured: about -12.2 and -3.2).
_LOG_MEL_MIDPOINT = -7.7


def random_model(path: Path, seed: int = 0, phrase: str = "activate", threshold: float = 0.5) -> Path:
    """An untrained model: scores are arbitrary but deterministic (plumbing and equivalence)."""
    torch.manual_seed(seed)
    config = dataclasses.replace(Config(), phrase=phrase, model=SMALL)
    model = WakewordModel(config.features.n_mels, config.model)
    model.eval()
    save_model(path, model, config, threshold)
    return path


def energy_model(path: Path, phrase: str = "activate", threshold: float = 0.5) -> Path:
    """A hand-set model whose score rises with the loudness of its receptive field."""
    config = dataclasses.replace(Config(), phrase=phrase, model=SMALL)
    model = WakewordModel(config.features.n_mels, config.model)
    h = SMALL.gru_hidden
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        for norm in [model.conv_norm, *model.gru_norms]:
            norm.weight.fill_(1.0)
        # Channel 0: mean log-mel over the receptive field, above the midpoint (ReLU drops the rest).
        model.conv.weight[0].fill_(1.0 / (config.features.n_mels * SMALL.conv_kernel))
        model.conv.bias[0] = -_LOG_MEL_MIDPOINT
        # Each GRU passes unit 0 through tanh with no memory: update gate shut (z ~ 0), no recurrence.
        for layer, (gain, bias) in zip(model.grus, [(0.5, -1.0), (1.0, 0.0)]):
            layer.bias_ih_l0[h : 2 * h] = -30.0
            layer.weight_ih_l0[2 * h, 0] = gain
            layer.bias_ih_l0[2 * h] = bias
        model.head.weight[0, 0] = 12.0
    model.eval()
    save_model(path, model, config, threshold)
    return path


def with_meta(path: Path, out: Path, **changes: Any) -> Path:
    """A copy of model file `path` whose meta.json has these keys replaced."""
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(out, "w") as dst:
        for name in src.namelist():
            data = src.read(name)
            if name == META:
                data = json.dumps({**json.loads(data), **changes}).encode()
            dst.writestr(name, data)
    return out


def legacy_model_file(path: Path, model: WakewordModel, config: Config, threshold: float, **extra: Any) -> Path:
    """A model file as wakeword wrote them before its torch-free format: a torch pickle (.pt)."""
    torch.save({
        "format": FORMAT, "format_version": FORMAT_VERSION, "wakeword_version": __version__,
        "torch_version": str(torch.__version__), "phrase": config.phrase, "threshold": float(threshold),
        "config": config.to_dict(), "data_manifest_sha256": "", "metrics": {},
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()}, **extra,
    }, path)
    return path


def spoken_wav(tmp_path: Path, text: str, name: str) -> Path:
    """espeak-ng speaking `text`, with a second of quiet noise either side."""
    raw = tmp_path / f"{name}.raw.wav"
    subprocess.run(["espeak-ng", "-w", str(raw), text], check=True, capture_output=True)
    speech = load_audio(raw, 16000)
    rng = np.random.default_rng(7)
    pad = np.zeros(16000, dtype=np.float32)
    audio = np.concatenate([pad, speech / max(1e-6, float(np.abs(speech).max())) * 0.5, pad])
    audio += rng.normal(0, 0.003, audio.size).astype(np.float32)  # about -50 dBFS of hiss
    out = tmp_path / f"{name}.wav"
    write_wav(out, audio, 16000)
    return out


def burst_audio(rate: int, duration_s: float, bursts: list[tuple], seed: int = 0, channels: int = 1) -> np.ndarray:
    """Quiet noise with noise bursts (start, end[, level]) seconds, LOUD unless given;
    shape (samples,) or (samples, channels). Made at 16 kHz and resampled, so a burst
    has the same band energies, and the same scores, at every rate."""
    rng = np.random.default_rng(seed)
    n = int(round(duration_s * 16000))
    level = np.full(n, QUIET, dtype=np.float32)
    for start, end, *loudness in bursts:
        level[int(start * 16000) : int(end * 16000)] = loudness[0] if loudness else LOUD
    audio = resample(rng.standard_normal((n, channels)).astype(np.float32) * level[:, None], 16000, rate)
    return audio[:, 0] if channels == 1 else audio


def burst_wav(path: Path, rate: int, duration_s: float, bursts: list[tuple], channels: int = 1) -> Path:
    write_wav(path, burst_audio(rate, duration_s, bursts, channels=channels), rate)
    return path


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str


def wakeword(*args: str, stdin: bytes | int | None = None) -> Run:
    """The real `wakeword` command in a process of its own; stdin as bytes, or a file descriptor (a terminal)."""
    kwargs = {"input": stdin} if isinstance(stdin, bytes) else {"stdin": stdin if stdin is not None else subprocess.DEVNULL}
    proc = subprocess.run([str(BIN / "wakeword"), *args], capture_output=True, timeout=120, **kwargs)
    return Run(proc.returncode, proc.stdout.decode(), proc.stderr.decode())


# What the listener's process must never load: the training side's packages.
TRAINING_ONLY = ("torch", "librosa", "numba", "scipy", "matplotlib")


def wakeword_python(*args: str, flags: tuple[str, ...] = (), without: tuple[str, ...] = (), stdin: bytes | None = None,
                    pythonpath: Path | None = None) -> Run:
    """`wakeword ARGS` through `python FLAGS`, with the packages `without` made unimportable
    (as in an install that lacks them) and `pythonpath` searched before the installed ones."""
    code = (f"import sys; sys.modules.update(dict.fromkeys({without!r})); "
            "from wakeword.cli import main; sys.exit(main(sys.argv[1:]))")
    env = {**os.environ, "PYTHONPATH": str(pythonpath)} if pythonpath else None
    proc = subprocess.run([sys.executable, *flags, "-c", code, *args], input=stdin, capture_output=True, timeout=120, env=env,
                          **({} if stdin is not None else {"stdin": subprocess.DEVNULL}))
    return Run(proc.returncode, proc.stdout.decode(), proc.stderr.decode())


def training_imports(importtime_log: str) -> list[str]:
    """The TRAINING_ONLY packages a `python -X importtime` log shows imported."""
    names = {line.rsplit("|", 1)[-1].strip() for line in importtime_log.splitlines() if line.startswith("import time:")}
    return sorted({n.split(".")[0] for n in names} & set(TRAINING_ONLY))


def wakeword_here(capsys, *args: str) -> Run:
    """The same command line run in this process (no interpreter start-up: for the many small cases)."""
    capsys.readouterr()
    code = main(list(args))
    out, err = capsys.readouterr()
    return Run(code, out, err)


def json_lines(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines()]


def assert_same_events(got: list[dict], expected: list[dict]) -> None:
    """Same phrases at the same times; scores equal up to float noise (they print rounded to 4 places)."""
    assert [(e["phrase"], e["time_s"]) for e in got] == [(e["phrase"], e["time_s"]) for e in expected]
    assert [e["score"] for e in got] == pytest.approx([e["score"] for e in expected], abs=2e-4)


def one_line_error(run: Run) -> str:
    """Assert the command failed the way users should see failures; return its message."""
    assert run.returncode != 0, run.stderr
    assert "Traceback" not in run.stderr, run.stderr
    assert len(run.stderr.strip().splitlines()) == 1, run.stderr
    return run.stderr.strip()
