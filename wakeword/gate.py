"""A fused model's costly member, run only where its cheap partner hears something.

The speech embedding costs 1.6 ms of CPU every 80 ms, seven times the log-mel model
(docs/levers.md 26), and at the thresholds that matter the pair only accepts where the
log-mel score is already high. So a gated pair runs the embedding member only around
the steps where the other members' score (pooled onto its steps) reaches
`Gate.threshold`: the gate opens at such a step and stays open `hold_steps` after the
last one. Where it is shut the pair scores 0.

The member's GRU starts from a fresh state `warmup_steps` before an opening, as it
started every training clip, and hears those steps first; an opening within that reach
of the last computed step continues its state instead. A member without GRUs (a window
head, `model.gru_layers: 0`) keeps nothing past its window, so it runs with no warm-up
and, where the gate is open, scores what it scores ungated. Which steps run, and from which
state, depends only on the opener's scores so far, so a stream gives the same scores as
one pass over the whole signal (`GateState.advance` is the rule, for both).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from .errors import ConfigError


@dataclass(frozen=True)
class Gate:
    threshold: float  # the opener's score (a probability) that opens the gate
    warmup_steps: int = 25  # steps heard from a fresh state before an opening (2 s at 80 ms)
    hold_steps: int = 12  # steps the gate stays open after the opener last reached the threshold

    def __post_init__(self) -> None:
        if not 0 < self.threshold < 1:
            raise ConfigError(f"the gate's threshold must be in (0, 1), not {self.threshold:g}")
        if self.warmup_steps < 0 or self.hold_steps < 0:
            raise ConfigError("the gate's warmup_steps and hold_steps must be >= 0")

    def for_member(self, gru_layers: int) -> Gate:
        """This gate as a member with `gru_layers` GRUs runs behind it."""
        return self if gru_layers else replace(self, warmup_steps=0)

    def to_dict(self) -> dict[str, Any]:
        return {"threshold": self.threshold, "warmup_steps": self.warmup_steps, "hold_steps": self.hold_steps}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Gate:
        return cls(float(data["threshold"]), int(data["warmup_steps"]), int(data["hold_steps"]))


@dataclass(frozen=True)
class Run:
    """Output steps [first, last] of the gated member to compute; `fresh`: from a new state."""

    first: int
    last: int
    fresh: bool


@dataclass
class GateState:
    """Where the gate is, across pushes: the last opening step and the last computed one."""

    gate: Gate
    _last_open: int | None = None  # last step whose opener score reached the threshold
    _computed: int = -1  # last output step the member has computed (its state is after it)

    def advance(self, first: int, opener: np.ndarray) -> tuple[np.ndarray, list[Run]]:
        """Steps first .. first + len(opener) - 1: which are open, and the member's runs to compute them.

        Runs come in order, merged; a run that is not fresh continues the state the
        previous one left (in this call or an earlier one).
        """
        g = self.gate
        is_open = np.zeros(len(opener), dtype=bool)
        runs: list[Run] = []
        for k, score in enumerate(opener):
            step = first + k
            if score >= g.threshold:
                self._last_open = step
            if self._last_open is None or step - self._last_open > g.hold_steps:
                continue
            is_open[k] = True
            start = max(0, step - g.warmup_steps)
            fresh = self._computed < start - 1
            runs.append(Run(start if fresh else self._computed + 1, step, fresh))
            self._computed = step
        return is_open, merged(runs)


def merged(runs: list[Run]) -> list[Run]:
    """Consecutive runs as one wherever the later goes on from the earlier's state."""
    out: list[Run] = []
    for run in runs:
        if out and not run.fresh and out[-1].last == run.first - 1:
            out[-1] = Run(out[-1].first, run.last, out[-1].fresh)
        else:
            out.append(run)
    return out
