"""Hard-negative mining: `synth mine` and drawing its clips in `synth generate --hard-negatives`."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from detect_fixtures import energy_model
from synth.cli import main as synth_main
from synth.clips import load_clips, read_metadata
from synth.dataset import generate, load_inputs
from synth.mining import clip_scores, hard_negatives
from synth.tts import voice_matches
from synth_fixtures import HELDOUT, RATE, clip_folders, tiny_config  # noqa: F401  (fixture)
from wakeword.dataset import load_dataset
from wakeword.modelfile import load_model

QUIET_ROOM = dict(snr_db=(40.0, 40.0), level_spread_db=0.0, speech_dbfs=(-20.0, -20.0), reverb_prob=0.0, eq_prob=0.0,
                  clipping_prob=0.0, speed=(1.0, 1.0), pitch_semitones=(0.0, 0.0))


@pytest.fixture(scope="module")
def energy(tmp_path_factory):
    """A model whose score follows loudness, and a recipe with its features and a quiet room."""
    path = energy_model(tmp_path_factory.mktemp("energy") / "energy.npz")
    model = load_model(path)
    config = dataclasses.replace(model.config, synth=dataclasses.replace(tiny_config().synth, **QUIET_ROOM))
    config_path = tmp_path_factory.mktemp("recipe") / "energy.yaml"
    config_path.write_text(yaml.safe_dump(config.to_dict()))
    return path, model, config, config_path


def test_each_clip_is_scored_in_its_own_window(clip_folders, energy):
    """Speech scores above silence under the energy model, even right after it: no score leaks to a neighbour."""
    _, model, config, _ = energy
    speech = load_clips(clip_folders["negatives"], RATE).clips[:3]
    silence = [dataclasses.replace(c, audio=np.zeros(RATE // 2, dtype=np.float32)) for c in speech]  # set_level leaves it silent
    clips = [x for pair in zip(speech, silence) for x in pair]
    scores = clip_scores(model, clips, config)
    assert scores.shape == (6,) and np.all((scores >= 0) & (scores <= 1))
    assert scores[[0, 2, 4]].min() > scores[[1, 3, 5]].max()
    assert np.array_equal(scores, clip_scores(model, clips, config))  # seeded by the recipe
    assert np.all(clip_scores(model, clips, config, rounds=2) >= scores)  # the best of two hearings


def test_hard_negatives_are_the_clips_at_or_above_the_score_hardest_first(clip_folders):
    clips = load_clips(clip_folders["negatives"], RATE).clips[:5]
    mined = hard_negatives(clips, np.array([0.2, 0.9, 0.5, 0.95, 0.49], dtype=np.float32), 0.5)
    assert [m.clip for m in mined] == [clips[3], clips[1], clips[2]]
    assert [round(m.score, 2) for m in mined] == [0.95, 0.9, 0.5]


@pytest.fixture(scope="module")
def mined(clip_folders, energy, tmp_path_factory) -> Path:
    path, _, _, config_path = energy
    out = tmp_path_factory.mktemp("mined") / "hard"
    assert synth_main(["mine", "--config", str(config_path), "--model", str(path), "--negatives", str(clip_folders["negatives"]),
                       "--out", str(out), "--min-score", "0.01", "--quiet"]) == 0
    return out


def test_mine_writes_a_clip_folder_of_the_hardest_training_voices(clip_folders, mined):
    entries = list(read_metadata(mined).values())
    scores = [e["score"] for e in entries]
    assert entries and scores == sorted(scores, reverse=True) and min(scores) >= 0.01
    assert not any(voice_matches(f"{e['engine']}:{e['voice']}", HELDOUT) for e in entries)
    source = read_metadata(clip_folders["negatives"])
    for e in entries:
        assert (mined / e["file"]).read_bytes() == (clip_folders["negatives"] / e["file"]).read_bytes()
        assert {k: e[k] for k in ("engine", "voice", "text", "kind")} == {k: source[e["file"]][k] for k in ("engine", "voice", "text", "kind")}
    assert not (mined.parent / "hard.partial").exists()


def test_generate_refuses_hard_negatives_it_would_never_draw(clip_folders, mined, tmp_path, capsys):
    config = tmp_path / "zero.yaml"
    config.write_text(yaml.safe_dump(tiny_config(hard_negative_share=0.0).to_dict()))
    code = synth_main(["generate", "--config", str(config), "--positives", str(clip_folders["positives"]), "--negatives",
                       str(clip_folders["negatives"]), "--hard-negatives", str(mined), "--out", str(tmp_path / "data")])
    assert code == 2 and "hard_negative_share" in capsys.readouterr().err
    assert not (tmp_path / "data").exists()


def test_mine_keeps_only_the_kinds_asked_for(clip_folders, energy, tmp_path):
    path, _, _, config_path = energy
    out = tmp_path / "speech"
    assert synth_main(["mine", "--config", str(config_path), "--model", str(path), "--negatives", str(clip_folders["negatives"]),
                       "--out", str(out), "--min-score", "0.01", "--kinds", "speech", "--quiet"]) == 0
    kinds = {e["kind"] for e in read_metadata(out).values()}
    assert kinds == {"speech"}


def test_mine_rejects_bad_arguments_in_one_line(clip_folders, energy, tmp_path, capsys):
    path, _, _, config_path = energy
    base = ["mine", "--config", str(config_path), "--model", str(path), "--out", str(tmp_path / "out")]
    assert synth_main([*base, "--negatives", str(tmp_path / "missing")]) == 7  # DataError
    assert synth_main([*base, "--negatives", str(clip_folders["negatives"]), "--min-score", "1.5"]) == 2
    assert synth_main([*base, "--negatives", str(clip_folders["negatives"]), "--kinds", "positive"]) == 2
    other = tmp_path / "other.yaml"
    other.write_text(config_path.read_text().replace("phrase: activate", "phrase: hey jarvis"))
    assert synth_main([*base[:2], str(other), *base[3:], "--negatives", str(clip_folders["negatives"])]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line]
    assert len(errors) == 4 and "clip folder not found" in errors[0] and "--min-score" in errors[1] and "--kinds" in errors[2]
    assert "another phrase" in errors[3]
    assert not (tmp_path / "out").exists()


def _negative_sources(data: Path) -> list[str]:
    manifest = json.loads((data / "manifest.json").read_text())
    return [c["source"] for e in manifest["examples"] for c in e["clips"] if c["kind"] != "positive"]


def test_generate_draws_the_share_of_negatives_from_the_mined_folder(clip_folders, mined, tmp_path):
    plain = load_inputs(RATE, [clip_folders["positives"]], [clip_folders["negatives"]])
    with_hard = load_inputs(RATE, [clip_folders["positives"]], [clip_folders["negatives"]], hard_negatives=mined)
    hard_sources = set(read_metadata(mined))
    assert len(hard_sources) < len(plain.negatives)

    all_hard = generate(tiny_config(hard_negative_share=1.0, max_negatives=4), with_hard, tmp_path / "all", progress=False)
    assert all_hard.manifest_written
    drawn = _negative_sources(tmp_path / "all")
    assert drawn and set(drawn) <= hard_sources

    # Without the folder, or with share 0, nothing more is drawn from the rng: older recipes make the same examples.
    generate(tiny_config(), plain, tmp_path / "plain", progress=False)
    generate(tiny_config(hard_negative_share=0.0), with_hard, tmp_path / "zero", progress=False)
    for split in ("train", "val"):
        a, b = load_dataset(tmp_path / "plain").splits[split], load_dataset(tmp_path / "zero").splits[split]
        assert np.array_equal(a.features, b.features) and np.array_equal(a.labels, b.labels)
