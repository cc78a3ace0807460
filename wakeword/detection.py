"""From per-step scores to detection events: smoothing, threshold, patience, refractory.

Pure decision logic, kept apart from the model (which only produces scores). It is
streaming: feed score blocks as they come; `detect_events` runs it over a whole array.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np

from .config import DetectorConfig


@dataclass(frozen=True)
class Event:
    phrase: str
    score: float  # peak smoothed score of the run that fired
    time_s: float  # audio time of the firing step, seconds from stream start

    def as_dict(self) -> dict:
        return {"phrase": self.phrase, "score": round(self.score, 4), "time_s": round(self.time_s, 3)}


class EventDetector:
    """One utterance fires once: `patience_steps` consecutive steps above the threshold
    fire an event; the next needs the score to fall below the threshold first and
    `refractory_s` seconds to pass."""

    def __init__(self, phrase: str, threshold: float, config: DetectorConfig):
        self.phrase = phrase
        self.threshold = float(threshold)
        self.config = config
        self._window: deque[float] = deque(maxlen=config.smoothing_steps)
        self._above = 0
        self._peak = 0.0
        self._quiet_until = float("-inf")
        self._armed = True

    def push(self, times: np.ndarray, scores: np.ndarray) -> list[Event]:
        events = []
        for t, s in zip(times.tolist(), scores.tolist()):
            self._window.append(s)
            smooth = math.fsum(self._window) / len(self._window)  # exactly rounded: offline sweeps match it
            if smooth >= self.threshold:
                self._above += 1
                self._peak = max(self._peak, smooth)
            else:
                self._above, self._peak, self._armed = 0, 0.0, True
            if self._armed and self._above >= self.config.patience_steps and t >= self._quiet_until:
                events.append(Event(self.phrase, self._peak, t))
                self._quiet_until = t + self.config.refractory_s
                self._armed = False
        return events


def detect_events(times: np.ndarray, scores: np.ndarray, phrase: str, threshold: float, config: DetectorConfig) -> list[Event]:
    return EventDetector(phrase, threshold, config).push(times, scores)
