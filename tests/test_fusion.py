"""Fused models (`wakeword fuse`): members on their own frontends and time lines, one score."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from detect_fixtures import SMALL, json_lines, one_line_error, random_model, wakeword
from test_embedding import CONFIG as EMBEDDING_CONFIG
from test_embedding import speech  # noqa: F401 (fixture)
from wakeword.audio import write_wav
from wakeword.config import Config
from wakeword.detection import detect_events
from wakeword.evaluation import DEFAULT_THRESHOLDS
from wakeword.gate import Gate, GateState, Run, merged
from wakeword.model import WakewordModel, save_model, score_offline
from wakeword.modelfile import FusedModel, load_model, write_fused_model
from wakeword.scoring import StreamingScorer, fuse_scores


def _model(path, config: Config, seed: int):
    torch.manual_seed(seed)
    save_model(path, WakewordModel(config.features.n_mels, config.model).eval(), config, 0.5)
    return path


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """A log-mel model and a speech-embedding model of "activate", and their fused file."""
    where = tmp_path_factory.mktemp("pair")
    mel = _model(where / "mel.npz", dataclasses.replace(Config(), model=SMALL), 1)
    emb = _model(where / "emb.npz", EMBEDDING_CONFIG, 2)
    write_fused_model(where / "pair.npz", [mel, emb], 0.6)
    return mel, emb, where / "pair.npz"


def test_a_fused_score_is_the_mean_log_odds_of_each_member_pooled_onto_the_slowest_steps(pair, speech):
    mel, emb, fused = (load_model(p) for p in pair)
    assert isinstance(fused, FusedModel) and fused.frontend == "mel+speech_embedding" and fused.threshold == 0.6
    fine, coarse, both = score_offline([mel], speech), score_offline([emb], speech), score_offline([fused], speech)
    np.testing.assert_array_equal(both.times, coarse.times)
    spans = np.searchsorted(fine.times, coarse.times, side="right")
    pooled = [fine.values[a:b, 0].max() for a, b in zip([0, *spans[:-1]], spans)]
    logit = lambda p: np.log(p) - np.log1p(-p)  # noqa: E731
    mean_logit = (logit(coarse.values[:, 0].astype(np.float64)) + logit(np.array(pooled, dtype=np.float64))) / 2
    np.testing.assert_allclose(both.values[:, 0], 1 / (1 + np.exp(-mean_logit)), atol=1e-6)


def test_one_sure_member_carries_a_hesitant_one_and_certainty_stays_finite():
    # The mean of probabilities would cap the first row at 0.65.
    fused = fuse_scores(np.array([[0.999, 0.3], [0.5, 0.5], [1.0, 0.0], [1.0, 1.0], [0.0, 0.0]], dtype=np.float32))
    assert fused[0] > 0.9 and fused[1] == pytest.approx(0.5) and fused[2] == pytest.approx(0.5)
    assert 0.999 < fused[3] < 1 and 0 < fused[4] < 0.001 and fused.dtype == np.float32


def test_a_fused_file_of_the_older_rule_is_refused_in_one_line(pair, tmp_path):
    import zipfile
    old = tmp_path / "old.npz"
    with zipfile.ZipFile(pair[2]) as src, zipfile.ZipFile(old, "w") as dst:
        for name in src.namelist():
            data = src.read(name)
            if name == "meta.json":
                meta = json.loads(data)
                del meta["fusion"]
                data = json.dumps(meta)
            dst.writestr(name, data)
    run = wakeword("info", str(old))
    assert run.returncode != 0 and "another rule (the mean of probabilities)" in one_line_error(run)


def test_a_fused_model_streams_its_offline_scores_in_any_chunking(pair, speech):
    fused = load_model(pair[2])
    assert_streams_offline_scores([fused], speech, seed=3)


def assert_streams_offline_scores(models, audio: np.ndarray, seed: int) -> None:
    """Pushed in chunks of random sizes, the models give their one-pass scores."""
    offline = score_offline(models, audio)
    scorer, parts, at, rng = StreamingScorer(models), [], 0, np.random.default_rng(seed)
    while at < len(audio):
        size = int(rng.choice([1, 100, 640, 1280, 4000]))
        parts.append(scorer.push(audio[at : at + size]))
        at += size
    np.testing.assert_allclose(np.concatenate([p.values for p in parts]), offline.values, atol=1e-5)
    np.testing.assert_array_equal(np.concatenate([p.times for p in parts]), offline.times)


def test_detect_runs_a_fused_model_beside_a_plain_one(pair, speech, tmp_path):
    write_wav(tmp_path / "speech.wav", speech, 16000)
    plain = random_model(tmp_path / "hello.npz", phrase="hello")
    run = wakeword("detect", "--json", "--threshold", "0.3", "--model", str(pair[2]), "--model", str(plain),
                   "--scores", str(tmp_path / "s.npz"), str(tmp_path / "speech.wav"))
    assert run.returncode == 0, run.stderr
    saved = np.load(tmp_path / "s.npz")
    assert list(saved["phrases"]) == ["activate", "hello"]
    expected = detect_events(saved["times"], saved["scores"][:, 0], "activate", 0.3, load_model(pair[2]).config.detector)
    got = [e for e in json_lines(run.stdout) if e["phrase"] == "activate"]
    assert [e["time_s"] for e in got] == pytest.approx([e.time_s for e in expected], abs=1e-3) and expected


def test_calibration_sets_the_lowest_threshold_within_the_false_accept_budget(pair, speech, tmp_path):
    wav = tmp_path / "room.wav"
    write_wav(wav, np.tile(speech, 4), 16000)  # 28 s "without the phrase" (the models are untrained)
    out = tmp_path / "calibrated.npz"
    run = wakeword("fuse", str(pair[0]), str(pair[1]), "--out", str(out), "--calibrate", str(wav),
                   "--false-accepts-per-hour", "60", "--gains-db=-6,0")
    assert run.returncode == 0, run.stderr
    fused = load_model(out)
    once = np.concatenate([np.tile(speech, 4), np.zeros(16000, np.float32)])
    scores = score_offline([fused], np.concatenate([once * np.float32(10 ** (-6 / 20)), once]))
    fires = lambda t: len(detect_events(scores.times, scores.values[:, 0], "activate", t, fused.config.detector))  # noqa: E731
    hours = 2 * len(once) / 16000 / 3600
    assert fires(fused.threshold) <= 60 * hours
    lower = [t for t in DEFAULT_THRESHOLDS if t < fused.threshold]
    assert not lower or fires(max(lower)) > 60 * hours  # the lowest that keeps the budget
    assert fused.metadata["calibration"]["gains_db"] == [-6.0, 0.0]
    shown = wakeword("info", str(out)).stdout
    assert "logit_mean" in shown and "at gains [-6.0, 0.0] dB, at most 60.0 FA/h" in shown
    assert [line.split()[2] for line in shown.splitlines() if line.startswith("member ")] == ["mel,", "speech_embedding,"]
    bad = wakeword("fuse", str(pair[0]), str(pair[1]), "--out", str(out), "--calibrate", str(wav), "--gains-db", "loud")
    assert "--gains-db must be comma-separated numbers" in one_line_error(bad)


def test_what_cannot_be_fused_or_converted_is_one_line(pair, tmp_path):
    other = random_model(tmp_path / "other.npz", phrase="hey computer")
    assert "one phrase" in one_line_error(wakeword("fuse", str(pair[0]), str(other), "--out", str(tmp_path / "x.npz")))
    assert "needs one of them" in one_line_error(wakeword("fuse", str(pair[2]), str(pair[0]), "--out", str(tmp_path / "x.npz")))
    assert "needs one of them" in one_line_error(wakeword("export", str(pair[2]), str(tmp_path / "y.npz")))
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(pair[2].read_bytes()[:5000])
    assert "not a readable wakeword model" in one_line_error(wakeword("detect", "--model", str(truncated), str(pair[2])))


def test_a_gate_runs_the_slow_member_only_after_the_opener_reaches_its_threshold():
    gate = GateState(Gate(0.5, warmup_steps=3, hold_steps=2))
    opener = np.array([0, 0, 0, 0, 0, 0, 0, 0.6, 0, 0, 0, 0.7, 0, 0, 0, 0, 0, 0, 0, 0.9, 0])
    is_open, runs = gate.advance(0, opener)
    assert list(np.flatnonzero(is_open)) == [7, 8, 9, 11, 12, 13, 19, 20]
    # 11's warm-up (8..10) reaches 9, the last computed step: its state goes on. 19's does not.
    assert runs == [Run(4, 13, True), Run(16, 20, True)]
    split = GateState(Gate(0.5, warmup_steps=3, hold_steps=2))
    parts = [split.advance(a, opener[a:b]) for a, b in ((0, 5), (5, 11), (11, 21))]
    assert np.array_equal(np.concatenate([p[0] for p in parts]), is_open)
    assert [r for p in parts for r in p[1]] == [Run(4, 9, True), Run(10, 13, False), Run(16, 20, True)]
    assert merged([r for p in parts for r in p[1]]) == runs


def _gated_at_third_highest(mel_path, emb_path, audio, path):
    """mel and emb fused behind a gate at the log-mel member's third highest score on `audio`, so it opens and shuts."""
    mel, emb = load_model(mel_path), load_model(emb_path)
    fine, coarse = score_offline([mel], audio), score_offline([emb], audio)
    spans = np.searchsorted(fine.times, coarse.times, side="right")  # the opener's score on the slow steps
    opener = np.array([fine.values[a:b, 0].max() for a, b in zip([0, *spans[:-1]], spans)])
    run = wakeword("fuse", str(mel_path), str(emb_path), "--out", str(path), "--threshold", "0.6", "--gate", f"{np.sort(opener)[-3]:.7f}")
    assert run.returncode == 0 and "gated at" in run.stdout, run.stderr
    return load_model(path), opener


@pytest.fixture(scope="module")
def gated(pair, speech, tmp_path_factory):
    return _gated_at_third_highest(pair[0], pair[1], speech, tmp_path_factory.mktemp("gated") / "gated.npz")


def test_a_gated_pair_scores_zero_where_shut_and_streams_its_offline_scores(gated, pair, speech):
    model, opener = gated
    assert model.gate is not None and model.metadata["fusion"] == "logit_mean_gated"
    offline = score_offline([model], speech)
    reached = opener >= model.gate.threshold
    is_open = np.array([reached[max(0, n - model.gate.hold_steps) : n + 1].any() for n in range(len(reached))])
    assert 0 < is_open.sum() < len(is_open)
    assert (offline.values[~is_open, 0] == 0).all() and (offline.values[is_open, 0] > 0).all()
    # Beside a plain embedding model, which needs every step of the same frontend.
    emb = load_model(pair[1])
    both = score_offline([model, emb], speech)
    np.testing.assert_array_equal(both.values[:, 0], offline.values[:, 0])
    np.testing.assert_allclose(both.values[:, 1], score_offline([emb], speech).values[:, 0], atol=1e-6)
    assert_streams_offline_scores([model, emb], speech, seed=5)
    shown = wakeword("info", str(model.path)).stdout
    assert "logit_mean_gated" in shown and f"reach {model.gate.threshold:g} (warm-up 25, hold 12 steps)" in shown


def test_a_gated_window_head_needs_no_warm_up_and_scores_as_ungated_where_open(pair, speech, tmp_path):
    window = dataclasses.replace(EMBEDDING_CONFIG, model=dataclasses.replace(EMBEDDING_CONFIG.model, conv_kernel=6, gru_layers=0))
    emb = _model(tmp_path / "window.npz", window, 4)
    model, _ = _gated_at_third_highest(pair[0], emb, speech, tmp_path / "gated.npz")
    write_fused_model(tmp_path / "ungated.npz", [pair[0], emb], 0.6)
    gated, ungated = score_offline([model], speech).values[:, 0], score_offline([load_model(tmp_path / "ungated.npz")], speech).values[:, 0]
    is_open = gated > 0
    assert 0 < is_open.sum() < len(is_open)
    np.testing.assert_allclose(gated[is_open], ungated[is_open], atol=1e-6)
    assert_streams_offline_scores([model], speech, seed=6)
    assert "(warm-up 0, hold 12 steps)" in wakeword("info", str(model.path)).stdout


def test_a_gate_that_cannot_run_is_refused_in_one_line(pair, tmp_path):
    twin = _model(tmp_path / "twin.npz", dataclasses.replace(Config(), model=SMALL), 7)
    out = tmp_path / "x.npz"
    assert "a gate needs members on two frontends" in one_line_error(
        wakeword("fuse", str(pair[0]), str(twin), "--out", str(out), "--gate", "0.2"))
    assert "threshold must be in (0, 1)" in one_line_error(wakeword("fuse", str(pair[0]), str(pair[1]), "--out", str(out), "--gate", "1.5"))
    assert not out.exists()
