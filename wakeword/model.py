"""Conv1D front + stacked unidirectional GRUs + per-step sigmoid, in torch: the training
side and the reference the numpy runtime (`wakeword.streaming_model`) is checked against.
With `model.gru_layers: 0` the head reads the convolution alone: a stateless window
classifier, openWakeWord's kind of head (one hidden layer over a fixed window of steps).

Two modes over the same weights: `forward(features)` for training and offline scoring,
and `streaming()`, the numpy `StreamingModel` for live audio, which carries the
convolution's left context and the GRU hidden states and gives the same outputs for
any chunking.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .config import Config, ModelConfig
from .features import frontend_for
from .gate import merged
from .modelfile import ScoredModel, write_model
from .scoring import Scores, ScoringPlan
from .streaming_model import BATCH_NORM_EPS, StreamingModel


class WakewordModel(nn.Module):
    def __init__(self, n_features: int, config: ModelConfig):
        super().__init__()
        self.config = config
        self.conv = nn.Conv1d(n_features, config.conv_channels, config.conv_kernel, stride=config.conv_stride)
        self.conv_norm = nn.BatchNorm1d(config.conv_channels, eps=BATCH_NORM_EPS)
        self.dropout = nn.Dropout(config.dropout)
        sizes = [config.conv_channels] + [config.gru_hidden] * config.gru_layers
        self.grus = nn.ModuleList(nn.GRU(i, o, batch_first=True) for i, o in zip(sizes[:-1], sizes[1:]))
        self.gru_norms = nn.ModuleList(nn.BatchNorm1d(config.gru_hidden, eps=BATCH_NORM_EPS) for _ in range(config.gru_layers))
        self.head = nn.Linear(config.head_width, 1)

    def _front(self, features: torch.Tensor) -> torch.Tensor:
        x = self.conv(features.transpose(1, 2))  # (batch, channels, steps)
        x = torch.relu(self.conv_norm(x))
        return self.dropout(x).transpose(1, 2)

    def _recurrent(self, x: torch.Tensor, hidden: list[torch.Tensor | None]) -> tuple[torch.Tensor, list[torch.Tensor]]:
        new_hidden = []
        for gru, norm, h in zip(self.grus, self.gru_norms, hidden):
            x, h = gru(x, h)
            new_hidden.append(h)
            x = norm(self.dropout(x).transpose(1, 2)).transpose(1, 2)
        if self.grus:  # without GRUs the front's dropout is the head's input dropout already
            x = self.dropout(x)
        return self.head(x).squeeze(-1), new_hidden

    def forward(self, features: torch.Tensor, hidden: list[torch.Tensor] | None = None) -> torch.Tensor:
        """Logits (batch, steps) for features (batch, frames, n_mels)."""
        return self.forward_with_state(features, hidden)[0]

    def forward_with_state(
        self, features: torch.Tensor, hidden: list[torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """`forward` plus the GRU states it ends with, for training that carries them on."""
        if features.shape[1] < self.config.conv_kernel:
            batch = features.shape[0]
            return features.new_zeros((batch, 0)), hidden or [features.new_zeros(1, batch, self.config.gru_hidden) for _ in self.grus]
        return self._recurrent(self._front(features), hidden or [None] * len(self.grus))

    def streaming(self) -> StreamingModel:
        """The inference-mode weights, folded for streaming (see `StreamingModel`)."""
        return StreamingModel.fold(weights_of(self), self.conv.in_channels, self.config)

    @classmethod
    def from_weights(cls, weights: Mapping[str, np.ndarray], n_features: int, config: ModelConfig) -> WakewordModel:
        """The model of a state_dict held as numpy arrays (a model file's), in inference mode."""
        model = cls(n_features, config)
        model.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in weights.items()})
        return model.eval()


def weights_of(model: WakewordModel) -> dict[str, np.ndarray]:
    """The state_dict as numpy arrays: what a model file stores."""
    return {k: v.detach().cpu().numpy().copy() for k, v in model.state_dict().items()}


def save_model(
    path: str | Path,
    model: WakewordModel,
    config: Config,
    threshold: float,
    data_manifest_sha256: str = "",
    metrics: dict[str, Any] | None = None,
) -> None:
    """A trained model as a runtime model file (`wakeword.modelfile`), which torch reads back too."""
    write_model(path, weights_of(model), config, threshold, data_manifest_sha256, metrics or {},
                torch_version=str(torch.__version__))


def score_offline(models: Sequence[ScoredModel], audio: np.ndarray) -> Scores:
    """One pass of torch's `forward` over a whole signal (mono float32 at the models' rate):
    many clips at once for mining and evaluation, and the reference for the streaming path."""
    plan = ScoringPlan(models)
    outputs, feats = [], []
    for k, line in enumerate(plan.lines):
        feats.append(torch.from_numpy(frontend_for(line.features)(audio))[None])
        with torch.no_grad():
            columns = [torch.sigmoid(plan.leaves[i].model(feats[k]))[0].numpy() for i in np.flatnonzero(plan.line_of == k)]
        values = np.stack(columns, axis=1)
        outputs.append((line.end_samples(0, len(values)), values))
    if not plan.gated:
        return plan.combine(outputs, plan.poolers())
    line, ends = plan.lines[plan.reference], outputs[plan.reference][0]
    columns = plan.pool(outputs, plan.poolers(), ends)
    shut, runs = plan.advance_gates(plan.gate_states(), 0, columns)
    for i, leaf_runs in enumerate(runs):
        for run in merged(leaf_runs):  # over the whole signal, each run is from a fresh state
            part = feats[plan.reference][:, run.first * line.conv_stride : run.last * line.conv_stride + line.conv_kernel]
            with torch.no_grad():
                columns[run.first : run.last + 1, i] = torch.sigmoid(plan.leaves[i].model(part))[0].numpy()
    return plan.scores(ends, columns, shut)
