"""Audio to per-step scores, offline and streaming, for one or several models.

Models that share a feature configuration share one frontend. Scores are returned
with the audio time (seconds from stream start, at the model rate) at which each
output step's receptive field ends; this is the time an event is reported at.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .errors import ConfigError
from .features import FeatureExtractor
from .model import sigmoid, step_end_seconds
from .modelfile import LoadedModel


@dataclass
class Scores:
    times: np.ndarray  # (steps,) seconds
    values: np.ndarray  # (steps, models) probabilities


def _shared_features(models: list[LoadedModel]):
    if not models:
        raise ConfigError("no model given")
    first = models[0].config
    for m in models[1:]:
        if m.config.features != first.features or m.config.model.conv_stride != first.model.conv_stride or m.config.model.conv_kernel != first.model.conv_kernel:
            raise ConfigError(
                f"models {models[0].phrase!r} and {m.phrase!r} use different feature or time settings; run them in separate processes"
            )
    return first.features


def score_offline(models: list[LoadedModel], audio: np.ndarray) -> Scores:
    """One pass over a whole signal (mono float32 at the models' rate)."""
    features_cfg = _shared_features(models)
    feats = torch.from_numpy(FeatureExtractor(features_cfg)(audio))[None]
    with torch.no_grad():
        columns = [torch.sigmoid(m.model(feats))[0].numpy() for m in models]
    values = np.stack(columns, axis=1) if columns else np.zeros((0, 0), dtype=np.float32)
    times = step_end_seconds(np.arange(values.shape[0]), features_cfg, models[0].config.model)
    return Scores(times=times, values=values)


class StreamingScorer:
    """Feed audio chunks of any size; get the scores of every output step they complete."""

    def __init__(self, models: list[LoadedModel]):
        self.models = models
        self.features_config = _shared_features(models)
        self._features = FeatureExtractor(self.features_config).stream()
        self._nets = [m.model.streaming() for m in models]
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
