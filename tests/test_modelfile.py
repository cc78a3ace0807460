"""Model files: a faithful round trip, and one clear line for anything that is not one."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from wakeword import __version__
from wakeword.cli import main
from wakeword.config import Config, ModelConfig
from wakeword.errors import ModelFileError
from wakeword.model import WakewordModel, save_model
from wakeword.modelfile import FORMAT_VERSION, load_model

CONFIG = Config(phrase="hey computer", model=ModelConfig(conv_channels=8, gru_hidden=8, gru_layers=2))


@pytest.fixture
def model_file(tmp_path) -> Path:
    torch.manual_seed(0)
    model = WakewordModel(CONFIG.features.n_mels, CONFIG.model)
    for norm in (model.conv_norm, *model.gru_norms):  # non-default statistics must survive too
        norm.running_mean.uniform_(-1, 1)
        norm.running_var.uniform_(0.5, 2)
    path = tmp_path / "model.npz"
    save_model(path, model, CONFIG, threshold=0.7, data_manifest_sha256="ab" * 32, metrics={"val_recall": 0.93})
    return path


def test_roundtrip_keeps_weights_config_and_metadata(model_file):
    loaded = load_model(model_file)
    saved = torch.load(model_file, weights_only=True)
    assert loaded.config == CONFIG and loaded.phrase == "hey computer"
    assert loaded.threshold == 0.7
    assert not loaded.model.training
    for key, tensor in saved["state_dict"].items():
        assert torch.equal(loaded.model.state_dict()[key], tensor), key
    meta = loaded.metadata
    assert (meta["format_version"], meta["wakeword_version"], meta["torch_version"]) == (FORMAT_VERSION, __version__, str(torch.__version__))
    assert meta["data_manifest_sha256"] == "ab" * 32 and meta["metrics"] == {"val_recall": 0.93}
    x = torch.randn(1, 50, CONFIG.features.n_mels)
    assert torch.allclose(loaded.model(x), load_model(model_file).model(x))


def _bad_file(kind: str, good: Path, tmp_path: Path) -> Path:
    path = tmp_path / f"{kind}.pt"
    if kind == "missing":
        return path
    if kind == "truncated":
        data = good.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif kind == "text":
        path.write_text("activate\n")
    elif kind == "tensor":
        torch.save(torch.randn(3, 4), path)
    elif kind == "other_version":
        blob = torch.load(good, weights_only=True)
        torch.save({**blob, "format_version": FORMAT_VERSION + 1}, path)
    elif kind == "mismatched_weights":
        blob = torch.load(good, weights_only=True)
        config = blob["config"]
        torch.save({**blob, "config": {**config, "model": {**config["model"], "gru_hidden": 9}}}, path)
    return path


BAD = {
    "missing": "model file not found",
    "truncated": "not a readable wakeword model",
    "text": "not a readable wakeword model",
    "tensor": "is not a wakeword model file",
    "other_version": f"has model format {FORMAT_VERSION + 1}",
    "mismatched_weights": "does not match this wakeword",
}


@pytest.mark.parametrize("kind", sorted(BAD))
def test_a_bad_file_is_one_clear_line(kind, model_file, tmp_path):
    path = _bad_file(kind, model_file, tmp_path)
    with pytest.raises(ModelFileError) as err:
        load_model(path)
    message = str(err.value)
    assert BAD[kind] in message and str(path) in message
    assert "\n" not in message


@pytest.mark.parametrize("kind", ["truncated", "text", "tensor", "other_version"])
def test_info_on_a_bad_file_is_one_line(kind, model_file, tmp_path, capsys):
    path = _bad_file(kind, model_file, tmp_path)
    assert main(["info", str(path)]) == ModelFileError.exit_code
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("wakeword: error: ") and BAD[kind] in err


def test_info_from_the_command_line(model_file, tmp_path):
    """The real process: a bad file exits non-zero with one line and no traceback; a good one is described."""
    bad = _bad_file("text", model_file, tmp_path)
    proc = subprocess.run([sys.executable, "-m", "wakeword.cli", "info", str(bad)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == ModelFileError.exit_code
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    proc = subprocess.run([sys.executable, "-m", "wakeword.cli", "info", str(model_file), "--json"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assert (info["phrase"], info["threshold"], info["metrics"]) == ("hey computer", 0.7, {"val_recall": 0.93})
