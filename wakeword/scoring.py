"""Audio to per-step scores, streaming, for one or several models (numpy only: the listener's).

Models that share a feature configuration share one frontend. The torch reference of the
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
from .features import FRONTENDS
from .modelfile import LoadedModel
from .streaming_model import sigmoid, step_end_seconds


@dataclass
class Scores:
    times: np.ndarray  # (steps,) seconds
    values: np.ndarray  # (steps, models) probabilities


def shared_features(models: Sequence[LoadedModel]) -> FeatureConfig:
    """The one feature configuration (and time line) of several models, or ConfigError."""
    if not models:
        raise ConfigError("no model given")
    first = models[0]
    for m in models[1:]:
        if (m.frontend, m.config.features) != (first.frontend, first.config.features) or \
                (m.config.model.conv_stride, m.config.model.conv_kernel) != (first.config.model.conv_stride, first.config.model.conv_kernel):
            raise ConfigError(
                f"models {first.phrase!r} and {m.phrase!r} use different feature or time settings; run them in separate processes"
            )
    return first.config.features


class StreamingScorer:
    """Feed audio chunks of any size; get the scores of every output step they complete."""

    def __init__(self, models: list[LoadedModel]):
        self.models = models
        self.features_config = shared_features(models)
        self._features = FRONTENDS[models[0].frontend](self.features_config).stream()
        self._nets = [m.network for m in models]
        self._states = [net.initial_state() for net in self._nets]
        self._steps_done = 0

    @property
    def sample_rate(self) -> int:
        return self.features_config.sample_rate

    def push(self, chunk: np.ndarray) -> Scores:
        feats = self._features.push(chunk)[None]
        columns = []
        for i, net in enumerate(self._nets):
            logits, self._states[i] = net.step(feats, self._states[i])
            columns.append(sigmoid(logits[0]))
        n = len(columns[0])
        steps = np.arange(self._steps_done, self._steps_done + n)
        self._steps_done += n
        return Scores(
            times=step_end_seconds(steps, self.features_config, self.models[0].config.model),
            values=np.stack(columns, axis=1),
        )
