"""Conv1D front + stacked unidirectional GRUs + per-step sigmoid.

Two modes over the same weights: `forward(features)` for training and offline scoring,
and `step(features_chunk, state)` for live audio, which carries the convolution's
left context and the GRU hidden states and gives the same outputs for any chunking.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .config import FeatureConfig, ModelConfig


def num_steps(n_frames: int, config: ModelConfig) -> int:
    """Output steps the model produces for `n_frames` feature frames."""
    if n_frames < config.conv_kernel:
        return 0
    return (n_frames - config.conv_kernel) // config.conv_stride + 1


def step_end_samples(steps: np.ndarray, features: FeatureConfig, model: ModelConfig) -> np.ndarray:
    """Sample index just past the last audio sample output step m has seen."""
    last_frame = np.asarray(steps) * model.conv_stride + model.conv_kernel - 1
    return last_frame * features.hop_length + features.win_length


def step_end_seconds(steps: np.ndarray, features: FeatureConfig, model: ModelConfig) -> np.ndarray:
    return step_end_samples(steps, features, model) / features.sample_rate


@dataclass
class StreamState:
    """What `WakewordModel.step` carries between chunks."""

    pending: torch.Tensor  # (batch, frames not yet consumed by the convolution, n_mels)
    hidden: list[torch.Tensor]  # one (1, batch, hidden) per GRU layer


class WakewordModel(nn.Module):
    def __init__(self, n_features: int, config: ModelConfig):
        super().__init__()
        self.config = config
        self.conv = nn.Conv1d(n_features, config.conv_channels, config.conv_kernel, stride=config.conv_stride)
        self.conv_norm = nn.BatchNorm1d(config.conv_channels)
        self.dropout = nn.Dropout(config.dropout)
        sizes = [config.conv_channels] + [config.gru_hidden] * config.gru_layers
        self.grus = nn.ModuleList(nn.GRU(i, o, batch_first=True) for i, o in zip(sizes[:-1], sizes[1:]))
        self.gru_norms = nn.ModuleList(nn.BatchNorm1d(config.gru_hidden) for _ in range(config.gru_layers))
        self.head = nn.Linear(config.gru_hidden, 1)

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
        return self.head(self.dropout(x)).squeeze(-1), new_hidden

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

    def initial_state(self, batch: int = 1) -> StreamState:
        n_features = self.conv.in_channels
        return StreamState(
            pending=torch.zeros(batch, 0, n_features),
            hidden=[torch.zeros(1, batch, self.config.gru_hidden) for _ in self.grus],
        )

    @torch.no_grad()
    def step(self, features: torch.Tensor, state: StreamState) -> tuple[torch.Tensor, StreamState]:
        """Streaming mode: logits for the output steps these frames complete."""
        c = self.config
        frames = torch.cat([state.pending, features], dim=1)
        n = num_steps(frames.shape[1], c)
        if n == 0:
            return frames.new_zeros((frames.shape[0], 0)), StreamState(frames, state.hidden)
        used = (n - 1) * c.conv_stride + c.conv_kernel
        logits, hidden = self._recurrent(self._front(frames[:, :used]), state.hidden)
        return logits, StreamState(frames[:, n * c.conv_stride :], hidden)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
