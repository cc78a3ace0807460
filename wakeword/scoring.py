"""Audio to per-step scores, streaming, for one or several models (numpy only: the listener's).

Models that share a feature configuration share one frontend; a fused model's members
may each have their own (ScoringPlan). The torch reference of the
same scores over a whole signal is `wakeword.model.score_offline`. Scores are returned
with the audio time (seconds from stream start, at the model rate) at which each
output step's receptive field ends; this is the time an event is reported at.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .config import FeatureConfig
from .errors import ConfigError
from .features import frontend_for
from .modelfile import FusedModel, LoadedModel, ScoredModel
from .streaming_model import sigmoid, step_end_samples


@dataclass
class Scores:
    times: np.ndarray  # (steps,) seconds
    values: np.ndarray  # (steps, models) probabilities


def members(model: ScoredModel) -> list[LoadedModel]:
    """The networks a model's score comes from: itself, or a fused model's members."""
    return list(model.members) if isinstance(model, FusedModel) else [model]


@dataclass(frozen=True)
class TimeLine:
    """When a network's output steps end: its features' window and hop, and its conv."""

    features: FeatureConfig
    conv_kernel: int
    conv_stride: int

    @classmethod
    def of(cls, model: LoadedModel) -> TimeLine:
        return cls(model.config.features, model.config.model.conv_kernel, model.config.model.conv_stride)

    @property
    def step_samples(self) -> int:
        return self.features.hop_length * self.conv_stride

    def end_samples(self, first: int, n: int) -> np.ndarray:
        # step_end_samples reads only the conv's kernel and stride, which a time line carries.
        return step_end_samples(np.arange(first, first + n), self.features, self)


class ScoringPlan:
    """Which networks run on which time line, and how their steps become one row per output step.

    Networks that share a time line share one frontend. With several lines (a fused
    model's members over different frontends), the output steps are those of the line
    with the longest step, and every other line's scores are pooled onto them: the
    maximum over each output step's span (previous output step's end, its end], or the
    latest score when a span holds none. Each output column is then its model's
    networks fused (`fuse_scores`). A step ends once its audio is in, so when an output step ends
    every other line has already produced all the steps the span needs: streaming never
    waits, and offline scoring (one push of everything) gives the same numbers.
    """

    def __init__(self, models: Sequence[ScoredModel]):
        if not models:
            raise ConfigError("no model given")
        self.models = list(models)
        self.leaves = [leaf for m in models for leaf in members(m)]
        self.owner = np.array([i for i, m in enumerate(models) for _ in members(m)])
        rates = {leaf.config.features.sample_rate for leaf in self.leaves}
        if len(rates) > 1:
            raise ConfigError(f"the models run at different sample rates ({', '.join(map(str, sorted(rates)))} Hz): run them in separate processes")
        self.sample_rate = rates.pop()
        self.lines: list[TimeLine] = []
        for line in map(TimeLine.of, self.leaves):
            if line not in self.lines:
                self.lines.append(line)
        self.line_of = np.array([self.lines.index(TimeLine.of(leaf)) for leaf in self.leaves])
        self.reference = max(range(len(self.lines)), key=lambda k: self.lines[k].step_samples)

    def poolers(self) -> list[_Pooler | None]:
        return [None if k == self.reference else _Pooler(int((self.line_of == k).sum())) for k in range(len(self.lines))]

    def combine(self, outputs: list[tuple[np.ndarray, np.ndarray]], poolers: list[_Pooler | None]) -> Scores:
        """Per line, (step end samples, values (steps, that line's networks)): the output steps' scores."""
        ends = outputs[self.reference][0]
        columns = np.empty((len(ends), len(self.leaves)), dtype=np.float32)
        for k, (line_ends, values) in enumerate(outputs):
            pooled = values if poolers[k] is None else poolers[k].push(line_ends, values, ends)
            columns[:, self.line_of == k] = pooled
        if len(self.models) == len(self.leaves):
            scores = columns
        else:
            scores = np.stack([fuse_scores(columns[:, self.owner == i]) for i in range(len(self.models))], axis=1)
        return Scores(times=ends / self.sample_rate, values=scores)


# Log-odds stay finite: a float32 sigmoid reaches 0 and 1 exactly.
_EDGE = 1e-7


def fuse_scores(probabilities: np.ndarray) -> np.ndarray:
    """Members' scores (steps, members) to one per step: the probability of their mean log-odds.

    Unlike the mean of probabilities, which caps a pair at 0.5 while one member says 0, a
    member that is sure can carry one that hesitates. On the real streams the pair caught
    54.8 % of people at 1 FA/h against the mean's 50.0 %, at no synthetic cost
    (docs/levers.md 27).
    """
    p = np.clip(probabilities.astype(np.float64), _EDGE, 1 - _EDGE)
    return sigmoid(np.mean(np.log(p) - np.log1p(-p), axis=1)).astype(np.float32)


class _Pooler:
    """One time line's scores pooled onto the output steps (ScoringPlan), across pushes."""

    def __init__(self, width: int):
        self._ends = np.zeros(0, dtype=np.int64)
        self._values = np.zeros((0, width), dtype=np.float32)
        self._latest = np.zeros(width, dtype=np.float32)  # before any score: silence scores 0

    def push(self, ends: np.ndarray, values: np.ndarray, output_ends: np.ndarray) -> np.ndarray:
        self._ends = np.concatenate([self._ends, ends])
        self._values = np.concatenate([self._values, values])
        out = np.empty((len(output_ends), self._values.shape[1]), dtype=np.float32)
        start = 0
        for i, end in enumerate(output_ends):
            stop = int(np.searchsorted(self._ends, end, side="right"))
            if stop > start:
                out[i] = self._values[start:stop].max(axis=0)
                self._latest = self._values[stop - 1]
            else:
                out[i] = self._latest
            start = stop
        self._ends, self._values = self._ends[start:], self._values[start:]
        return out


class StreamingScorer:
    """Feed audio chunks of any size; get the scores of every output step they complete."""

    def __init__(self, models: Sequence[ScoredModel]):
        self.models = list(models)
        self.plan = ScoringPlan(models)
        self._streams = [frontend_for(line.features).stream() for line in self.plan.lines]
        self._nets = [leaf.network for leaf in self.plan.leaves]
        self._states = [net.initial_state() for net in self._nets]
        self._steps_done = [0] * len(self.plan.lines)
        self._poolers = self.plan.poolers()

    @property
    def sample_rate(self) -> int:
        return self.plan.sample_rate

    def push(self, chunk: np.ndarray) -> Scores:
        outputs = []
        for k, (line, stream) in enumerate(zip(self.plan.lines, self._streams)):
            feats = stream.push(chunk)[None]
            columns = []
            for i in np.flatnonzero(self.plan.line_of == k):
                logits, self._states[i] = self._nets[i].step(feats, self._states[i])
                columns.append(sigmoid(logits[0]))
            values = np.stack(columns, axis=1)
            outputs.append((line.end_samples(self._steps_done[k], len(values)), values))
            self._steps_done[k] += len(values)
        return self.plan.combine(outputs, self._poolers)
