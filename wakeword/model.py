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

    def streaming(self) -> StreamingModel:
        """The inference-mode weights, folded for streaming (see `StreamingModel`)."""
        return StreamingModel.fold(self)


@dataclass
class StreamState:
    """What `StreamingModel.step` carries between chunks."""

    pending: np.ndarray  # (batch, frames not yet consumed by the convolution, n_mels)
    hidden: list[np.ndarray]  # one (batch, hidden) per GRU layer


@dataclass(frozen=True)
class _GRULayer:
    w_ih: np.ndarray  # (in, 3 * hidden), gates r, z, n as in torch
    b_ih: np.ndarray
    w_hh: np.ndarray  # (hidden, 3 * hidden)
    b_hh: np.ndarray


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


@dataclass(frozen=True)
class StreamingModel:
    """`WakewordModel` in inference mode as plain numpy, for live audio.

    A live stream feeds a step or two at a time, where torch's per-call overhead
    dominates the arithmetic. Here each batch norm is folded into the layer it feeds
    (dropout is the identity at inference), the convolution is one matrix product over
    the frames it needs, and the GRU cells are written out, which keeps the cost per
    80 ms chunk low. It gives the outputs of `WakewordModel.forward` to float32
    rounding, for any chunking, carrying the convolution's left context and the GRU
    states in `StreamState`.
    """

    config: ModelConfig
    n_features: int
    conv_w: np.ndarray  # (kernel * n_features, channels)
    conv_b: np.ndarray
    grus: tuple[_GRULayer, ...]
    head_w: np.ndarray  # (hidden,)
    head_b: float

    @classmethod
    def fold(cls, model: WakewordModel) -> StreamingModel:
        def affine(norm: nn.BatchNorm1d) -> tuple[np.ndarray, np.ndarray]:
            scale = norm.weight / torch.sqrt(norm.running_var + norm.eps)
            return scale, norm.bias - norm.running_mean * scale

        with torch.no_grad():
            scale, shift = affine(model.conv_norm)
            conv_w = model.conv.weight * scale[:, None, None]  # (channels, n_features, kernel)
            conv_b = model.conv.bias * scale + shift
            layers, prev = [], None  # prev: the batch norm that feeds this layer
            for gru, norm in zip(model.grus, model.gru_norms):
                w_ih, b_ih = gru.weight_ih_l0, gru.bias_ih_l0
                if prev is not None:
                    w_ih, b_ih = w_ih * prev[0][None, :], b_ih + w_ih @ prev[1]
                layers.append(_GRULayer(*(t.T.contiguous().numpy().astype(np.float32) if t.dim() == 2 else t.numpy().astype(np.float32)
                                          for t in (w_ih, b_ih, gru.weight_hh_l0, gru.bias_hh_l0))))
                prev = affine(norm)
            head_w = model.head.weight[0] * prev[0]
            head_b = model.head.bias[0] + model.head.weight[0] @ prev[1]
            return cls(
                config=model.config,
                n_features=model.conv.in_channels,
                # Rows ordered frame-major, to match a window of frames flattened as (kernel, n_features).
                conv_w=conv_w.permute(2, 1, 0).reshape(-1, conv_w.shape[0]).numpy().astype(np.float32),
                conv_b=conv_b.numpy().astype(np.float32),
                grus=tuple(layers),
                head_w=head_w.numpy().astype(np.float32),
                head_b=float(head_b),
            )

    def initial_state(self, batch: int = 1) -> StreamState:
        hidden = self.grus[0].w_hh.shape[0]
        return StreamState(
            pending=np.zeros((batch, 0, self.n_features), dtype=np.float32),
            hidden=[np.zeros((batch, hidden), dtype=np.float32) for _ in self.grus],
        )

    def step(self, features: np.ndarray, state: StreamState) -> tuple[np.ndarray, StreamState]:
        """Logits (batch, steps) for the output steps these frames (batch, frames, n_features) complete."""
        c = self.config
        frames = np.concatenate([state.pending, np.asarray(features, dtype=np.float32)], axis=1)
        batch, n = frames.shape[0], num_steps(frames.shape[1], c)
        if n == 0:
            return np.zeros((batch, 0), dtype=np.float32), StreamState(frames, state.hidden)
        starts = np.arange(n) * c.conv_stride
        windows = frames[:, starts[:, None] + np.arange(c.conv_kernel)]  # (batch, n, kernel, n_features)
        x = np.maximum(windows.reshape(batch, n, -1) @ self.conv_w + self.conv_b, 0.0)
        hidden = []
        for layer, h in zip(self.grus, state.hidden):
            gi = x @ layer.w_ih + layer.b_ih  # every step's input projection at once
            size = h.shape[1]
            out = np.empty((batch, n, size), dtype=np.float32)
            for t in range(n):
                gh = h @ layer.w_hh + layer.b_hh
                r = sigmoid(gi[:, t, :size] + gh[:, :size])
                z = sigmoid(gi[:, t, size : 2 * size] + gh[:, size : 2 * size])
                cand = np.tanh(gi[:, t, 2 * size :] + r * gh[:, 2 * size :])
                h = cand + z * (h - cand)
                out[:, t] = h
            hidden.append(h)
            x = out
        logits = x @ self.head_w + self.head_b
        return logits.astype(np.float32), StreamState(frames[:, n * c.conv_stride :], hidden)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
