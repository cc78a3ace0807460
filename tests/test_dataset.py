"""`synth generate`: the dataset format, reproducibility, slices, resume and the voice split."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from wakeword.audio import write_wav
from wakeword.dataset import load_dataset, split_truth
from wakeword.errors import DataError
from synth.dataset import generate, load_inputs, plan_shards
from synth_fixtures import HELDOUT, RATE, clip_folders, tiny_config  # noqa: F401  (fixture)

BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def inputs(clip_folders):
    return load_inputs(RATE, [clip_folders["positives"]], [clip_folders["negatives"]])


def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def reference(inputs, tmp_path_factory) -> Path:
    """One single-process run of the tiny config: 9 train examples in 3 shards, 3 val in 1."""
    out = tmp_path_factory.mktemp("ref") / "data"
    summary = generate(tiny_config(), inputs, out, workers=1, progress=False)
    assert summary.manifest_written and summary.examples == {"train": 9, "val": 3}
    return out


def test_dataset_loads_and_matches_its_manifest(reference):
    data = load_dataset(reference)
    config = tiny_config()
    assert data.config == config
    train, val = data.splits["train"], data.splits["val"]
    assert len(train) == 9 and len(val) == 3
    assert train.features.dtype == np.float16 and train.labels.dtype == np.uint8
    assert train.features.shape[2] == config.features.n_mels
    manifest = json.loads((reference / "manifest.json").read_text())
    assert manifest["seed"] == config.seed and [e["id"] for e in manifest["examples"]] == list(range(12))
    assert [s["file"] for s in manifest["shards"]] == [f"shards/train-0000{i}.npz" for i in range(3)] + ["shards/val-00000.npz"]
    # Every labelled example holds a positive, and every recorded positive has labels after it.
    for split in (train, val):
        has_positive = [any(c["kind"] == "positive" for c in e["clips"]) for e in split.examples]
        assert [bool(row.any()) for row in split.labels] == has_positive
    truth = split_truth(train, config.synth.clip_s)
    assert len(truth.positives) == manifest["splits"]["train"]["positive_clips"]
    kinds = {c["kind"] for e in manifest["examples"] for c in e["clips"]}
    assert kinds <= {"positive", "confusable", "speech"} and "positive" in kinds


def test_voices_are_split_whole_and_heldout_voices_are_in_no_split(reference, inputs):
    manifest = json.loads((reference / "manifest.json").read_text())
    voices = manifest["voices"]
    assert set(voices["train"]).isdisjoint(voices["val"])
    assert voices["heldout"] == ["espeak-ng:en-gb-scotland", "espeak-ng:en-gb-scotland+f2"]
    assert not set(voices["heldout"]) & (set(voices["train"]) | set(voices["val"]))
    assert len(voices["train"]) + len(voices["val"]) + len(voices["heldout"]) == len({c.voice_id for c in inputs.positives})
    for example in manifest["examples"]:
        for clip in example["clips"]:
            assert f"{clip['engine']}:{clip['voice']}" in voices[example["split"]]


def test_same_seed_gives_identical_bytes_for_any_worker_count(reference, inputs, tmp_path):
    generate(tiny_config(), inputs, tmp_path / "data", workers=2, progress=False)
    assert _files(tmp_path / "data") == _files(reference)


def test_slices_together_equal_a_single_run(reference, inputs, tmp_path):
    out = tmp_path / "data"
    for index in (1, 2):
        summary = generate(tiny_config(), inputs, out, index, 3, workers=1, progress=False)
        assert not summary.manifest_written and not (out / "manifest.json").exists()
    assert sorted(p.name for p in (out / "shards").iterdir()) == ["train-00000.npz", "train-00001.npz", "val-00000.npz"]
    assert generate(tiny_config(), inputs, out, 3, 3, workers=1, progress=False).manifest_written
    assert _files(out) == _files(reference)


def test_resume_makes_only_the_missing_shard(reference, inputs, tmp_path):
    out = tmp_path / "data"
    generate(tiny_config(), inputs, out, workers=1, progress=False)
    (out / "shards" / "train-00001.npz").unlink()
    (out / "manifest.json").unlink()
    before = {p.name: p.stat().st_mtime_ns for p in (out / "shards").iterdir()}
    generate(tiny_config(), inputs, out, workers=1, progress=False)
    after = {p.name: p.stat().st_mtime_ns for p in (out / "shards").iterdir()}
    assert {k: v for k, v in after.items() if k != "train-00001.npz"} == before
    assert _files(out) == _files(reference)


def test_generating_a_finished_dataset_again_changes_no_byte(reference, inputs, tmp_path):
    """Training checks the manifest's hash; a rerun (a bench resuming) must not rewrite it."""
    out = tmp_path / "data"
    generate(tiny_config(), inputs, out, workers=1, progress=False)
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in out.rglob("*") if p.is_file()}
    summary = generate(tiny_config(), inputs, out, workers=1, progress=False)
    assert summary.manifest_written and summary.examples == {"train": 9, "val": 3}
    assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in out.rglob("*") if p.is_file()} == before


def test_a_folder_from_another_recipe_is_refused(reference, inputs, tmp_path):
    out = tmp_path / "data"
    generate(tiny_config(), inputs, out, 1, 4, workers=1, progress=False)
    other = dataclasses.replace(tiny_config(), seed=99)
    with pytest.raises(DataError, match="another config, seed or clips"):
        generate(other, inputs, out, workers=1, progress=False)


def test_too_few_voices_for_a_validation_split(inputs):
    config = tiny_config(heldout_voices=("espeak-ng:en-[!u]*", *HELDOUT))
    with pytest.raises(DataError, match="at least 2 voices"):
        generate(config, dataclasses.replace(inputs, positives=[c for c in inputs.positives if c.voice == "en-us"]), "unused")


def test_plan_puts_val_after_train_in_shards_of_the_configured_size():
    shards = plan_shards(10, 0.25, 4)
    assert [(s.split, s.first_id, s.count) for s in shards] == [("train", 0, 4), ("train", 4, 4), ("val", 8, 2)]


def test_cli_generates_with_background_recordings_and_reports_skipped_files(clip_folders, tmp_path):
    rooms = tmp_path / "rooms"
    write_wav(rooms / "fan.wav", 0.05 * np.random.default_rng(0).standard_normal(2 * RATE).astype(np.float32), RATE)
    write_wav(rooms / "silence.wav", np.zeros(RATE, dtype=np.float32), RATE)
    (rooms / "junk.mp3").write_bytes(b"\x00" * 100)
    config = tmp_path / "tiny.yaml"
    config.write_text(
        "features: {n_mels: 24}\nmodel: {conv_channels: 16, conv_kernel: 9, conv_stride: 3, gru_hidden: 16}\n"
        "synth: {clip_s: 3.0, n_examples: 8, shard_size: 4, val_fraction: 0.25, recorded_background_share: 1.0}\n"
    )
    out = tmp_path / "data"
    argv = [str(BIN / "synth"), "generate", "--config", str(config), "--positives", str(clip_folders["positives"]),
            "--negatives", str(clip_folders["negatives"]), "--backgrounds", str(rooms), "--out", str(out), "--workers", "2"]
    proc = subprocess.run(argv, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "silence.wav is silent" in proc.stderr and "junk.mp3" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert "8 examples (train 6, val 2)" in proc.stdout and "skipped 2 files" in proc.stdout
    manifest = json.loads((out / "manifest.json").read_text())
    assert {e["background"]["file"] for e in manifest["examples"]} == {"fan.wav"}
    assert manifest["inputs"]["skipped"] and len(load_dataset(out).splits["val"]) == 2

    bad = subprocess.run([*argv[:-2], "--shard", "5/4"], capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "--shard '5/4' is not I/N" in bad.stderr
