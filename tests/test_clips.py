"""Clip folders: `synth speak` writes them, `load_clips` reads them (and users' recordings)."""

from __future__ import annotations

import io
import json
import os
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from synth.clips import load_clips, read_metadata
from synth.commands import speak
from synth.phrases import CONFUSABLE, SPEECH, contains_phrase
from synth.tts import ENGINES, Voice, available_voices
from wakeword.cli import build_parser, run_cli
from wakeword.errors import DataError

RATE = 16000


def _speak(*argv: str) -> tuple[int, str]:
    """`synth speak ...` through the real CLI plumbing, in this process."""
    parser = build_parser(prog="synth", package="synth.commands", names=("speak",))
    out = io.StringIO()
    with redirect_stdout(out):
        code = run_cli(parser, ["speak", *argv])
    return code, out.getvalue()


def _tone(seconds: float, rate: int, freq: float = 440.0, amp: float = 0.5) -> np.ndarray:
    return (amp * np.sin(2 * np.pi * freq * np.arange(int(seconds * rate)) / rate)).astype(np.float32)


def test_speak_writes_clips_with_metadata_and_resumes(tmp_path, capsys):
    out = tmp_path / "pos"
    n = len(ENGINES)  # one rendition per engine: the plan spreads evenly over engines
    code, printed = _speak("activate", "--out", str(out), "--count", str(n), "--jobs", "2")
    assert code == 0 and f"{n} clips rendered" in printed
    wavs = sorted(p.name for p in out.glob("*.wav"))
    metadata = read_metadata(out)
    assert len(wavs) == n and sorted(metadata) == wavs
    for name, entry in metadata.items():
        assert entry["engine"] in ENGINES and entry["voice"]
        assert entry["kind"] == "positive" and entry["text"].rstrip("!?,.") == "activate"
        assert {"rate", "pitch", "word_gap"} <= set(entry)
        info = sf.info(out / name)
        assert info.samplerate == RATE and info.channels == 1
    assert {e["engine"] for e in metadata.values()} == set(ENGINES)

    mtimes = {p.name: p.stat().st_mtime_ns for p in out.glob("*.wav")}
    code, printed = _speak("activate", "--out", str(out), "--count", str(n))
    assert code == 0 and f"0 clips rendered, {n} already there" in printed
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("*.wav")} == mtimes
    assert "warning" not in capsys.readouterr().err

    # Another plan into the same folder: the clips it does not make stay, and it says so.
    code, _ = _speak("activate", "--out", str(out), "--count", str(n - 1))
    assert code == 0 and "already holds 1 clips of these voices that this plan does not make" in capsys.readouterr().err
    assert len(read_metadata(out)) == n

    # A killed run: one clip lost, half a metadata line left behind. Only that clip is redone.
    lost = wavs[0]
    (out / lost).unlink()
    with (out / "metadata.jsonl").open("a") as f:
        f.write('{"file": "half')
    code, printed = _speak("activate", "--out", str(out), "--count", str(n))
    assert code == 0 and f"1 clips rendered, {n - 1} already there" in printed
    assert read_metadata(out) == metadata  # strict read: every line whole again

    clips = load_clips(out, RATE)
    assert len(clips.clips) == n and not clips.skipped
    assert {c.voice_id for c in clips.clips} == {f"{e['engine']}:{e['voice']}" for e in metadata.values()}



def test_a_second_engine_joins_a_clip_folder_at_its_own_share(tmp_path, capsys):
    """JAPANESE=8 scripts/speak_clips.sh (make_model.sh) adds Open JTalk's voice on top of the other engines' clips: two plans, one folder."""
    out = tmp_path / "positives"
    assert _speak("activate", "--out", str(out), "--count", "3", "--engines", "flite")[0] == 0
    code, printed = _speak("activate", "--out", str(out), "--count", "2", "--engines", "openjtalk")
    assert code == 0 and "2 clips rendered, 0 already there" in printed
    assert "warning" not in capsys.readouterr().err
    engines = [e["engine"] for e in read_metadata(out).values()]
    assert sorted(engines) == ["flite"] * 3 + ["openjtalk"] * 2
    assert _speak("activate", "--out", str(out), "--count", "3", "--engines", "flite")[1].startswith(f"{out}: 0 clips rendered")
    assert "warning" not in capsys.readouterr().err

def test_speak_negatives_never_say_the_phrase_and_voices_can_be_held_out(tmp_path):
    out = tmp_path / "neg"
    code, _ = _speak("hey jarvis", "--negatives", "--out", str(out), "--count", "8",
                     "--exclude-voices", "festival:*", "--exclude-voices", "flite:slt,espeak-ng:en-us*,kokoro:*")
    assert code == 0
    entries = list(read_metadata(out).values())
    assert len(entries) == 8
    assert {e["kind"] for e in entries} == {"confusable", "speech"}
    assert not [e for e in entries if contains_phrase(e["text"], "hey jarvis")]
    voice_ids = {f"{e['engine']}:{e['voice']}" for e in entries}
    assert not [v for v in voice_ids if v.startswith(("festival:", "flite:slt", "espeak-ng:en-us"))]


def test_speak_errors_are_one_line(tmp_path, capsys):
    code, _ = _speak("activate", "--out", str(tmp_path / "x"), "--voices", "nosuch:*")
    err = capsys.readouterr().err.strip()
    assert code != 0 and err.startswith("synth: error: no voice left") and "\n" not in err


def test_plan_is_distinct_balanced_and_a_larger_count_extends_a_smaller_one():
    voices = available_voices()
    texts = speak.texts_for("activate", negative=False)
    small, large = speak.plan(voices, texts, 30, seed=7), speak.plan(voices, texts, 300, seed=7)
    assert large[:30] == small
    assert len({r.file for r in large}) == 300
    engines = [r.voice.engine for r in large]
    assert min(engines.count(e) for e in ENGINES) >= 300 // len(ENGINES) - 5
    assert speak.plan(voices, texts, 30, seed=8) != small


def test_words_and_sound_alikes_widen_their_own_kind_of_negatives():
    default = speak.texts_for("activate", negative=True)
    wide = speak.texts_for("activate", negative=True, words=3000)
    assert wide[CONFUSABLE] == default[CONFUSABLE]
    assert set(default[SPEECH]) < set(wide[SPEECH]) and len(wide[SPEECH]) > len(default[SPEECH]) + 2000
    near = speak.texts_for("activate", negative=True, sound_alikes=250)
    assert set(default[CONFUSABLE]) < set(near[CONFUSABLE]) and len(near[CONFUSABLE]) > 200
    assert "accident" in near[CONFUSABLE] and "accident" not in near[SPEECH]  # each text is one kind
    assert not [t for t in wide[SPEECH] + near[CONFUSABLE] if contains_phrase(t, "activate")]


def test_plan_stops_when_every_distinct_rendition_is_used():
    # flite:rms has no pitch control and flite ignores punctuation: one text, one per rate.
    plan = speak.plan([Voice("flite", "rms")], speak.texts_for("activate", negative=False), 100, seed=0)
    assert len(plan) == len(speak.RATES)
    assert sorted(r.prosody.rate for r in plan) == sorted(speak.RATES)


@pytest.fixture
def messy_folder(tmp_path):
    folder = tmp_path / "clips"
    (folder / "alice").mkdir(parents=True)
    sf.write(folder / "alice" / "take1.wav", _tone(0.5, 22050), 22050)
    stereo = np.stack([_tone(1.0, 44100), _tone(1.0, 44100, amp=0.1)], axis=1)
    sf.write(folder / "bob.flac", stereo, 44100)
    sf.write(folder / "tts.wav", _tone(0.3, RATE), RATE)
    (folder / "corrupt.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunk" + os.urandom(64))
    (folder / "empty.wav").write_bytes(b"")
    sf.write(folder / "no_frames.wav", np.zeros(0, np.float32), RATE)
    sf.write(folder / "silent.wav", np.full(RATE, 1e-4, np.float32), RATE)  # -80 dBFS
    lines = [{"file": "tts.wav", "engine": "flite", "voice": "slt", "text": "activate", "kind": "positive"},
             {"file": "gone.wav", "engine": "flite", "voice": "awb", "text": "activate"}]
    (folder / "metadata.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    return folder


def test_load_clips_reads_any_format_and_skips_bad_files_by_name(messy_folder, capsys):
    clips = load_clips(messy_folder, RATE, default_kind="positive")
    by_name = {Path(c.source).relative_to(messy_folder).as_posix(): c for c in clips.clips}
    assert sorted(by_name) == ["alice/take1.wav", "bob.flac", "tts.wav"]

    bob = by_name["bob.flac"]
    assert bob.audio.dtype == np.float32 and bob.audio.ndim == 1
    assert abs(len(bob.audio) - RATE) <= 2
    spectrum = np.abs(np.fft.rfft(bob.audio))
    assert abs(np.argmax(spectrum) * RATE / len(bob.audio) - 440) < 2
    assert abs(np.abs(bob.audio[1000:-1000]).max() - 0.3) < 0.02  # mean of the two channels
    assert (bob.engine, bob.voice, bob.kind) == ("user", "bob", "positive")
    assert (by_name["alice/take1.wav"].engine, by_name["alice/take1.wav"].voice) == ("user", "alice")
    tts = by_name["tts.wav"]
    assert (tts.voice_id, tts.text, tts.kind) == ("flite:slt", "activate", "positive")

    skipped = dict(clips.skipped)
    assert set(skipped) == {"corrupt.wav", "empty.wav", "no_frames.wav", "silent.wav", "gone.wav"}
    assert "silent" in skipped["silent.wav"] and "not found" in skipped["gone.wav"]
    assert "empty" in skipped["no_frames.wav"] and "cannot read" in skipped["corrupt.wav"]
    clips.report()
    err = capsys.readouterr().err.splitlines()
    assert len([line for line in err if line.startswith("skipped ")]) == 5
    assert str(messy_folder) not in "".join(err[:-1]), "each line names the file once, relative"
    assert err[-1].endswith("3 clips from 3 voices used, 5 skipped")


def test_load_clips_errors_name_the_folder(tmp_path, messy_folder):
    with pytest.raises(DataError, match="clip folder not found"):
        load_clips(tmp_path / "nowhere", RATE)
    for name in ("alice/take1.wav", "bob.flac", "tts.wav"):
        (messy_folder / name).unlink()
    with pytest.raises(DataError, match=r"no usable clip in .*6 skipped"):
        load_clips(messy_folder, RATE)
    (messy_folder / "metadata.jsonl").write_text("{not json\n")
    with pytest.raises(DataError, match="metadata.jsonl line 1"):
        load_clips(messy_folder, RATE)
