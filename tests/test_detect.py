"""`wakeword detect`: the streaming engine over files and pipes, as users run it."""

from __future__ import annotations

import os
import pty

import numpy as np
import pytest
import soundfile as sf

from detect_fixtures import (TRAINING_ONLY, assert_same_events, burst_wav, energy_model, json_lines, one_line_error, random_model, wakeword,
                             wakeword_here, wakeword_python, with_meta)
from wakeword.audio import load_audio
from wakeword.commands import detect
from wakeword.detection import detect_events
from wakeword import modelfile
from wakeword.modelfile import load_models
from wakeword.errors import ModelFileError
from wakeword.modelfile import load_model
from wakeword.model import score_offline

BURSTS = [(1.0, 1.5), (4.0, 4.6), (4.9, 5.3), (8.2, 8.4)]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("detect")
    return {
        "energy": energy_model(d / "energy.npz"),
        "random": random_model(d / "random.npz", seed=3, phrase="random"),
        "wav16k": burst_wav(d / "bursts16k.wav", 16000, 10.0, BURSTS),
        # A rate the engine must resample, in stereo that must be mixed down.
        "wav44k": burst_wav(d / "bursts44k.wav", 44100, 10.0, BURSTS, channels=2),
        "dir": d,
    }


def _offline(model_paths, wav):
    models = [load_model(p) for p in model_paths]
    scores = score_offline(models, load_audio(wav, models[0].config.features.sample_rate))
    events = [
        e.as_dict()
        for i, m in enumerate(models)
        for e in detect_events(scores.times, scores.values[:, i], m.phrase, m.threshold, m.config.detector)
    ]
    return scores, sorted(events, key=lambda e: e["time_s"])


@pytest.mark.parametrize("wav, own_process", [("wav16k", False), ("wav44k", True)])
def test_streaming_a_file_gives_the_offline_events_and_scores(files, wav, own_process, tmp_path, capsys):
    out = tmp_path / "scores.npz"
    args = ("detect", str(files[wav]), "--model", str(files["energy"]), "--model", str(files["random"]), "--json", "--scores", str(out))
    proc = wakeword(*args) if own_process else wakeword_here(capsys, *args)
    assert proc.returncode == 0, proc.stderr
    scores, events = _offline([files["energy"], files["random"]], files[wav])
    got = json_lines(proc.stdout)
    assert [e for e in got if e["phrase"] == "activate"]  # the bursts were detected at all
    assert_same_events(got, events)
    saved = np.load(out)
    assert saved["scores"].shape == (len(scores.times), 2)
    assert saved["times"].shape == (len(scores.times),)
    np.testing.assert_array_equal(saved["times"], scores.times)
    np.testing.assert_allclose(saved["scores"], scores.values, atol=1e-4, rtol=0)
    assert list(saved["phrases"]) == ["activate", "random"]


def test_events_are_one_per_burst_at_the_burst_onset(files, capsys):
    proc = wakeword_here(capsys, "detect", str(files["wav16k"]), "--model", str(files["energy"]), "--json")
    events = json_lines(proc.stdout)
    # Bursts 0.3 s apart are one utterance for a 1.5 s refractory period.
    expected_onsets = [1.0, 4.0, 8.2]
    assert len(events) == len(expected_onsets)
    for event, onset in zip(events, expected_onsets):
        # The first step whose receptive field (0.165 s) is mostly loud.
        assert onset < event["time_s"] < onset + 0.165
        assert event["score"] > 0.5


def test_text_output_names_time_phrase_and_score(files, capsys):
    proc = wakeword_here(capsys, "detect", str(files["wav16k"]), "--model", str(files["energy"]), "--threshold", "0.9", "--refractory", "0")
    lines = proc.stdout.splitlines()
    assert proc.returncode == 0 and len(lines) == 4  # refractory 0: the 0.3 s gap re-arms
    time_s, unit, phrase, score = lines[0].split()
    assert (unit, phrase) == ("s", "activate")
    assert 1.0 < float(time_s) < 1.2 and float(score) > 0.9


def test_detector_flags_override_the_model(files, capsys):
    base = json_lines(wakeword_here(capsys, "detect", str(files["wav16k"]), "--model", str(files["energy"]), "--json").stdout)
    # The 0.2 s burst at 8.2 s stays loud for fewer than 8 steps of 40 ms.
    patient = json_lines(wakeword_here(capsys, "detect", str(files["wav16k"]), "--model", str(files["energy"]), "--json", "--patience", "8").stdout)
    assert [round(e["time_s"]) for e in base] == [1, 4, 8]
    assert [round(e["time_s"]) for e in patient] == [1, 4]
    assert patient[0]["time_s"] == pytest.approx(base[0]["time_s"] + 7 * 0.04)


def test_stdin_raw_pcm_gives_the_file_events(files, capsys):
    from_file = wakeword_here(capsys, "detect", str(files["wav16k"]), "--model", str(files["energy"]), "--json")
    pcm, rate = sf.read(files["wav16k"], dtype="int16")
    assert rate == 16000
    from_pipe = wakeword("detect", "-", "--model", str(files["energy"]), "--json", stdin=pcm.astype("<i2").tobytes())
    assert from_pipe.returncode == 0, from_pipe.stderr
    assert json_lines(from_file.stdout)
    assert_same_events(json_lines(from_pipe.stdout), json_lines(from_file.stdout))


def test_stdin_raw_pcm_at_another_rate(files, tmp_path, capsys):
    pcm, _ = sf.read(files["wav44k"], dtype="int16")
    mono = pcm[:, 0].astype("<i2")
    wav = tmp_path / "left.wav"
    sf.write(wav, mono, 44100, subtype="PCM_16")
    from_file = wakeword_here(capsys, "detect", str(wav), "--model", str(files["energy"]), "--json")
    from_pipe = wakeword("detect", "-", "--rate", "44100", "--model", str(files["energy"]), "--json", stdin=mono.tobytes())
    assert json_lines(from_file.stdout)
    assert_same_events(json_lines(from_pipe.stdout), json_lines(from_file.stdout))


def test_stdin_wav_stream_as_arecord_writes_it(files, capsys):
    # arecord writes a WAV header even to a pipe, with placeholder sizes; its rate and
    # channels must be honoured and the audio read to the end of the stream.
    wav = bytearray(files["wav44k"].read_bytes())
    data_at = wav.index(b"data")
    wav[data_at + 4 : data_at + 8] = (0x7FFFFFFF).to_bytes(4, "little")
    wav[4:8] = (0xFFFFFFFF).to_bytes(4, "little")
    from_file = wakeword_here(capsys, "detect", str(files["wav44k"]), "--model", str(files["energy"]), "--json")
    from_pipe = wakeword("detect", "-", "--model", str(files["energy"]), "--json", stdin=bytes(wav))
    assert from_pipe.returncode == 0, from_pipe.stderr
    assert json_lines(from_file.stdout)
    assert_same_events(json_lines(from_pipe.stdout), json_lines(from_file.stdout))


def test_several_models_at_once_each_report_their_phrase(files, tmp_path, capsys):
    other = energy_model(tmp_path / "other.npz", phrase="hey jarvis", threshold=0.9)
    proc = wakeword_here(capsys, "detect", str(files["wav16k"]), "--model", str(files["energy"]), "--model", str(other), "--json")
    events = json_lines(proc.stdout)
    assert sorted({e["phrase"] for e in events}) == ["activate", "hey jarvis"]
    assert [e["time_s"] for e in events] == sorted(e["time_s"] for e in events)


def _other_version(path, tmp_path):
    return with_meta(path, tmp_path / "v99.npz", format_version=99)


def _truncated(path, tmp_path):
    out = tmp_path / "half.npz"
    data = path.read_bytes()
    out.write_bytes(data[: len(data) // 2])
    return out


def _bad_wav(name, content):
    def make(files, tmp_path):
        path = tmp_path / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            sf.write(path, content, 16000, subtype="FLOAT")
        return path
    return make


def _corrupt_flac(files, tmp_path):
    """A FLAC file that opens fine and breaks a few seconds in."""
    path = tmp_path / "damaged.flac"
    sf.write(path, sf.read(files["wav16k"])[0], 16000)
    data = bytearray(path.read_bytes())
    rng = np.random.default_rng(1)
    for i in rng.integers(len(data) // 3, len(data), 2000):
        data[i] = int(rng.integers(256))
    path.write_bytes(bytes(data))
    return path


BAD_FILES = {
    "missing file": (lambda f, t: t / "nope.wav", "audio file not found"),
    "a folder": (lambda f, t: t, "expected an audio file, got a folder"),
    "corrupt audio": (_bad_wav("noise.wav", b"RIFF\x10\x00\x00\x00WAVEjunkjunkjunk" * 20), "cannot read audio"),
    "not audio": (_bad_wav("text.wav", b"hello, this is not audio\n" * 50), "cannot read audio"),
    "corrupt further in": (_corrupt_flac, "cannot read audio"),
    "empty audio": (_bad_wav("empty.wav", np.zeros(0, dtype=np.float32)), "audio file is empty"),
    "NaN samples": (_bad_wav("nan.wav", np.full(4000, np.nan, dtype=np.float32)), "invalid samples"),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_bad_audio_files_fail_in_one_line(files, tmp_path, capsys, case):
    make, message = BAD_FILES[case]
    proc = wakeword_here(capsys, "detect", str(make(files, tmp_path)), "--model", str(files["energy"]))
    assert message in one_line_error(proc)


BAD_MODELS = {
    "missing model": (lambda f, t: t / "none.npz", "model file not found"),
    "other format version": (lambda f, t: _other_version(f["energy"], t), "has model format 99"),
    "truncated model": (lambda f, t: _truncated(f["energy"], t), "not a readable wakeword model"),
    "not a model": (lambda f, t: f["wav16k"], "not a readable wakeword model"),
}


@pytest.mark.parametrize("case", list(BAD_MODELS))
def test_bad_model_files_fail_in_one_line(files, tmp_path, capsys, case):
    make, message = BAD_MODELS[case]
    proc = wakeword_here(capsys, "detect", str(files["wav16k"]), "--model", str(make(files, tmp_path)))
    assert message in one_line_error(proc)


@pytest.mark.parametrize("case", ["corrupt audio", "empty audio", "NaN samples", "other format version", "truncated model"])
def test_bad_inputs_fail_in_one_line_without_the_training_side(files, tmp_path, case):
    """The same lines from a process that cannot import torch, scipy or matplotlib (a base install)."""
    make, message = {**BAD_FILES, **BAD_MODELS}[case]
    audio, model = (make(files, tmp_path), files["energy"]) if case in BAD_FILES else (files["wav16k"], make(files, tmp_path))
    proc = wakeword_python("detect", str(audio), "--model", str(model), without=TRAINING_ONLY)
    assert message in one_line_error(proc)


BAD_STDIN = {
    "odd byte count": (b"\x00\x01" * 800 + b"\x07", "1601 bytes is not a whole number of 2-byte samples"),
    "empty": (b"", "no audio in stdin"),
    "float WAV stream": (None, "only 16-bit PCM is read from a pipe"),
}


@pytest.mark.parametrize("case", list(BAD_STDIN))
def test_bad_stdin_fails_in_one_line(files, tmp_path, case):
    data, message = BAD_STDIN[case]
    if data is None:
        path = tmp_path / "float.wav"
        sf.write(path, np.zeros(1600, dtype=np.float32), 16000, subtype="FLOAT")
        data = path.read_bytes()
    proc = wakeword("detect", "-", "--model", str(files["energy"]), stdin=data)
    assert message in one_line_error(proc)


def test_stdin_that_is_a_terminal_fails_in_one_line(files):
    leader, follower = pty.openpty()
    try:
        proc = wakeword("detect", "-", "--model", str(files["energy"]), stdin=follower)
    finally:
        os.close(leader)
        os.close(follower)
    assert "stdin is a terminal" in one_line_error(proc)


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--threshold", "1.5"], "--threshold must be between 0 and 1"),
        (["--patience", "0"], "--patience must be at least 1"),
        (["--refractory", "-1"], "--refractory must be 0 or more"),
        (["--rate", "8000"], "--rate is for raw audio on stdin"),
    ],
)
def test_bad_flags_fail_in_one_line(files, capsys, flags, message):
    proc = wakeword_here(capsys, "detect", str(files["wav16k"]), "--model", str(files["energy"]), *flags)
    assert message in one_line_error(proc)


def test_unwritable_scores_path_fails_in_one_line(files, capsys):
    proc = wakeword_here(capsys, "detect", str(files["wav16k"]), "--model", str(files["energy"]), "--scores", str(files["dir"]))
    assert "cannot write" in one_line_error(proc)


def test_missing_bundled_model_says_how_to_get_one(tmp_path, monkeypatch):
    monkeypatch.setattr(modelfile, "bundled_model_path", lambda: tmp_path / "activate.npz")
    with pytest.raises(ModelFileError, match=r"bundled model .* is missing: build it with `make model`, or pass --model"):
        load_models(None)
