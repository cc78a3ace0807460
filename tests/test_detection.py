"""Decision logic (`EventDetector`) and event matching (`match_events`) on hand-made numbers."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
import pytest

from wakeword.config import DetectorConfig
from wakeword.detection import EventDetector, detect_events
from wakeword.evaluation import Truth, event_times, false_accept_mask, match_events, moving_average

STEP_S = 0.04


def _times(n: int) -> np.ndarray:
    return np.arange(1, n + 1) * STEP_S


def _fire(scores, threshold=0.5, **config) -> list[float]:
    scores = np.asarray(scores, dtype=np.float64)
    events = detect_events(_times(len(scores)), scores, "x", threshold, DetectorConfig(**config))
    return [round(e.time_s, 6) for e in events]


def _run(*pieces: tuple[float, int]) -> list[float]:
    """Scores made of (value, steps) pieces."""
    return [value for value, steps in pieces for _ in range(steps)]


def test_a_long_run_above_the_threshold_fires_once():
    assert _fire(_run((0.1, 10), (0.9, 200), (0.1, 10)), refractory_s=0.0) == [round(11 * STEP_S, 6)]


def test_the_event_reports_the_peak_so_far_and_the_firing_step_time():
    (event,) = detect_events(_times(5), np.array([0.1, 0.6, 0.8, 0.95, 0.2]), "activate", 0.5, DetectorConfig(patience_steps=2))
    assert event.phrase == "activate"
    assert event.time_s == pytest.approx(3 * STEP_S)  # second step above: patience reached
    assert event.score == pytest.approx(0.8)  # the peak up to the firing step


def test_patience_needs_that_many_consecutive_steps():
    short_runs = _run((0.9, 2), (0.1, 1), (0.9, 2), (0.1, 5))
    assert _fire(short_runs, patience_steps=3, refractory_s=0.0) == []
    assert _fire(_run((0.1, 4), (0.9, 3), (0.1, 5)), patience_steps=3, refractory_s=0.0) == [round(7 * STEP_S, 6)]


def test_reaching_the_threshold_exactly_counts_as_above():
    assert _fire([0.1, 0.5, 0.1]) == [round(2 * STEP_S, 6)]


def test_refractory_period_silences_a_second_run_then_lets_it_fire():
    two_runs = _run((0.9, 5), (0.1, 5), (0.9, 5), (0.1, 30), (0.9, 5))
    # Runs start at steps 1, 11 and 46 (0.04, 0.44 and 1.84 s).
    assert _fire(two_runs, refractory_s=1.0) == [0.04, 1.84]
    assert _fire(two_runs, refractory_s=0.0) == [0.04, 0.44, 1.84]


def test_a_run_that_outlasts_the_refractory_period_fires_when_it_ends():
    # The first run fires at 0.04 s; the second starts inside the quiet period (at 0.44 s)
    # and is still above the threshold when that period ends (0.54 s): a new utterance.
    scores = _run((0.9, 5), (0.1, 5), (0.9, 20))
    assert _fire(scores, refractory_s=0.5) == [0.04, 0.56]


def test_it_rearms_only_after_the_score_falls_below_the_threshold():
    steady = _run((0.9, 100))
    assert _fire(steady, refractory_s=0.0) == [0.04]
    dipped = _run((0.9, 50), (0.4, 1), (0.9, 49))
    assert _fire(dipped, refractory_s=0.0) == [0.04, round(52 * STEP_S, 6)]


def test_smoothing_averages_the_last_steps():
    spike = _run((0.0, 5), (0.9, 1), (0.0, 5))
    assert _fire(spike) == [0.24]
    assert _fire(spike, smoothing_steps=3) == []  # 0.9 / 3 < 0.5
    # Mean of the last three: 0.3, then 0.6 at the second loud step.
    assert _fire(_run((0.0, 5), (0.9, 3), (0.0, 5)), smoothing_steps=3) == [round(7 * STEP_S, 6)]


def test_feeding_scores_in_pieces_gives_the_same_events():
    rng = np.random.default_rng(5)
    scores = np.clip(np.convolve(rng.random(600), np.ones(8) / 8, mode="same") * 1.3 - 0.1, 0, 1)
    times = _times(len(scores))
    config = DetectorConfig(smoothing_steps=3, patience_steps=2, refractory_s=0.3)
    whole = EventDetector("x", 0.55, config).push(times, scores)
    detector = EventDetector("x", 0.55, config)
    cuts = [0, 1, 2, 7, 50, 51, 300, 599, 600]
    pieces = [e for a, b in zip(cuts[:-1], cuts[1:]) for e in detector.push(times[a:b], scores[a:b])]
    assert len(whole) >= 3
    assert pieces == whole


TRUTH = Truth(
    duration_s=1800.0,
    positives=[(10.0, 10.8), (30.0, 30.6), (50.0, 50.7), (70.0, 70.5)],
    negatives=[(100.0, 100.6, "confusable"), (120.0, 120.5, "confusable"), (140.0, 140.4, "speech"), (69.0, 70.4, "confusable")],
)


def test_match_events_counts_caught_false_and_confusable_accepts():
    events = [
        10.5,   # positive 1 (mid-phrase)
        10.9,   # positive 1 again: explained, not a false accept
        31.6,   # positive 2 at its window's end (end + 1 s): caught
        51.75,  # just past positive 3's window: a false accept
        70.2,   # positive 4, also inside a confusable window: counts as the positive only
        100.9,  # confusable 1
        140.2,  # ordinary speech: a false accept
        400.0,  # nothing there: a false accept
    ]
    r = match_events(np.array(events), TRUTH, threshold=0.6)
    assert (r.positives, r.caught) == (4, 3)
    assert r.recall == pytest.approx(0.75) and r.false_reject_rate == pytest.approx(0.25)
    assert r.false_accepts == 3
    assert r.hours == pytest.approx(0.5) and r.false_accepts_per_hour == pytest.approx(6.0)
    assert (r.confusables, r.confusables_accepted) == (3, 1)
    assert r.confusable_accept_rate == pytest.approx(1 / 3)
    # First catching event minus phrase end, per caught positive.
    assert r.latencies_s == pytest.approx((-0.3, 1.0, -0.3))
    summary = r.summary()
    assert summary["latency_median_s"] == pytest.approx(-0.3)
    assert summary["threshold"] == 0.6


def test_false_accept_mask_marks_the_events_match_events_counts():
    events = np.array([10.5, 31.6, 51.75, 70.2, 100.9, 140.2, 400.0, 121.55])
    mask = false_accept_mask(events, TRUTH)
    # A phrase's and a sound-alike's [start, end + 1 s] explain an event; speech and silence do not.
    assert mask.tolist() == [False, False, True, False, False, True, True, True]
    assert match_events(events, TRUTH).false_accepts == int(mask.sum())
    assert false_accept_mask(events, TRUTH, window_s=0.5)[1]  # 31.6 is past positive 2's end + 0.5 s
    assert false_accept_mask(np.array([]), TRUTH).shape == (0,)


def test_match_events_with_no_events():
    r = match_events(np.array([]), TRUTH)
    assert (r.caught, r.false_accepts, r.confusables_accepted) == (0, 0, 0)
    assert r.recall == 0.0 and r.latencies_s == ()
    assert r.summary()["latency_median_s"] is None


def test_match_events_with_no_positives_has_undefined_recall():
    r = match_events(np.array([5.0]), Truth(duration_s=3600.0, positives=[], negatives=[]))
    assert np.isnan(r.recall)
    assert r.false_accepts_per_hour == pytest.approx(1.0)


@settings(max_examples=80, deadline=None)
@given(
    scores=st.lists(st.floats(0, 1), min_size=0, max_size=300),
    smoothing=st.integers(1, 5), patience=st.integers(1, 4), refractory=st.floats(0, 2),
    threshold=st.floats(0.05, 0.95), coarse=st.booleans(),
)
def test_the_fast_offline_path_fires_where_the_streaming_detector_does(scores, smoothing, patience, refractory, threshold, coarse):
    scores = np.array(scores, dtype=np.float64)
    if coarse:  # many exact ties with the threshold; unsmoothed, so both sides compare the very same values
        scores, threshold, smoothing = np.round(scores, 2), round(threshold, 2), 1
    times = 0.04 * (np.arange(len(scores)) + 1)
    config = DetectorConfig(smoothing_steps=smoothing, patience_steps=patience, refractory_s=refractory)
    streamed = [e.time_s for e in EventDetector("x", threshold, config).push(times, scores)]
    fast = event_times(times, moving_average(scores, smoothing), threshold, config)
    assert fast.tolist() == streamed
