"""Event-level metrics on continuous audio with known answers.

A positive is caught by an event in [start, end + window_s]. An event inside a
confusable negative's [start, end + window_s] (and no positive's window) is a
confusable accept; every other event is a false accept. Frame accuracy is never used.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .config import DetectorConfig
from .detection import detect_events
from .errors import DataError

CATCH_WINDOW_S = 1.0


@dataclass(frozen=True)
class Truth:
    duration_s: float
    positives: list[tuple[float, float]]
    negatives: list[tuple[float, float, str]]

    @classmethod
    def from_dict(cls, data: dict, where: str = "truth") -> Truth:
        try:
            duration = float(data["duration_s"])
            positives = [(float(s), float(e)) for s, e in data.get("positives", [])]
            negatives = [(float(n[0]), float(n[1]), str(n[2])) for n in data.get("negatives", [])]
        except (KeyError, TypeError, ValueError, IndexError):
            raise DataError(
                f'{where} is not a truth file: expected {{"duration_s": ..., "positives": [[start, end], ...], '
                '"negatives": [[start, end, kind], ...]}'
            ) from None
        if duration <= 0:
            raise DataError(f"{where}: duration_s must be positive")
        return cls(duration, positives, negatives)

    @classmethod
    def load(cls, path: str | Path) -> Truth:
        path = Path(path)
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise DataError(f"truth file not found: {path}") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise DataError(f"cannot read truth file {path}: {exc}") from None
        if not isinstance(data, dict):
            raise DataError(f"{path} is not a truth file (expected a JSON object)")
        return cls.from_dict(data, str(path))


@dataclass(frozen=True)
class EvalResult:
    threshold: float
    positives: int
    caught: int
    false_accepts: int
    hours: float
    confusables: int
    confusables_accepted: int
    latencies_s: tuple[float, ...]

    @property
    def recall(self) -> float:
        return self.caught / self.positives if self.positives else float("nan")

    @property
    def false_reject_rate(self) -> float:
        return 1.0 - self.recall

    @property
    def false_accepts_per_hour(self) -> float:
        return self.false_accepts / self.hours

    @property
    def confusable_accept_rate(self) -> float:
        return self.confusables_accepted / self.confusables if self.confusables else float("nan")

    def summary(self) -> dict:
        lat = np.asarray(self.latencies_s)
        return {
            "threshold": self.threshold,
            "positives": self.positives,
            "caught": self.caught,
            "recall": self.recall,
            "false_reject_rate": self.false_reject_rate,
            "false_accepts": self.false_accepts,
            "hours": self.hours,
            "false_accepts_per_hour": self.false_accepts_per_hour,
            "confusables": self.confusables,
            "confusables_accepted": self.confusables_accepted,
            "confusable_accept_rate": self.confusable_accept_rate,
            "latency_median_s": float(np.median(lat)) if lat.size else None,
            "latency_p95_s": float(np.percentile(lat, 95)) if lat.size else None,
        }


def _inside(times: np.ndarray, windows: np.ndarray) -> np.ndarray:
    """(events, windows) bool: event i lies in window j."""
    if len(windows) == 0:
        return np.zeros((len(times), 0), dtype=bool)
    return (times[:, None] >= windows[None, :, 0]) & (times[:, None] <= windows[None, :, 1])


def _windows(truth: Truth, window_s: float) -> tuple[np.ndarray, np.ndarray]:
    """(n, 2) [start, end + window_s] of the positives and of the confusables."""
    pos = np.array([(s, e + window_s) for s, e in truth.positives], dtype=np.float64).reshape(-1, 2)
    conf = np.array([(s, e + window_s) for s, e, kind in truth.negatives if kind == "confusable"], dtype=np.float64).reshape(-1, 2)
    return pos, conf


def false_accept_mask(event_times: np.ndarray, truth: Truth, window_s: float = CATCH_WINDOW_S) -> np.ndarray:
    """Which events are false accepts: those in no positive's and no confusable's window
    (a sound-alike's accept is counted apart, as a confusable accept)."""
    times = np.asarray(event_times, dtype=np.float64)
    pos, conf = _windows(truth, window_s)
    return ~_inside(times, pos).any(axis=1) & ~_inside(times, conf).any(axis=1)


def match_events(event_times: np.ndarray, truth: Truth, threshold: float = float("nan"), window_s: float = CATCH_WINDOW_S) -> EvalResult:
    times = np.asarray(event_times, dtype=np.float64)
    pos, conf = _windows(truth, window_s)
    in_pos = _inside(times, pos)
    in_conf = _inside(times, conf)
    latencies = []
    for j, (s, e) in enumerate(truth.positives):
        hits = times[in_pos[:, j]]
        if hits.size:
            latencies.append(float(hits.min() - e))
    confusable_hit = in_conf & ~in_pos.any(axis=1)[:, None]
    return EvalResult(
        threshold=threshold,
        positives=len(pos),
        caught=int(in_pos.any(axis=0).sum()),
        false_accepts=int(false_accept_mask(times, truth, window_s).sum()),
        hours=truth.duration_s / 3600.0,
        confusables=len(conf),
        confusables_accepted=int(confusable_hit.any(axis=0).sum()),
        latencies_s=tuple(latencies),
    )


def moving_average(scores: np.ndarray, steps: int) -> np.ndarray:
    """`EventDetector`'s smoothing over a whole array: the mean of the last `steps`
    scores (of all so far, at the start), with the same exactly rounded sums."""
    scores = np.asarray(scores, dtype=np.float64)
    if steps == 1:
        return scores
    values = scores.tolist()
    return np.array([math.fsum(values[max(0, t + 1 - steps) : t + 1]) / min(t + 1, steps) for t in range(len(values))])


def event_times(times: np.ndarray, smoothed: np.ndarray, threshold: float, detector: DetectorConfig) -> np.ndarray:
    """The times `EventDetector` fires at, given scores already smoothed."""
    above = smoothed >= threshold
    # A step below the threshold only resets the detector, so past the first one after
    # a run the rest change nothing: dropping them makes a sweep over hours of steps fast.
    keep = above | np.concatenate([[False], above[:-1]])
    unsmoothed = dataclasses.replace(detector, smoothing_steps=1)
    return np.array([e.time_s for e in detect_events(times[keep], smoothed[keep], "", threshold, unsmoothed)])


def _evaluate_smoothed(times: np.ndarray, smoothed: np.ndarray, truth: Truth, threshold: float, detector: DetectorConfig) -> EvalResult:
    return match_events(event_times(times, smoothed, threshold, detector), truth, threshold)


def evaluate_scores(times: np.ndarray, scores: np.ndarray, truth: Truth, threshold: float, detector: DetectorConfig) -> EvalResult:
    """What the streaming detector would report at `threshold`, matched against the truth."""
    return _evaluate_smoothed(np.asarray(times), moving_average(scores, detector.smoothing_steps), truth, threshold, detector)


# Dense near 1, where a trained model's scores for non-phrases pile up: 40 thresholds a
# decade of 1 - t (each 6 % closer to 1), down to float32's last steps below 1. A coarser
# grid reports the recall of the next grid point above the best threshold: at 8 a decade,
# the bundled model read 77.4 % at 1 FA/h on the 240 min stream, at 40 and 80 81.0 %.
# 40 a decade also holds every point of that earlier grid, so no figure can get worse.
DEFAULT_THRESHOLDS = tuple(np.unique(np.round(np.concatenate([np.linspace(0.02, 0.9, 45), 1 - np.logspace(-1, -7, 241)]), 7)))


def sweep(times: np.ndarray, scores: np.ndarray, truth: Truth, detector: DetectorConfig, thresholds=DEFAULT_THRESHOLDS) -> list[EvalResult]:
    """One result per threshold, for DET curves and operating-point choice."""
    smoothed = moving_average(scores, detector.smoothing_steps)
    return [_evaluate_smoothed(np.asarray(times), smoothed, truth, float(t), detector) for t in thresholds]


def best_at_false_accept_rate(curve: list[EvalResult], max_fa_per_hour: float) -> EvalResult | None:
    """The highest-recall point whose false accepts per hour stay within the budget;
    among ties, fewer false accepts, then the higher (safer) threshold."""
    ok = [r for r in curve if r.false_accepts_per_hour <= max_fa_per_hour]
    if not ok:
        return None
    return max(ok, key=lambda r: (r.recall, -r.false_accepts_per_hour, r.threshold))


def calibrate_threshold(times: np.ndarray, scores: np.ndarray, hours: float, detector: DetectorConfig, max_fa_per_hour: float) -> float:
    """The lowest threshold that fires at most `max_fa_per_hour` on scores of audio without the phrase."""
    curve = sweep(times, scores, Truth(hours * 3600, [], []), detector)
    ok = [r.threshold for r in curve if r.false_accepts_per_hour <= max_fa_per_hour]
    if not ok:
        raise DataError(f"no threshold keeps the calibration audio within {max_fa_per_hour:g} false accepts per hour: "
                        "the model fires on it at every threshold")
    return min(ok)


def result_dict(result: EvalResult) -> dict:
    return {**asdict(result), **result.summary()}
