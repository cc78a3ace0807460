"""Model files: a faithful round trip, older torch files read the same, and one clear line for anything that is not one."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from detect_fixtures import legacy_model_file, with_meta
from wakeword import __version__
from wakeword.cli import main
from wakeword.config import Config, ModelConfig
from wakeword.errors import ModelFileError
from wakeword.model import WakewordModel, save_model, weights_of
from wakeword.modelfile import FORMAT_VERSION, load_model

CONFIG = Config(phrase="hey computer", model=ModelConfig(conv_channels=8, gru_hidden=8, gru_layers=2))


def _model() -> WakewordModel:
    torch.manual_seed(0)
    model = WakewordModel(CONFIG.features.n_mels, CONFIG.model)
    for norm in (model.conv_norm, *model.gru_norms):  # non-default statistics must survive too
        norm.running_mean.uniform_(-1, 1)
        norm.running_var.uniform_(0.5, 2)
    return model.eval()


@pytest.fixture
def model_file(tmp_path) -> Path:
    path = tmp_path / "model.npz"
    save_model(path, _model(), CONFIG, threshold=0.7, data_manifest_sha256="ab" * 32, metrics={"val_recall": np.float32(0.93)})
    return path


def _assert_same_weights(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def test_roundtrip_keeps_weights_config_and_metadata(model_file):
    loaded = load_model(model_file)
    assert loaded.config == CONFIG and loaded.phrase == "hey computer"
    assert loaded.threshold == 0.7 and loaded.frontend == "mel"
    _assert_same_weights(loaded.weights, weights_of(_model()))
    assert not loaded.model.training
    _assert_same_weights(weights_of(loaded.model), loaded.weights)
    meta = loaded.metadata
    assert (meta["format_version"], meta["wakeword_version"], meta["torch_version"]) == (FORMAT_VERSION, __version__, str(torch.__version__))
    assert meta["data_manifest_sha256"] == "ab" * 32 and meta["metrics"] == {"val_recall": pytest.approx(0.93)}
    x = torch.randn(1, 50, CONFIG.features.n_mels)
    assert torch.allclose(loaded.model(x), _model()(x))


def test_numpy_reads_the_arrays_and_the_same_model_makes_the_same_bytes(model_file, tmp_path):
    assert np.load(model_file)["conv.weight"].shape == (8, CONFIG.features.n_mels, CONFIG.model.conv_kernel)
    again = tmp_path / "again.npz"
    save_model(again, _model(), CONFIG, threshold=0.7, data_manifest_sha256="ab" * 32, metrics={"val_recall": np.float32(0.93)})
    assert again.read_bytes() == model_file.read_bytes()


def test_an_older_torch_file_loads_as_the_same_model_and_exports(tmp_path, capsys):
    legacy = legacy_model_file(tmp_path / "old.pt", _model(), CONFIG, 0.7, metrics={"val_recall": 0.9})
    loaded = load_model(legacy)
    _assert_same_weights(loaded.weights, weights_of(_model()))
    assert (loaded.threshold, loaded.metadata["metrics"]) == (0.7, {"val_recall": 0.9})
    assert main(["export", str(legacy)]) == 0
    out = tmp_path / "old.npz"
    assert capsys.readouterr().out.strip() == str(out)
    exported = load_model(out)
    _assert_same_weights(exported.weights, loaded.weights)
    assert (exported.config, exported.threshold, exported.metadata["metrics"]) == (CONFIG, 0.7, {"val_recall": 0.9})
    assert exported.metadata["torch_version"] == str(torch.__version__)


def _bad_file(kind: str, good: Path, tmp_path: Path) -> Path:
    path = tmp_path / f"{kind}.npz"
    if kind == "missing":
        return path
    if kind == "truncated":
        data = good.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif kind == "text":
        path.write_text("activate\n")
    elif kind == "tensor":
        torch.save(torch.randn(3, 4), path)
    elif kind == "arrays":
        np.savez(path, x=np.zeros(3))
    elif kind == "other_version":
        with_meta(good, path, format_version=FORMAT_VERSION + 1)
    elif kind == "other_frontend":
        with_meta(good, path, frontend="speech-embedding")
    elif kind == "mismatched_weights":
        config = CONFIG.to_dict()
        with_meta(good, path, config={**config, "model": {**config["model"], "gru_hidden": 9}})
    elif kind == "missing_weights":
        with zipfile.ZipFile(good) as src, zipfile.ZipFile(path, "w") as dst:
            for name in src.namelist():
                if name != "head.bias.npy":
                    dst.writestr(name, src.read(name))
    elif kind == "old_other_version":
        legacy_model_file(path, _model(), CONFIG, 0.7, format_version=FORMAT_VERSION + 1)
    return path


BAD = {
    "missing": "model file not found",
    "truncated": "not a readable wakeword model",
    "text": "not a readable wakeword model",
    "tensor": "is not a wakeword model file",
    "arrays": "is not a wakeword model file",
    "other_version": f"has model format {FORMAT_VERSION + 1}",
    "old_other_version": f"has model format {FORMAT_VERSION + 1}",
    "other_frontend": "needs the 'speech-embedding' frontend",
    "mismatched_weights": "does not match this wakeword",
    "missing_weights": "does not match this wakeword",
}


@pytest.mark.parametrize("kind", sorted(BAD))
def test_a_bad_file_is_one_clear_line(kind, model_file, tmp_path):
    path = _bad_file(kind, model_file, tmp_path)
    with pytest.raises(ModelFileError) as err:
        load_model(path)
    message = str(err.value)
    assert BAD[kind] in message and str(path) in message
    assert "\n" not in message


@pytest.mark.parametrize("kind", ["truncated", "text", "tensor", "other_version", "other_frontend"])
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
    legacy = legacy_model_file(tmp_path / "old.pt", _model(), CONFIG, 0.7, metrics={"val_recall": 0.93})
    for path in (model_file, legacy):
        proc = subprocess.run([sys.executable, "-m", "wakeword.cli", "info", str(path), "--json"], capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        info = json.loads(proc.stdout)
        assert (info["phrase"], info["threshold"], info["metrics"]) == ("hey computer", 0.7, {"val_recall": pytest.approx(0.93)})
        assert info["parameters"] == sum(p.numel() for p in _model().parameters())


def test_export_refuses_to_overwrite_its_input(model_file, capsys):
    assert main(["export", str(model_file), str(model_file)]) == 2
    assert "is the input file" in capsys.readouterr().err
