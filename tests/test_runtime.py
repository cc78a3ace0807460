"""The listener's side without torch: the numpy frontend against librosa and scipy, the
numpy network against torch on the bundled model, and processes that never load torch."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import librosa
import numpy as np
import pytest
import scipy.signal

from detect_fixtures import (TRAINING_ONLY, json_lines, legacy_model_file, one_line_error, random_model, spoken_wav, training_imports,
                             wakeword_python)
from pulse import Child, pulse, pulse_up  # noqa: F401 (fixtures)
from synth.noise import colored_noise
from synth.tts import Voice, render
from wakeword.audio import write_wav
from wakeword.config import Config, FeatureConfig, ModelConfig
from wakeword.errors import ExtraMissingError, ModelFileError
from wakeword.features import FeatureExtractor, hann_window, mel_filterbank
from wakeword.model import WakewordModel, score_offline
from wakeword.modelfile import bundled_model_path, load_model
from wakeword.scoring import StreamingScorer

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = [FeatureConfig(), FeatureConfig(n_mels=64, fmin=0.0, fmax=8000.0, normalization="pcen"),
           FeatureConfig(sample_rate=22050, n_fft=1024, window_ms=30.0, fmax=11025.0)]


@pytest.mark.parametrize("config", CONFIGS, ids=["default", "pcen-64", "22k"])
def test_the_numpy_frontend_is_the_librosa_and_scipy_one(config):
    """The features the bundled model was trained on came from librosa's filterbank, scipy's
    window and scipy's lfilter for PCEN; the numpy ones must give the same features."""
    mel = librosa.filters.mel(sr=config.sample_rate, n_fft=config.n_fft, n_mels=config.n_mels, fmin=config.fmin, fmax=config.fmax)
    np.testing.assert_allclose(mel_filterbank(config), mel, rtol=1e-5, atol=1e-9)
    np.testing.assert_allclose(hann_window(config.win_length), scipy.signal.get_window("hann", config.win_length), atol=1e-7)

    rng = np.random.default_rng(0)
    audio = (colored_noise(rng, 7 * config.sample_rate, 1.0) * np.logspace(-3, -0.5, 7 * config.sample_rate)).astype(np.float32)
    extractor = FeatureExtractor(dataclasses.replace(config, normalization="pcen"))
    power = extractor.mel_power(audio).astype(np.float64) * 32768.0**2
    k = extractor._pcen_k
    smooth = scipy.signal.lfilter([k], [1, k - 1], power, axis=0, zi=(1 - k) * power[:1])[0]
    c = extractor.config
    reference = (power * np.exp(-c.pcen_alpha * np.log(c.pcen_eps + smooth)) + c.pcen_delta) ** c.pcen_r - c.pcen_delta**c.pcen_r
    np.testing.assert_allclose(extractor(audio), reference, rtol=1e-5, atol=1e-5)


@pytest.fixture(scope="module")
def minutes_of_speech() -> np.ndarray:
    """Three minutes of pink noise with the phrase and other speech in it, at 16 kHz."""
    rng = np.random.default_rng(3)
    audio = colored_noise(rng, 180 * 16000, 1.0) * np.float32(10 ** (-45 / 20))
    voices = [Voice.parse(v) for v in ("espeak-ng:en-us", "espeak-ng:en-gb+f3")]
    clips = [render(v, text) for v in voices for text in ("activate", "the weather is nice today", "activity")]
    at = 16000
    while at < len(audio) - 3 * 16000:
        clip = clips[int(rng.integers(len(clips)))]
        audio[at : at + len(clip)] += clip / max(1e-6, float(np.abs(clip).max())) * 0.3
        at += len(clip) + int(rng.uniform(1, 4) * 16000)
    return audio.astype(np.float32)


@pytest.mark.skipif(not bundled_model_path().exists(), reason="no bundled model")
def test_runtime_scores_equal_torch_on_the_bundled_model_in_any_chunking(minutes_of_speech):
    model = load_model(bundled_model_path())
    reference = score_offline([model], minutes_of_speech)
    assert reference.values.max() > model.threshold  # the phrase is heard: high scores are compared too
    for size in (37, 160, 1280, 4001, 16000 * 7):  # odd sizes: frames and steps split across pushes
        scorer, values = StreamingScorer([model]), []
        for start in range(0, len(minutes_of_speech), size):
            values.append(scorer.push(minutes_of_speech[start : start + size]).values)
        streamed = np.concatenate(values)
        assert streamed.shape == reference.values.shape
        assert np.abs(streamed - reference.values).max() <= 1e-4, size


@pytest.fixture(scope="module")
def phrase_wav(tmp_path_factory, minutes_of_speech) -> Path:
    path = tmp_path_factory.mktemp("runtime") / "speech.wav"
    write_wav(path, minutes_of_speech[: 40 * 16000], 16000)
    return path


@pytest.mark.skipif(not bundled_model_path().exists(), reason="no bundled model")
@pytest.mark.parametrize("source", ["file", "stdin"])
def test_detect_loads_nothing_of_the_training_side(phrase_wav, source):
    args = ["detect", "--json", str(phrase_wav)] if source == "file" else ["detect", "--json", "-"]
    stdin = phrase_wav.read_bytes() if source == "stdin" else None
    run = wakeword_python(*args, flags=("-X", "importtime"), stdin=stdin)
    assert run.returncode == 0, run.stderr[-2000:]
    assert json_lines(run.stdout), "the phrase is in the audio: detect must have scored it"
    assert training_imports(run.stderr) == []


def test_without_torch_a_torch_file_or_a_training_command_is_one_line(tmp_path, phrase_wav):
    legacy = legacy_model_file(tmp_path / "old.pt", WakewordModel(40, ModelConfig(conv_channels=4, gru_hidden=4)),
                               Config(model=ModelConfig(conv_channels=4, gru_hidden=4)), 0.5)
    run = wakeword_python("detect", str(phrase_wav), "--model", str(legacy), without=("torch",))
    assert run.returncode == ModelFileError.exit_code
    assert f"is an older torch model file (.pt), and this install has no torch: convert it with `wakeword export {legacy}`" in one_line_error(run)
    run = wakeword_python("train", "--config", str(ROOT / "configs" / "tiny.yaml"), "--data", str(tmp_path), "--out", str(tmp_path / "run"),
                          without=TRAINING_ONLY)
    assert run.returncode == ExtraMissingError.exit_code
    assert one_line_error(run).endswith("needs torch, which this install lacks: pip install 'wakeword[train]'")


def test_without_torch_a_model_file_still_detects(tmp_path, phrase_wav):
    model = random_model(tmp_path / "random.npz")
    expected = wakeword_python("detect", str(phrase_wav), "--model", str(model), "--threshold", "0.5")
    run = wakeword_python("detect", str(phrase_wav), "--model", str(model), "--threshold", "0.5", without=TRAINING_ONLY)
    assert run.returncode == 0 and run.stdout == expected.stdout, run.stderr


@pytest.mark.slow
@pytest.mark.skipif(not bundled_model_path().exists(), reason="no bundled model")
def test_a_runtime_only_install_detects_and_listens_with_the_bundled_model(tmp_path, phrase_wav, pulse_up):
    """`pip install .` without extras into a fresh venv (needs PyPI, or a pip cache that has the wheels)."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check", str(ROOT)],
                         capture_output=True, text=True, timeout=900)
    if pip.returncode != 0 and "No matching distribution" in pip.stderr + pip.stdout:
        pytest.skip(f"no package index reachable: {pip.stderr.strip()[-200:]}")
    assert pip.returncode == 0, pip.stderr
    python = venv / "bin" / "python"
    missing = subprocess.run([str(python), "-c", f"import importlib.util as u; print([m for m in {TRAINING_ONLY!r} if u.find_spec(m)])"],
                             capture_output=True, text=True, check=True)
    assert missing.stdout.strip() == "[]"
    env = {**os.environ, "PATH": f"{venv / 'bin'}:{os.environ['PATH']}"}
    proc = subprocess.run([str(venv / "bin" / "wakeword"), "detect", "--json", str(phrase_wav)], capture_output=True, text=True,
                          timeout=120, env=env, cwd=tmp_path)
    assert proc.returncode == 0 and json_lines(proc.stdout), proc.stderr
    proc = subprocess.run([str(venv / "bin" / "wakeword"), "train", "--config", str(ROOT / "configs" / "tiny.yaml"),
                           "--data", str(tmp_path), "--out", str(tmp_path / "run")],
                          capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)
    assert proc.returncode == ExtraMissingError.exit_code and "pip install 'wakeword[train]'" in proc.stderr
    listener = Child([str(venv / "bin" / "wakeword"), "listen", "--json"], {**pulse_up.env, "PATH": env["PATH"]})
    try:
        listener.wait_for(r"audio flowing")
        pulse_up.play(spoken_wav(tmp_path, "activate", "positive"))
        listener.wait_for(r'"phrase": "activate"', "stdout", timeout=10)
        assert listener.stop() == 0
    finally:
        listener.kill()
