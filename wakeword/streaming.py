"""`StreamingDetector`: the one engine behind the microphone, files and stdin.

Audio of any chunk size, int16 or float, at any rate it is told, goes through the
streaming resampler, the shared frontend and every model, then each model's
`EventDetector`. Time is counted in samples; seconds are derived at the edge.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np
from threadpoolctl import threadpool_limits

from .audio import Resampler, to_mono_float
from .config import DetectorConfig
from .detection import Event, EventDetector
from .modelfile import LoadedModel
from .scoring import Scores, StreamingScorer


@dataclass
class StepResult:
    scores: Scores
    events: list[Event] = field(default_factory=list)


def use_one_thread() -> None:
    """Streaming works on a few frames per block, where the BLAS library's extra threads
    only add hand-off cost: 20x the CPU time, measured on two busy cores."""
    threadpool_limits(1)


class StreamingDetector:
    def __init__(self, models: list[LoadedModel], input_rate: int | None = None, detector: DetectorConfig | None = None):
        self.models = models
        self.detector_config = detector or models[0].config.detector
        self.scorer = StreamingScorer(models)
        self.input_rate = int(input_rate or self.scorer.sample_rate)
        self._resampler = Resampler(self.input_rate, self.scorer.sample_rate)
        self.detectors = [
            EventDetector(m.phrase, self.threshold_for(m), self.detector_config) for m in models
        ]
        self.samples_in = 0

    def threshold_for(self, model: LoadedModel) -> float:
        return self.detector_config.threshold if self.detector_config.threshold is not None else model.threshold

    @property
    def audio_time_s(self) -> float:
        return self.samples_in / self.input_rate

    def push(self, chunk: np.ndarray, last: bool = False) -> StepResult:
        """Feed mono audio (int16 or float in [-1, 1]); `last=True` flushes the resampler."""
        chunk = to_mono_float(chunk)
        self.samples_in += len(chunk)
        scores = self.scorer.push(self._resampler.push(chunk, last=last))
        events: list[Event] = []
        for i, det in enumerate(self.detectors):
            events.extend(det.push(scores.times, scores.values[:, i]))
        events.sort(key=lambda e: e.time_s)
        return StepResult(scores, events)

    def run(self, blocks: Iterable[np.ndarray]) -> Iterator[StepResult]:
        """A whole finite stream (a file, a pipe): every block, then the resampler's flush."""
        for block in blocks:
            yield self.push(block)
        yield self.push(np.zeros(0, dtype=np.float32), last=True)
