"""The trained network as plain numpy, for live audio, and the time line of its outputs.

The network is a Conv1D front + stacked unidirectional GRUs + a per-step sigmoid
(`wakeword.model.WakewordModel`, torch, trains it). This module reads the same weights
(a torch `state_dict` as numpy arrays, the model file's content) and steps them over
feature chunks. It imports nothing from torch: the listener runs on it alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from .config import FeatureConfig, ModelConfig

# torch's BatchNorm1d default, which `WakewordModel` uses; folding needs it, the state_dict lacks it.
BATCH_NORM_EPS = 1e-5
# Batch-norm statistics: in the state_dict, but not parameters (torch counts them as buffers).
_BUFFERS = ("running_mean", "running_var", "num_batches_tracked")


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


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def weight_shapes(n_features: int, config: ModelConfig) -> dict[str, tuple[int, ...]]:
    """Every state_dict entry of `WakewordModel(n_features, config)` and its shape."""
    def norm(prefix: str, size: int) -> dict[str, tuple[int, ...]]:
        return {f"{prefix}.weight": (size,), f"{prefix}.bias": (size,), f"{prefix}.running_mean": (size,),
                f"{prefix}.running_var": (size,), f"{prefix}.num_batches_tracked": ()}

    c, h = config.conv_channels, config.gru_hidden
    shapes = {"conv.weight": (c, n_features, config.conv_kernel), "conv.bias": (c,), **norm("conv_norm", c)}
    for i in range(config.gru_layers):
        shapes |= {f"grus.{i}.weight_ih_l0": (3 * h, c if i == 0 else h), f"grus.{i}.weight_hh_l0": (3 * h, h),
                   f"grus.{i}.bias_ih_l0": (3 * h,), f"grus.{i}.bias_hh_l0": (3 * h,), **norm(f"gru_norms.{i}", h)}
    return shapes | {"head.weight": (1, config.head_width), "head.bias": (1,)}


def check_weights(weights: Mapping[str, np.ndarray], n_features: int, config: ModelConfig) -> None:
    """ValueError naming the first entry that is missing, extra or of another shape."""
    expected = weight_shapes(n_features, config)
    for name in sorted(expected.keys() | weights.keys()):
        if name not in weights:
            raise ValueError(f"missing weights {name}")
        if name not in expected:
            raise ValueError(f"unexpected weights {name}")
        if tuple(np.shape(weights[name])) != expected[name]:
            raise ValueError(f"weights {name} are {tuple(np.shape(weights[name]))}, the config needs {expected[name]}")


def count_parameters(weights: Mapping[str, np.ndarray]) -> int:
    """Trainable parameters (torch's `numel` over `parameters()`): the state_dict less its buffers."""
    return sum(int(np.size(v)) for k, v in weights.items() if not k.endswith(_BUFFERS))


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


@dataclass(frozen=True)
class StreamingModel:
    """The network in inference mode, folded for live audio.

    A live stream feeds a step or two at a time, where a framework's per-call overhead
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
    def fold(cls, weights: Mapping[str, np.ndarray], n_features: int, config: ModelConfig) -> StreamingModel:
        """From a `WakewordModel` state_dict (numpy arrays); ValueError if it is not one of this config."""
        check_weights(weights, n_features, config)
        w = {k: np.asarray(v, dtype=np.float64) for k, v in weights.items()}  # fold in float64, round once

        def affine(norm: str) -> tuple[np.ndarray, np.ndarray]:
            scale = w[f"{norm}.weight"] / np.sqrt(w[f"{norm}.running_var"] + BATCH_NORM_EPS)
            return scale, w[f"{norm}.bias"] - w[f"{norm}.running_mean"] * scale

        scale, shift = affine("conv_norm")
        conv_w = w["conv.weight"] * scale[:, None, None]  # (channels, n_features, kernel)
        conv_b = w["conv.bias"] * scale + shift
        layers, prev = [], None  # prev: the batch norm that feeds this layer
        for i in range(config.gru_layers):
            w_ih, b_ih = w[f"grus.{i}.weight_ih_l0"], w[f"grus.{i}.bias_ih_l0"]
            if prev is not None:
                w_ih, b_ih = w_ih * prev[0][None, :], b_ih + w_ih @ prev[1]
            layers.append(_GRULayer(*(np.ascontiguousarray(a, dtype=np.float32) for a in
                                      (w_ih.T, b_ih, w[f"grus.{i}.weight_hh_l0"].T, w[f"grus.{i}.bias_hh_l0"]))))
            prev = affine(f"gru_norms.{i}")
        head_w, head_b = w["head.weight"][0], w["head.bias"][0]
        if prev is not None:
            head_w, head_b = head_w * prev[0], head_b + head_w @ prev[1]
        return cls(
            config=config,
            n_features=n_features,
            # Rows ordered frame-major, to match a window of frames flattened as (kernel, n_features).
            conv_w=np.ascontiguousarray(conv_w.transpose(2, 1, 0).reshape(-1, conv_w.shape[0]), dtype=np.float32),
            conv_b=conv_b.astype(np.float32),
            grus=tuple(layers),
            head_w=head_w.astype(np.float32),
            head_b=float(head_b),
        )

    def initial_state(self, batch: int = 1) -> StreamState:
        return StreamState(
            pending=np.zeros((batch, 0, self.n_features), dtype=np.float32),
            hidden=[np.zeros((batch, layer.w_hh.shape[0]), dtype=np.float32) for layer in self.grus],
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
