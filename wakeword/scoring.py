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
from .gate import Gate, GateState, Run
from .modelfile import FusedModel, LoadedModel, ScoredModel
from .streaming_model import num_steps, sigmoid, step_end_samples


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

    A gated fused model's members on its slowest line run behind its gate
    (`wakeword.gate`), opened by the maximum of its other members' pooled scores; that
    line must be the output line, and the model scores 0 where its gate is shut.
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
        self.gates: list[Gate | None] = [None] * len(self.leaves)
        self.openers: list[np.ndarray] = [np.zeros(0, dtype=int)] * len(self.leaves)
        for i, model in enumerate(self.models):
            if isinstance(model, FusedModel) and model.gate is not None:
                self._place_gate(i, model)

    def _place_gate(self, owner: int, model: FusedModel) -> None:
        own = np.flatnonzero(self.owner == owner)
        slowest = max(self.lines[self.line_of[i]].step_samples for i in own)
        gated = [i for i in own if self.lines[self.line_of[i]].step_samples == slowest]
        for i in gated:
            if self.line_of[i] != self.reference or self.leaves[i].config.features.frontend != "speech_embedding":
                where = model.path or model.phrase
                raise ConfigError(f"{where}: a gated model's slower member must be a speech_embedding model on the slowest "
                                  "time line of everything scored together: run it in its own process")
            self.gates[i] = model.gate.for_member(self.leaves[i].config.model.gru_layers)
            self.openers[i] = np.array([j for j in own if j not in gated])

    @property
    def gated(self) -> bool:
        return any(g is not None for g in self.gates)

    def poolers(self) -> list[_Pooler | None]:
        return [None if k == self.reference else _Pooler(int((self.line_of == k).sum())) for k in range(len(self.lines))]

    def combine(self, outputs: list[tuple[np.ndarray, np.ndarray]], poolers: list[_Pooler | None]) -> Scores:
        """Per line, (step end samples, values (steps, that line's networks)): the output steps' scores."""
        ends = outputs[self.reference][0]
        return self.scores(ends, self.pool(outputs, poolers, ends))

    def pool(self, outputs: Sequence[tuple[np.ndarray, np.ndarray] | None], poolers: list[_Pooler | None], ends: np.ndarray) -> np.ndarray:
        """(steps, networks): each line's values on the output steps; zeros for a line given as None."""
        columns = np.zeros((len(ends), len(self.leaves)), dtype=np.float32)
        for k, output in enumerate(outputs):
            if output is not None:
                columns[:, self.line_of == k] = output[1] if poolers[k] is None else poolers[k].push(*output, ends)
        return columns

    def scores(self, ends: np.ndarray, columns: np.ndarray, shut: np.ndarray | None = None) -> Scores:
        """The output steps' scores from every network's column; 0 where a model's gate is `shut` (steps, networks)."""
        if len(self.models) == len(self.leaves):
            scores = columns
        else:
            scores = np.stack([fuse_scores(columns[:, self.owner == i]) for i in range(len(self.models))], axis=1)
            if shut is not None:
                for i in range(len(self.models)):
                    scores[shut[:, self.owner == i].any(axis=1), i] = 0.0
        return Scores(times=ends / self.sample_rate, values=scores)

    def gate_states(self) -> list[GateState | None]:
        return [None if g is None else GateState(g) for g in self.gates]

    def advance_gates(self, states: list[GateState | None], first: int, columns: np.ndarray) -> tuple[np.ndarray, list[list[Run]]]:
        """Steps first.. of the output line: which networks are shut, and the runs each gated one must compute."""
        shut = np.zeros(columns.shape, dtype=bool)
        runs: list[list[Run]] = [[] for _ in self.leaves]
        for i, state in enumerate(states):
            if state is not None:
                is_open, runs[i] = state.advance(first, columns[:, self.openers[i]].max(axis=1))
                shut[:, i] = ~is_open
        return shut, runs


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
        self._gates = self.plan.gate_states()
        self._fed = [0] * len(self._nets)  # the next feature step of each network on a gated line
        # Samples a gated line keeps: a warm-up reaches this many steps back.
        self._reach = max((g.warmup_steps for g in self.plan.gates if g), default=0)

    @property
    def sample_rate(self) -> int:
        return self.plan.sample_rate

    def push(self, chunk: np.ndarray) -> Scores:
        plan = self.plan
        outputs: list[tuple[np.ndarray, np.ndarray] | None] = []
        for k, (line, stream) in enumerate(zip(plan.lines, self._streams)):
            if plan.gated and k == plan.reference:
                outputs.append(None)  # after the others: the gates need their scores
                continue
            feats = stream.push(chunk)[None]
            columns = []
            for i in np.flatnonzero(plan.line_of == k):
                logits, self._states[i] = self._nets[i].step(feats, self._states[i])
                columns.append(sigmoid(logits[0]))
            values = np.stack(columns, axis=1)
            outputs.append((line.end_samples(self._steps_done[k], len(values)), values))
            self._steps_done[k] += len(values)
        if not plan.gated:
            return plan.combine(outputs, self._poolers)
        return self._push_gated_line(chunk, outputs)

    def _push_gated_line(self, chunk: np.ndarray, outputs: list) -> Scores:
        """The output line, computing each network's features only for the steps it runs."""
        plan, k = self.plan, self.plan.reference
        line, stream, first = plan.lines[k], self._streams[k], self._steps_done[k]
        n = num_steps(stream.add(chunk), line) - first
        ends = line.end_samples(first, n)
        columns = plan.pool(outputs, self._poolers, ends)
        shut, runs = plan.advance_gates(self._gates, first, columns)
        every_step = [Run(first, first + n - 1, False)] if n else []  # an ungated network beside a gated one
        for i in np.flatnonzero(plan.line_of == k):
            for run in runs[i] if self._gates[i] else every_step:
                # A warm-up reaches back before this push: those steps were scored already.
                columns[max(0, run.first - first) : run.last - first + 1, i] = self._run(i, run, stream)[max(0, first - run.first) :]
        self._steps_done[k] += n
        stream.release(max(0, (first + n - self._reach) * line.conv_stride))
        return plan.scores(ends, columns, shut)

    def _run(self, i: int, run: Run, stream) -> np.ndarray:
        """Network i's scores for output steps run.first .. run.last."""
        line = self.plan.lines[self.plan.line_of[i]]
        if run.fresh:
            self._states[i], self._fed[i] = self._nets[i].initial_state(), run.first * line.conv_stride
        stop = run.last * line.conv_stride + line.conv_kernel
        logits, self._states[i] = self._nets[i].step(stream.embed(self._fed[i], stop)[None], self._states[i])
        self._fed[i] = stop
        return sigmoid(logits[0])
