"""`wakeword eval` on streams with known answers.

`_eval` runs the command and returns its JSON report plus the scores it saved;
`_check_against_scores` recomputes every figure offline from those scores, through
`detect_events`, `match_events` and `sweep`, independently of the streaming run. A
test with a trained model and a `synth stream` stream needs only those two calls.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from detect_fixtures import LOUD, MEDIUM, burst_wav, energy_model, one_line_error, wakeword_here
from wakeword.config import DetectorConfig
from wakeword.detection import detect_events
from wakeword.evaluation import Truth, best_at_false_accept_rate, match_events, sweep
from wakeword.plots import plot_det

DURATION_S = 40.0
# Positive phrases (LOUD), ordinary speech and confusables (MEDIUM), and a MEDIUM burst
# nothing explains. The energy model scores LOUD ~1.0 and MEDIUM below 0.95: at its 0.5
# threshold every burst fires; a threshold between the two keeps only the phrases.
BURSTS = [(3.0, 3.6, LOUD), (10.0, 10.6, LOUD), (17.0, 17.6, LOUD), (20.0, 20.6, MEDIUM), (30.0, 30.6, MEDIUM), (36.0, 36.5, MEDIUM)]
TRUTH = {
    "duration_s": DURATION_S,
    "positives": [[3.0, 3.6], [10.0, 10.6], [17.0, 17.6], [24.0, 24.6]],  # the last one is never spoken
    "negatives": [[20.0, 20.6, "speech"], [30.0, 30.6, "confusable"], [33.0, 33.5, "confusable"]],
}


@pytest.fixture(scope="module")
def stream(tmp_path_factory):
    d = tmp_path_factory.mktemp("eval")
    truth = d / "stream.json"
    truth.write_text(json.dumps(TRUTH))
    return {
        "model": energy_model(d / "energy.npz", threshold=0.5),
        "audio": burst_wav(d / "stream.wav", 22050, DURATION_S, BURSTS),
        "truth": truth,
    }


def _eval(capsys, model, audio, truth, out_dir, *flags: str) -> tuple[dict, dict]:
    scores = out_dir / "scores.npz"
    run = wakeword_here(
        capsys, "eval", "--model", str(model), "--audio", str(audio), "--truth", str(truth), "--json", "--scores", str(scores), *flags
    )
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout), dict(np.load(scores))


def _same(a, b) -> bool:
    if a is None or b is None or (isinstance(b, float) and math.isnan(b)):
        return a is None and (b is None or math.isnan(b))
    return a == pytest.approx(b)


def _check_against_scores(report: dict, scores: dict, truth_path) -> None:
    truth = Truth.load(truth_path)
    d = report["detector"]
    config = DetectorConfig(smoothing_steps=d["smoothing_steps"], patience_steps=d["patience_steps"], refractory_s=d["refractory_s"])
    values = scores["scores"][:, 0]
    events = detect_events(scores["times"], values, "", d["threshold"], config)
    assert report["events"] == len(events)
    expected = match_events(np.array([e.time_s for e in events]), truth, d["threshold"]).summary()
    for key, value in expected.items():
        assert _same(report[key], value), (key, report[key], value)
    curve = sweep(scores["times"], values, truth, config)
    assert [(p["threshold"], p["caught"], p["false_accepts"]) for p in report["det"]] == [
        (r.threshold, r.caught, r.false_accepts) for r in curve
    ]
    for entry in report["at_false_accepts_per_hour"]:
        best = best_at_false_accept_rate(curve, entry["budget_per_hour"])
        assert _same(entry["threshold"], best.threshold if best else None)
        assert _same(entry["recall"], best.recall if best else None)


def test_eval_counts_a_handcrafted_stream_exactly(stream, tmp_path, capsys):
    report, scores = _eval(capsys, stream["model"], stream["audio"], stream["truth"], tmp_path)
    assert report["threshold"] == 0.5
    assert (report["positives"], report["caught"]) == (4, 3)
    assert report["recall"] == pytest.approx(0.75) and report["false_reject_rate"] == pytest.approx(0.25)
    assert report["false_accepts"] == 2
    assert report["false_accepts_per_hour"] == pytest.approx(2 / (DURATION_S / 3600))
    assert (report["confusables"], report["confusables_accepted"]) == (2, 1)
    assert report["events"] == 6
    # The energy model fires near each burst's onset, before the "phrase" ends.
    assert -0.6 < report["latency_median_s"] <= report["latency_p95_s"] < -0.3
    # Above the MEDIUM bursts' scores only the phrases fire: no false accept is needed for 3 of 4.
    for entry in report["at_false_accepts_per_hour"]:
        assert entry["recall"] == pytest.approx(0.75) and entry["false_accepts_per_hour"] == 0
        assert 0.95 < entry["threshold"] < 1
    assert scores["scores"].shape == (len(scores["times"]), 1)
    _check_against_scores(report, scores, stream["truth"])


def test_eval_threshold_and_detector_flags_are_applied(stream, tmp_path, capsys):
    report, scores = _eval(capsys, stream["model"], stream["audio"], stream["truth"], tmp_path, "--threshold", "0.97", "--patience", "3")
    assert report["threshold"] == 0.97 and report["detector"]["patience_steps"] == 3
    assert (report["caught"], report["false_accepts"], report["confusables_accepted"]) == (3, 0, 0)
    _check_against_scores(report, scores, stream["truth"])


def test_eval_prints_a_table_and_writes_the_det_plot(stream, tmp_path, capsys):
    plot = tmp_path / "det.png"
    run = wakeword_here(capsys, "eval", "--model", str(stream["model"]), "--audio", str(stream["audio"]), "--truth", str(stream["truth"]), "--plot", str(plot))
    assert run.returncode == 0, run.stderr
    table = dict(line.split("  ", 1) for line in run.stdout.splitlines())
    table = {k.strip(): v.strip() for k, v in table.items()}
    assert table["recall"] == "0.750 (3/4 caught)"
    assert table["false accepts"].startswith("180.00 per hour (2 in 0.01 h)")
    assert table["confusable accepts"] == "0.500 (1/2)"
    assert table["at 0.5 FA/h"].startswith("recall 0.750 at threshold")
    assert table["DET curve"] == str(plot)
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and plot.stat().st_size > 10_000


@pytest.mark.parametrize(
    "change, message",
    [
        ({"truth": "missing.json"}, "truth file not found"),
        ({"truth_text": "{not json"}, "cannot read truth file"),
        ({"truth_text": json.dumps({"positives": []})}, "is not a truth file"),
        ({"truth_text": json.dumps({**TRUTH, "duration_s": 600.0})}, "lasts 40.0 s but"),
        ({"audio": "missing.wav"}, "audio file not found"),
        ({"flags": ["--threshold", "0"]}, "--threshold must be between 0 and 1"),
    ],
)
def test_bad_eval_inputs_fail_in_one_line(stream, tmp_path, capsys, change, message):
    truth = tmp_path / change.get("truth", "truth.json")
    if "truth_text" in change:
        truth.write_text(change["truth_text"])
    elif "truth" not in change:
        truth = stream["truth"]
    audio = tmp_path / change["audio"] if "audio" in change else stream["audio"]
    run = wakeword_here(capsys, "eval", "--model", str(stream["model"]), "--audio", str(audio), "--truth", str(truth), *change.get("flags", []))
    assert message in one_line_error(run)


def test_sweep_finds_an_operating_point_between_two_close_scores():
    # Phrases peak at 0.9889, two ordinary words at 0.9880: at <= 1 FA/h every phrase is
    # caught only by a threshold in (0.9880, 0.9889], which a grid of 8 thresholds a
    # decade of 1 - t (0.98667, then 0.99) does not hold.
    times = np.arange(0.0, 3600.0, 0.04)
    scores = np.zeros_like(times)
    positives = [(s, s + 0.6) for s in np.arange(100.0, 3400.0, 300.0)]
    negatives = [(1150.0, 1150.5, "speech"), (2150.0, 2150.5, "speech")]
    for (start, end), peak in [*((p, 0.9889) for p in positives), *(((s, e), 0.9880) for s, e, _ in negatives)]:
        scores[(times >= end) & (times < end + 0.2)] = peak
    truth = Truth(duration_s=3600.0, positives=positives, negatives=negatives)
    best = best_at_false_accept_rate(sweep(times, scores, truth, DetectorConfig(smoothing_steps=1, patience_steps=1)), 1.0)
    assert best.recall == 1.0 and best.false_accepts == 0
    assert 0.9880 < best.threshold <= 0.9889


def test_a_det_plot_of_nothing_is_refused_and_writes_no_file(tmp_path):
    with pytest.raises(ValueError, match="nothing to plot"):
        plot_det(tmp_path / "det.png", {"a model": []})
    assert not (tmp_path / "det.png").exists()
