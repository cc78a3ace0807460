"""`wakeword train` on a tiny real dataset: learning, files, exact resume, DDP, bad input."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from train_fixtures import TINY_CONFIG, tiny_dataset  # noqa: F401 (fixture)
from wakeword import __version__
from wakeword.cli import main
from wakeword.config import TrainConfig, load_config
from wakeword.errors import ConfigError
from wakeword.modelfile import load_model
from wakeword.training import band_centers_hz, epochs_within_budget, step_loss, train, vocal_tract_warp

EPOCHS = load_config(TINY_CONFIG).train.epochs


def _train(*args: str | Path) -> int:
    """`wakeword train` in this process."""
    return main(["train", "--config", str(TINY_CONFIG), *map(str, args)])


def _checkpoint(run: Path) -> dict:
    return torch.load(run / "checkpoint.pt", weights_only=True)


def _assert_same_tensors(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def _history(run: Path) -> list[dict]:
    """Per-epoch metrics without the wall-clock seconds."""
    return [{k: v for k, v in h.items() if k != "seconds"} for h in json.loads((run / "metrics.json").read_text())["history"]]


@pytest.fixture(scope="module")
def reference_run(tiny_dataset, tmp_path_factory) -> Path:  # noqa: F811
    out = tmp_path_factory.mktemp("runs") / "reference"
    assert _train("--data", tiny_dataset, "--out", out, "--device", "cpu") == 0
    return out


def test_tiny_training_learns_and_writes_its_run(reference_run, tiny_dataset):  # noqa: F811
    history = _history(reference_run)
    assert [h["epoch"] for h in history] == list(range(1, EPOCHS + 1))
    assert history[-1]["train_loss"] < 0.9 * history[0]["train_loss"]
    assert (reference_run / "learning_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    report = json.loads((reference_run / "metrics.json").read_text())
    best = report["best"]
    assert report["stopped"] == "completed"
    assert best["val_recall"] == max(h["val_recall"] for h in history)

    loaded = load_model(reference_run / "model.npz")
    assert loaded.config == load_config(TINY_CONFIG)
    assert loaded.threshold == (best["val_threshold"] if best["val_threshold"] is not None else 0.5)
    assert loaded.metadata["data_manifest_sha256"] == hashlib.sha256((tiny_dataset / "manifest.json").read_bytes()).hexdigest()
    assert loaded.metadata["wakeword_version"] == __version__
    assert loaded.metadata["torch_version"] == str(torch.__version__)
    assert loaded.metadata["metrics"]["epoch"] == best["epoch"]
    assert loaded.metadata["metrics"]["val_recall"] == best["val_recall"]
    # The whole run, not just the best epoch: bench quality states it from the file alone.
    assert loaded.metadata["metrics"]["epochs_trained"] == EPOCHS
    assert loaded.metadata["metrics"]["train_minutes"] == round(_checkpoint(reference_run)["progress"]["train_seconds"] / 60, 2)
    _assert_same_tensors(loaded.model.state_dict(), _checkpoint(reference_run)["progress"]["best_state"])


def test_resume_mid_epoch_matches_an_uninterrupted_run(reference_run, tiny_dataset, tmp_path, capsys):  # noqa: F811
    out = tmp_path / "run"
    steps_per_epoch = _history(reference_run)[0]["steps"]
    stop_at = steps_per_epoch + steps_per_epoch // 2
    assert _train("--data", tiny_dataset, "--out", out, "--max-steps", stop_at) == 0
    assert "stopped by max_steps in epoch 2 (--resume goes on); best epoch 1" in capsys.readouterr().out
    progress = _checkpoint(out)["progress"]
    assert (progress["epoch"], progress["batch"], progress["stopped"]) == (1, stop_at - steps_per_epoch, "max_steps")
    assert (out / "model.npz").is_file()

    assert _train("--data", tiny_dataset, "--out", out) == 2, "a second run into the same folder needs --resume"
    assert _train("--data", tiny_dataset, "--out", out, "--resume") == 0
    _assert_same_tensors(_checkpoint(out)["model"], _checkpoint(reference_run)["model"])
    _assert_same_tensors(load_model(out / "model.npz").model.state_dict(), load_model(reference_run / "model.npz").model.state_dict())
    assert _history(out) == _history(reference_run)


def test_sigint_saves_a_checkpoint_and_resume_matches(reference_run, tiny_dataset, tmp_path):  # noqa: F811
    config, out = load_config(TINY_CONFIG), tmp_path / "run"

    def log(line: str) -> None:  # Ctrl-C as the second epoch's line is printed
        if line.startswith("epoch 2/"):
            os.kill(os.getpid(), signal.SIGINT)

    handler = signal.getsignal(signal.SIGINT)
    result = train(config, tiny_dataset, out, device="cpu", log=log)
    assert (result.stopped, result.epochs_done) == ("interrupted", 2)
    assert signal.getsignal(signal.SIGINT) is handler
    assert _checkpoint(out)["progress"]["stopped"] == "interrupted"

    train(config, tiny_dataset, out, resume=True, device="cpu", log=lambda line: None)
    _assert_same_tensors(_checkpoint(out)["model"], _checkpoint(reference_run)["model"])


def test_keep_epoch_last_runs_the_schedule_out_and_saves_its_end(reference_run, tiny_dataset, tmp_path):  # noqa: F811
    """keep_epoch: last ignores validation gains (patience 1 would stop a best-keeping run at
    its first epoch without gain) and saves the final weights with their own threshold."""
    base = load_config(TINY_CONFIG)
    config = dataclasses.replace(base, train=dataclasses.replace(base.train, keep_epoch="last", early_stopping_patience=1))
    out = tmp_path / "run"
    lines: list[str] = []
    result = train(config, tiny_dataset, out, device="cpu", log=lines.append)
    assert (result.stopped, result.epochs_done) == ("completed", EPOCHS)
    assert any(line.startswith(f"last epoch {EPOCHS}: recall") for line in lines)
    # Which epoch is kept does not change the training itself.
    assert _history(out) == _history(reference_run)
    loaded = load_model(out / "model.npz")
    _assert_same_tensors(loaded.model.state_dict(), _checkpoint(reference_run)["model"])
    last = _history(out)[-1]
    assert loaded.metadata["metrics"]["epoch"] == EPOCHS
    assert loaded.threshold == (last["val_threshold"] if last["val_threshold"] is not None else 0.5)


def test_max_minutes_budgets_the_run_over_its_resumes(tiny_dataset, tmp_path):  # noqa: F811
    config, out = load_config(TINY_CONFIG), tmp_path / "run"
    capped = dataclasses.replace(config, train=dataclasses.replace(config.train, max_minutes=1e-4))
    assert train(capped, tiny_dataset, out, device="cpu", log=lambda line: None).stopped == "max_minutes"
    spent = _checkpoint(out)["progress"]
    assert spent["train_seconds"] > 6e-3 and spent["epoch"] == 0

    # The same cap again: `make model` run twice must not train on.
    lines: list[str] = []
    assert train(capped, tiny_dataset, out, resume=True, device="cpu", log=lines.append).stopped == "max_minutes"
    assert _checkpoint(out)["progress"] == spent
    assert any("already used its train.max_minutes" in line for line in lines)

    result = train(config, tiny_dataset, out, resume=True, device="cpu", log=lambda line: None)
    assert (result.stopped, result.epochs_done) == ("completed", EPOCHS)
    assert _checkpoint(out)["progress"]["train_seconds"] > spent["train_seconds"]


@pytest.mark.parametrize("planned, done, seconds, budget, fit", [
    (16, 0, 0.0, 1500.0, 16),  # nothing measured yet
    (16, 1, 90.0, 1500.0, 16),  # 16 epochs of 90 s fit in 25 min with half an epoch to spare
    (16, 1, 120.0, 1500.0, 12),
    (16, 4, 480.0, 1500.0, 12),
    (10, 2, 10.0, 1000.0, 10),  # never more than planned
    (16, 3, 1600.0, 1500.0, 3),  # already over: end now
])
def test_epochs_within_budget(planned, done, seconds, budget, fit):
    assert epochs_within_budget(planned, done, seconds, budget) == fit


def test_max_minutes_shortens_the_schedule_so_it_still_anneals(reference_run, tiny_dataset, tmp_path):  # noqa: F811
    """A cap that holds about nine of 60 planned epochs: the run ends its one-cycle schedule
    inside the cap instead of being cut off near its peak (epoch 9 of 60 is just past the
    warm-up, at about the full rate). Tiny epochs are noisy, so the plan may shrink once
    more at its end, which leaves the rate a few per cent of the peak."""
    pace = _checkpoint(reference_run)["progress"]["train_seconds"] / EPOCHS
    base = load_config(TINY_CONFIG)
    train_config = dataclasses.replace(base.train, epochs=60, max_minutes=10 * pace / 60)
    out, lines = tmp_path / "run", []
    result = train(dataclasses.replace(base, train=train_config), tiny_dataset, out, device="cpu", log=lines.append)
    report = json.loads((out / "metrics.json").read_text())
    planned = report["epochs_planned"]
    assert 1 < planned < 60
    # On a busy host an epoch can run long enough for the cap's hard stop to end the last one
    # (the wall clock is the thing under test); the schedule has annealed by then either way.
    assert (result.stopped, result.epochs_done) in {("completed", planned), ("max_minutes", planned - 1)}
    assert any("the learning-rate schedule now ends after epoch" in line for line in lines)
    assert report["history"][-1]["lr"] < 0.1 * train_config.learning_rate
    # The schedule was rebuilt for the final plan, or for the one before it when the final
    # shrink came at the end of an epoch the run had no time left after (it then stops at once).
    plans = [int(n) for n in re.findall(r"ends after epoch (\d+)", "\n".join(lines))]
    total, per_epoch = _checkpoint(out)["scheduler"]["total_steps"], report["history"][0]["steps"]
    assert plans[-1] == planned and total % per_epoch == 0 and total // per_epoch in plans[-2:]


def test_a_cap_that_leaves_under_half_the_epochs_fails_loudly(reference_run, tiny_dataset, tmp_path, capsys):  # noqa: F811
    """On a busy host the cap once left 1 epoch of 16 and the run reported success. Now the
    model is still written, but the command fails with one line saying how to go on."""
    pace = _checkpoint(reference_run)["progress"]["train_seconds"] / EPOCHS
    out = tmp_path / "run"
    code = _train("--data", tiny_dataset, "--out", out, "--device", "cpu", "--epochs", "60", "--max-minutes", str(6 * pace / 60))
    captured = capsys.readouterr()
    assert code == 8
    assert "WARNING: 60 epochs do not fit" in captured.out
    (line,) = captured.err.strip().splitlines()
    assert "of the recipe's 60 epochs" in line and "is undertrained" in line and "--max-minutes" in line
    assert (out / "model.npz").exists()


def test_weight_average_is_what_is_saved_and_resumes_exactly(tiny_dataset, tmp_path):  # noqa: F811
    """With train.weight_average d the saved model is the moving average: after a first step
    it is that step's weights, after a second (here in a resumed run) d * first + (1 - d) * second."""
    base = load_config(TINY_CONFIG)
    decay = 0.75
    config = dataclasses.replace(base, train=dataclasses.replace(base.train, weight_average=decay))
    out, quiet = tmp_path / "run", (lambda line: None)
    train(config, tiny_dataset, out, device="cpu", max_steps=1, log=quiet)
    first = _checkpoint(out)["model"]
    _assert_same_tensors(load_model(out / "model.npz").model.state_dict(), first)

    train(config, tiny_dataset, out, resume=True, device="cpu", max_steps=2, log=quiet)
    second = _checkpoint(out)["model"]
    saved = load_model(out / "model.npz").model.state_dict()
    moved = [k for k in first if first[k].is_floating_point() and not torch.equal(first[k], second[k])]
    assert moved, "the second step changed no weight"
    for key in moved:
        torch.testing.assert_close(saved[key], decay * first[key] + (1 - decay) * second[key])


def test_a_window_head_without_grus_learns_and_loads(tiny_dataset, tmp_path):  # noqa: F811
    """`model.gru_layers: 0`: the head reads the convolution's window alone, no state to carry."""
    base = load_config(TINY_CONFIG)
    config = dataclasses.replace(base, model=dataclasses.replace(base.model, gru_layers=0))
    out = tmp_path / "window"
    train(config, tiny_dataset, out, device="cpu", log=lambda line: None)
    history = _history(out)
    assert history[-1]["train_loss"] < 0.9 * history[0]["train_loss"]
    loaded = load_model(out / "model.npz")
    assert loaded.config.model.gru_layers == 0
    assert not any(name.startswith("grus.") for name in loaded.model.state_dict())


def test_two_process_ddp_ranks_end_with_identical_weights(tiny_dataset, tmp_path):  # noqa: F811
    out = tmp_path / "ddp"
    argv = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
            "-m", "wakeword.cli", "train", "--config", str(TINY_CONFIG), "--data", str(tiny_dataset),
            "--out", str(out), "--device", "cpu", "--max-steps", "4"]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.count("epoch 1/") == 1, "only rank 0 reports"

    checkpoint = _checkpoint(out)
    assert checkpoint["world_size"] == 2
    # 48 examples, half per rank, batches of 8: 3 steps per epoch, so epoch 1 ended and was validated.
    assert (checkpoint["progress"]["epoch"], checkpoint["progress"]["batch"], checkpoint["progress"]["step"]) == (1, 1, 4)
    digests = [rank["digest"] for rank in checkpoint["ranks"]]
    assert len(digests) == 2 and digests[0] == digests[1]
    assert not torch.equal(checkpoint["ranks"][0]["generator"], checkpoint["ranks"][1]["generator"]), "ranks draw their own augmentation"


def test_run_folder_rules(tiny_dataset, tmp_path):  # noqa: F811
    config = load_config(TINY_CONFIG)
    with pytest.raises(ConfigError, match="nothing to resume"):
        train(config, tiny_dataset, tmp_path / "new", resume=True, device="cpu")
    other = dataclasses.replace(config, features=dataclasses.replace(config.features, n_mels=32))
    with pytest.raises(ConfigError, match="features differ"):
        train(other, tiny_dataset, tmp_path / "x", device="cpu")


def test_init_starts_from_a_models_weights(reference_run, tiny_dataset, tmp_path):  # noqa: F811
    """One step from the reference model stays near it; one step from random weights does not."""
    reference = load_model(reference_run / "model.npz").model.state_dict()

    def distance(run: Path) -> float:
        state = load_model(run / "model.npz").model.state_dict()
        return sum(float((state[k].float() - reference[k].float()).norm()) for k in reference if reference[k].is_floating_point())

    assert _train("--data", tiny_dataset, "--out", tmp_path / "init", "--init", reference_run / "model.npz", "--max-steps", "1") == 0
    assert _train("--data", tiny_dataset, "--out", tmp_path / "fresh", "--max-steps", "1") == 0
    assert distance(tmp_path / "init") < 0.1 * distance(tmp_path / "fresh")


def test_init_from_a_model_of_other_sizes_is_refused(reference_run, tiny_dataset, tmp_path):  # noqa: F811
    config = load_config(TINY_CONFIG)
    other = dataclasses.replace(config, model=dataclasses.replace(config.model, gru_hidden=config.model.gru_hidden * 2))
    with pytest.raises(ConfigError, match="other features or model sizes"):
        train(other, tiny_dataset, tmp_path / "run", device="cpu", init=reference_run / "model.npz")
    assert not (tmp_path / "run").exists()


def _write_manifest(folder: Path, manifest: dict) -> Path:
    folder.mkdir()
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


@pytest.mark.parametrize("case", ["missing", "no_manifest", "other_format", "other_version", "config_typo", "no_cuda"])
def test_bad_input_is_one_line(case, tiny_dataset, tmp_path, capsys):  # noqa: F811
    data, config, extra = tmp_path / "missing", TINY_CONFIG, []
    if case == "no_manifest":
        data = tmp_path / "empty"
        data.mkdir()
    elif case == "other_format":
        data = _write_manifest(tmp_path / "other", {"format": "something-else", "version": 1})
    elif case == "other_version":
        manifest = json.loads((tiny_dataset / "manifest.json").read_text())
        data = _write_manifest(tmp_path / "v2", {**manifest, "version": 2})
    elif case == "config_typo":
        data, config = tiny_dataset, tmp_path / "typo.yaml"
        config.write_text(TINY_CONFIG.read_text().replace("batch_size:", "batch_sise:"))
    elif case == "no_cuda":
        if torch.cuda.is_available():
            pytest.skip("a GPU is visible")
        data, extra = tiny_dataset, ["--device", "cuda"]
    code = main(["train", "--config", str(config), "--data", str(data), "--out", str(tmp_path / "run"), *extra])
    assert code not in (0, 1)
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("wakeword: error: "), lines
    expected = {"missing": "dataset folder not found", "no_manifest": "no manifest.json", "other_format": "not a wakeword dataset",
                "other_version": "dataset version 2", "config_typo": "unknown key(s) batch_sise", "no_cuda": "no CUDA GPU"}[case]
    assert expected in lines[0]
    assert not (tmp_path / "run").exists()


def test_bad_data_from_the_command_line_has_no_traceback(tmp_path):
    argv = [sys.executable, "-m", "wakeword.cli", "train", "--config", str(TINY_CONFIG), "--data", str(tmp_path / "nope"), "--out", str(tmp_path / "run")]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 7  # DataError
    assert proc.stderr.strip().splitlines() == [f"wakeword: error: dataset folder not found: {tmp_path / 'nope'} (make one with `synth generate`)"]


def test_vocal_tract_warp_moves_formants_and_keeps_time():
    config = load_config(TINY_CONFIG).features
    centers = band_centers_hz(config)
    features = torch.zeros(1, 5, config.n_mels)
    features[0, 2, 20] = 1.0  # one formant, in one frame
    generator = torch.Generator().manual_seed(0)
    assert torch.equal(vocal_tract_warp(features, centers, (1.0, 1.0), generator), features)
    warped = vocal_tract_warp(features, centers, (1.2, 1.2), generator)
    peak = int(warped[0, 2].argmax())
    assert centers[peak - 1] <= 1.2 * centers[20] <= centers[peak + 1]  # within a band of 1.2x
    assert warped[0, [0, 1, 3, 4]].abs().max() == 0  # frames (time, pitch contour) untouched
    lowered = vocal_tract_warp(features, centers, (0.8, 0.8), generator)
    assert centers[int(lowered[0, 2].argmax())] < centers[20]


def test_focal_loss_spares_steps_already_right_and_keeps_the_wrong_ones():
    logits = torch.tensor([[6.0, -6.0, 0.0, -6.0]])
    labels = torch.tensor([[1.0, 0.0, 1.0, 1.0]])
    plain = step_loss(logits, labels, TrainConfig())
    expected = torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor(5.0), reduction="none")(logits, labels)
    assert torch.equal(plain, expected)
    focal = step_loss(logits, labels, TrainConfig(focal_gamma=2.0))
    assert (focal[0, :2] < 1e-4 * plain[0, :2]).all()  # confident and right: all but gone
    assert torch.allclose(focal[0, 2], plain[0, 2] / 4)  # undecided: (1 - 0.5)^2
    assert focal[0, 3] > 0.99 * plain[0, 3]  # confident and wrong: kept


@pytest.mark.parametrize(("setting", "message"), [
    ("focal_gamma: -1", r"train.focal_gamma must be >= 0"),
    ("vocal_tract_warp: [1.1, 1.3]", r"train.vocal_tract_warp must be \[low, high\]"),
    ("weight_average: 1.0", r"train.weight_average must be in \[0, 1\)"),
    ("keep_epoch: first", r"train.keep_epoch must be 'best' or 'last', not 'first'"),
])
def test_train_settings_are_validated(setting, message, tmp_path):
    text = TINY_CONFIG.read_text().replace("num_threads: 1", f"num_threads: 1\n  {setting}")
    (tmp_path / "bad.yaml").write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_config(tmp_path / "bad.yaml")
