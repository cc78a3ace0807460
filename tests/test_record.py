"""A person's own takes: what is asked, which takes are kept, and `synth record` on a
virtual microphone, answered by a real espeak-ng voice."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pulse import Child, pulse, pulse_up  # noqa: F401 (fixtures)
from synth.clips import load_clips, read_metadata, write_metadata
from synth.dataset import load_inputs, split_voices
from synth.phrases import CONFUSABLE, POSITIVE, SPEECH, contains_phrase
from synth.takes import PAD_S, judge_take, prompts
from synth_fixtures import HELDOUT, RATE, VOICES, clip_folders, speak  # noqa: F401 (fixtures)
from wakeword.audio import dbfs, resample, write_wav
from wakeword.config import load_config
from wakeword.model import WakewordModel, save_model
from wakeword.modelfile import load_model

ROOT = Path(__file__).resolve().parents[1]
SYNTH = Path(sys.executable).parent / "synth"


def _room(seconds: float, dbfs: float = -65.0, seed: int = 0) -> np.ndarray:
    noise = np.random.default_rng(seed).standard_normal(int(seconds * RATE)).astype(np.float32)
    return noise * 10 ** (dbfs / 20)


def _with_speech(window_s: float, at_s: float, speech: np.ndarray) -> np.ndarray:
    audio = _room(window_s)
    start = int(at_s * RATE)
    piece = speech[: len(audio) - start]
    audio[start : start + len(piece)] += piece
    return audio


def test_prompts_repeat_the_phrase_or_lead_with_sound_alikes_and_never_say_it():
    assert [(u.text, u.kind) for u in prompts("activate", 3, negatives=False)] == [("activate", POSITIVE)] * 3
    asked = prompts("activate", 12, negatives=True)
    assert len(asked) == 12 and asked[0].kind == CONFUSABLE and {u.kind for u in asked} == {CONFUSABLE, SPEECH}
    assert not any(contains_phrase(u.text, "activate") for u in asked)
    assert asked == prompts("activate", 12, negatives=True)  # resuming asks for the same words


def test_a_take_is_trimmed_to_its_speech_with_padding_and_a_click_at_the_start_is_ignored():
    speech = 0.3 * speak("activate", "en-us")
    window = _with_speech(3.0, 0.8, speech)
    window[:40] = 0.9  # the click some devices make as they start
    take = judge_take(window, RATE)
    assert take.problem == "" and take.audio is not None
    assert abs(len(take.audio) - (len(speech) + 2 * PAD_S * RATE)) < 0.06 * RATE
    assert abs(take.speech_dbfs - dbfs(speech)) < 3  # the speech's level, not the window's



@pytest.mark.parametrize("make, problem", [
    (lambda: _room(3.0), "heard nothing"),
    (lambda: _with_speech(3.0, 0.8, 2.0 * speak("activate", "en-us")), "clipped"),
    (lambda: _with_speech(3.0, 2.7, 0.3 * speak("activate", "en-us")), "edge of the 3 s window"),
    (lambda: _with_speech(3.0, 0.12, 0.3 * speak("activate", "en-us")), "edge of the 3 s window"),
    (lambda: _with_speech(3.0, 1.0, 0.3 * np.ones(int(0.05 * RATE), dtype=np.float32)), "only 50 ms"),
    (lambda: np.zeros(0, dtype=np.float32), "nothing was recorded"),
])
def test_unusable_takes_are_refused_with_what_to_do(make, problem):
    take = judge_take(make(), RATE)
    assert take.audio is None and problem in take.problem


def _takes(folder: Path, speaker: str, kind: str, texts: list[str]) -> None:
    """Takes as `synth record` leaves them."""
    entries = {}
    for i, text in enumerate(texts, 1):
        name = f"{speaker}-{'pos' if kind == 'positive' else 'neg'}-{i:03d}.wav"
        write_wav(folder / name, 0.3 * speak(text, "en-us+f4", 130 + 20 * i), RATE)
        entries[name] = {"file": name, "engine": "takes", "voice": speaker, "text": text, "kind": kind}
    write_metadata(folder, {**read_metadata(folder), **entries})


def test_takes_in_a_second_positive_folder_always_train_and_leave_the_other_split_alone(clip_folders, tmp_path):
    _takes(tmp_path / "takes", "anna", "positive", ["activate"] * 3)
    synthetic = load_inputs(RATE, [clip_folders["positives"]], [clip_folders["negatives"]])
    both = load_inputs(RATE, [clip_folders["positives"], tmp_path / "takes"], [clip_folders["negatives"]])
    described = lambda clips: [(c.voice_id, c.kind, c.source) for c in clips]  # noqa: E731
    added = [("takes:anna", "positive", f"anna-pos-00{i}.wav") for i in (1, 2, 3)]
    assert described(both.positives) == described(synthetic.positives) + added
    assert described(both.negatives) == described(synthetic.negatives)
    # A fine-tune on them validates on the voices its base validated on.
    before, after = split_voices(synthetic, 0.25, HELDOUT, seed=3), split_voices(both, 0.25, HELDOUT, seed=3)
    assert after == {**before, "train": sorted([*before["train"], "takes:anna"])}


def test_other_recordings_of_any_rate_split_like_any_voice(clip_folders, tmp_path):
    mine = tmp_path / "downloaded"
    for i, speaker in enumerate(["carl", "dora", "emil", "fay"]):  # no metadata, another rate, a folder per speaker
        write_wav(mine / speaker / "a.wav", resample(0.3 * speak("activate", VOICES[i], 130 + 20 * i), RATE, 22050), 22050)
    inputs = load_inputs(RATE, [clip_folders["positives"], mine], [clip_folders["negatives"]])
    recorded = {c.voice_id for c in inputs.positives if c.engine == "user"}
    assert recorded == {"user:carl", "user:dora", "user:emil", "user:fay"}
    split = split_voices(inputs, 0.5, HELDOUT, seed=3)
    assert recorded & set(split["val"]) and recorded & set(split["train"])


def _answer(recorder: Child, pulse_server, wav: Path | None, after: int) -> int:
    """Wait for the next prompt, then say `wav` into the microphone (or stay silent)."""
    index = recorder.wait_for(r'^take \d+/\d+: say "', after=after)
    if wav is not None:
        pulse_server.play(wav)
    return index + 1


@pytest.fixture(scope="module")
def said(tmp_path_factory) -> Path:
    """The phrase as the microphone will hear it, 0.3 s after the prompt."""
    wav = tmp_path_factory.mktemp("said") / "said.wav"
    write_wav(wav, np.concatenate([np.zeros(int(0.3 * RATE), np.float32), 0.3 * speak("activate", "en-us+m3")]), RATE)
    return wav


def test_record_keeps_good_takes_asks_again_after_a_bad_one_and_resumes(pulse_up, said, tmp_path):
    out = tmp_path / "me"
    argv = [str(SYNTH), "record", "activate", "--out", str(out), "--count", "2", "--speaker", "tester", "--seconds", "2.5"]
    recorder = Child(argv, pulse_up.env)
    try:
        after = _answer(recorder, pulse_up, None, 0)  # silence: refused, the same take asked again
        refused = recorder.wait_for(r"not kept: heard nothing", after=after)
        after = _answer(recorder, pulse_up, said, refused)
        after = _answer(recorder, pulse_up, said, after)
        recorder.wait_for(r"2 takes added, 2 of tester", stream="stdout")
        assert recorder.process.wait(30) == 0, recorder.log()
    finally:
        recorder.kill()
    log = recorder.log()
    assert "take 1/2" in log and "take 2/2" in log and "Traceback" not in log

    entries = [json.loads(line) for line in (out / "metadata.jsonl").read_text().splitlines()]
    assert [(e["file"], e["engine"], e["voice"], e["text"], e["kind"]) for e in entries] == [
        (f"tester-pos-00{i}.wav", "takes", "tester", "activate", "positive") for i in (1, 2)]
    clips = load_clips(out, RATE, default_kind="positive").clips
    assert [c.voice_id for c in clips] == ["takes:tester"] * 2
    spoken = len(speak("activate", "en-us+m3")) / RATE
    for clip in clips:  # the speech and its padding, not the 2.5 s window
        assert spoken < len(clip.audio) / RATE < spoken + 2 * PAD_S + 0.3

    again = Child(argv, pulse_up.env)
    again.wait_for(r"already holds 2 takes of tester: nothing to do", stream="stdout")
    assert again.process.wait(30) == 0


def test_a_microphone_that_vanishes_mid_take_ends_with_one_line_and_keeps_the_takes(pulse_up, said, tmp_path):
    out = tmp_path / "me"
    recorder = Child([str(SYNTH), "record", "activate", "--out", str(out), "--count", "3", "--seconds", "2.5"], pulse_up.env)
    try:
        _answer(recorder, pulse_up, said, 0)
        recorder.wait_for(r"^take 2/3")
        pulse_up.kill()
        assert recorder.process.wait(30) == 5
    finally:
        recorder.kill()
        pulse_up.start()
    errors = [line for line in recorder.lines["stderr"] if "error" in line]
    assert len(errors) == 1 and "synth: error: input device" in errors[0] and "Traceback" not in recorder.log()
    assert len(load_clips(out, RATE).clips) == 1


def test_enrol_fine_tunes_on_the_takes_and_a_second_speaker_replaces_the_model(clip_folders, tmp_path):
    """scripts/enrol.sh end to end on a tiny recipe: its recording steps find the takes there."""
    config = tmp_path / "tiny.yaml"
    config.write_text((ROOT / "configs" / "tiny.yaml").read_text().replace("n_examples: 64", "n_examples: 16")
                      .replace("shard_size: 32", "shard_size: 8"))
    base = tmp_path / "base.npz"
    loaded = load_config(config)
    save_model(base, WakewordModel(loaded.features.n_mels, loaded.model), loaded, threshold=0.5)
    build = tmp_path / "enrol"
    env = {**os.environ, "CONFIG": str(config), "BASE": str(base), "CLIPS": str(clip_folders["positives"].parent),
           "TAKES": "2", "EPOCHS": "1", "SPEAKER": "anna"}

    def enrol() -> subprocess.CompletedProcess:
        return subprocess.run([str(ROOT / "scripts" / "enrol.sh"), str(build)], env=env, capture_output=True, text=True, timeout=300)

    _takes(build / "takes", "anna", "positive", ["activate"] * 2)
    _takes(build / "takes-negatives", "anna", "confusable", ["activity", "captivate"])
    first = enrol()
    assert first.returncode == 0, first.stderr[-3000:]
    assert "already holds 2 takes of anna: nothing to do" in first.stdout
    model = load_model(build / "model.npz")
    assert model.metadata["metrics"]["epochs_trained"] == 1
    (data,) = build.glob("data-*")
    assert "takes:anna" in json.loads((data / "manifest.json").read_text())["voices"]["train"]

    env["SPEAKER"] = "bob"
    _takes(build / "takes", "bob", "positive", ["activate"] * 2)
    _takes(build / "takes-negatives", "bob", "speech", ["weather", "music"])
    second = enrol()
    assert second.returncode == 0, second.stderr[-3000:]
    (newer,) = build.glob("data-*")  # the first dataset is gone, the second made from all four takes
    assert newer != data and len(list(build.glob("run-*"))) == 1
    assert {"takes:anna", "takes:bob"} <= set(json.loads((newer / "manifest.json").read_text())["voices"]["train"])
    assert f"listen --model {build}/model.npz" in second.stderr
