"""`synth stream` (the evaluation recording and its truth) and `synth show`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import soundfile as sf

from wakeword.audio import dbfs
from wakeword.evaluation import Truth
from synth.dataset import generate, load_inputs
from synth_fixtures import RATE, clip_folders, tiny_config  # noqa: F401  (fixture)

BIN = Path(sys.executable).parent
CONFIG = """phrase: activate
features: {n_mels: 24}
model: {conv_channels: 16, conv_kernel: 9, conv_stride: 3, gru_hidden: 16}
synth:
  clip_s: 3.0
  heldout_voices: ["espeak-ng:en-gb-scotland*"]
  snr_db: [35, 35]
  speech_dbfs: [-25, -20]
  stream_positive_every_s: [8, 12]
"""


def synth(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "synth"), *args], capture_output=True, text=True)


@pytest.fixture(scope="module")
def stream(clip_folders, tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("stream")
    (tmp / "config.yaml").write_text(CONFIG)
    proc = synth("stream", "--config", str(tmp / "config.yaml"), "--positives", str(clip_folders["positives"]),
                 "--negatives", str(clip_folders["negatives"]), "--minutes", "1.5", "--out", str(tmp / "eval" / "s"))
    assert proc.returncode == 0, proc.stderr
    assert "positives" in proc.stdout and "s.json" in proc.stdout
    return tmp / "eval" / "s"


def test_truth_is_the_format_wakeword_eval_reads(stream):
    data = json.loads(stream.with_suffix(".json").read_text())
    truth = Truth.load(stream.with_suffix(".json"))
    audio, rate = sf.read(stream.with_suffix(".wav"), dtype="float32")
    assert rate == RATE and truth.duration_s == pytest.approx(len(audio) / rate) == pytest.approx(90.0)
    assert data["voices"] == ["espeak-ng:en-gb-scotland", "espeak-ng:en-gb-scotland+f2"]
    assert data["engines"] == ["espeak-ng"] and data["voice_patterns"] == ["espeak-ng:en-gb-scotland*"]
    assert {kind for _, _, kind in truth.negatives} == {"confusable", "speech"}
    # A positive every 8-12 s (plus the utterance it waits behind), lots of other speech between.
    assert 6 <= len(truth.positives) <= 11 and len(truth.negatives) >= 3 * len(truth.positives)
    starts = [s for s, _ in truth.positives]
    assert all(b - a >= 8.0 for a, b in zip(starts, starts[1:]))


def test_truth_spans_never_overlap_and_line_up_with_the_speech(stream):
    truth = Truth.load(stream.with_suffix(".json"))
    audio, _ = sf.read(stream.with_suffix(".wav"), dtype="float32")
    spans = sorted([(s, e) for s, e in truth.positives] + [(s, e) for s, e, _ in truth.negatives])
    assert all(b[0] > a[1] for a, b in zip(spans, spans[1:]))
    # Speech at -25..-20 dBFS over background 35 dB below: loud inside each span, quiet just before it.
    for start, end in truth.positives:
        inside = audio[int(start * RATE) : int(end * RATE)]
        before = audio[max(0, int((start - 0.25) * RATE)) : int(start * RATE)]
        assert dbfs(inside) > -30, (start, end)
        assert dbfs(inside) - dbfs(before) > 15, (start, end)


def test_voices_flag_overrides_the_heldout_voices(clip_folders, stream, tmp_path):
    config = stream.parent.parent / "config.yaml"
    proc = synth("stream", "--config", str(config), "--positives", str(clip_folders["positives"]),
                 "--negatives", str(clip_folders["negatives"]), "--minutes", "0.3", "--voices", "espeak-ng:en-us+f3",
                 "--out", str(tmp_path / "f3"), "--quiet")
    assert proc.returncode == 0, proc.stderr
    assert json.loads((tmp_path / "f3.json").read_text())["voices"] == ["espeak-ng:en-us+f3"]

    missing = synth("stream", "--config", str(config), "--positives", str(clip_folders["positives"]),
                    "--negatives", str(clip_folders["negatives"]), "--voices", "flite:*", "--out", str(tmp_path / "x"))
    assert missing.returncode != 0 and missing.stderr.count("\n") == 1
    assert "no positive clips from voices matching flite:*" in missing.stderr
    assert not (tmp_path / "x.wav").exists()


def test_each_positive_once_says_every_clip_exactly_once(clip_folders, stream, tmp_path):
    """A set of real recordings is counted once each: positives are dealt from a shuffled
    deck, none after it is empty, and a stream too short for all of them says so."""
    config = stream.parent.parent / "config.yaml"
    args = ["stream", "--config", str(config), "--positives", str(clip_folders["positives"]),
            "--negatives", str(clip_folders["negatives"]), "--each-positive-once", "--quiet"]
    proc = synth(*args, "--minutes", "1.5", "--out", str(tmp_path / "once"))
    assert proc.returncode == 0, proc.stderr
    data = json.loads((tmp_path / "once.json").read_text())
    said = sorted(e["source"] for e in data["events"] if e["kind"] == "positive")
    assert data["positive_clips"] == 4 and len(said) == 4 and len(set(said)) == 4
    assert "fit in" not in proc.stderr

    short = synth(*args, "--minutes", "0.25", "--out", str(tmp_path / "short"))
    assert short.returncode == 0, short.stderr
    assert "of the 4 positive clips fit in 0.25 min" in short.stderr


def test_stream_without_positives_never_says_the_phrase(clip_folders, stream, tmp_path):
    """Audio to calibrate a threshold on: the same scenes and negatives, no positive, and
    a truth that `wakeword eval` reads; dealing each positive once needs some."""
    config = stream.parent.parent / "config.yaml"
    args = ["stream", "--config", str(config), "--negatives", str(clip_folders["negatives"]), "--quiet"]
    proc = synth(*args, "--minutes", "0.5", "--out", str(tmp_path / "calib"))
    assert proc.returncode == 0, proc.stderr
    assert "0 positives" in proc.stdout
    truth = Truth.load(tmp_path / "calib.json")
    assert truth.positives == [] and len(truth.negatives) >= 3 and truth.duration_s == pytest.approx(30.0)
    assert sf.info(str(tmp_path / "calib.wav")).duration == pytest.approx(30.0)

    once = synth(*args, "--each-positive-once", "--out", str(tmp_path / "once"))
    assert once.returncode != 0 and once.stderr.count("\n") == 1
    assert "--each-positive-once needs --positives" in once.stderr and not (tmp_path / "once.wav").exists()


def test_stream_without_heldout_voices_says_what_to_do(clip_folders, tmp_path):
    (tmp_path / "c.yaml").write_text("synth: {clip_s: 3.0}\n")
    proc = synth("stream", "--config", str(tmp_path / "c.yaml"), "--positives", str(clip_folders["positives"]),
                 "--negatives", str(clip_folders["negatives"]), "--out", str(tmp_path / "s"))
    assert proc.returncode != 0 and "set synth.heldout_voices in the config or pass --voices" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_show_draws_an_example(clip_folders, tmp_path):
    inputs = load_inputs(RATE, [clip_folders["positives"]], [clip_folders["negatives"]])
    generate(tiny_config(n_examples=4, shard_size=2, val_fraction=0.5), inputs, tmp_path / "data", workers=1, progress=False)
    proc = synth("show", str(tmp_path / "data"), "--index", "3", "--out", str(tmp_path / "ex.png"))
    assert proc.returncode == 0, proc.stderr
    assert "example 3 (val)" in proc.stdout
    png = (tmp_path / "ex.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 10_000

    out_of_range = synth("show", str(tmp_path / "data"), "--index", "4", "--out", str(tmp_path / "no.png"))
    assert out_of_range.returncode != 0 and "--index 4 is out of range" in out_of_range.stderr
    assert not (tmp_path / "no.png").exists()
