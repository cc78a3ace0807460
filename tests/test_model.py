"""The model's two modes agree for any chunking, and the default model stays small."""

from __future__ import annotations

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from wakeword.config import Config, FeatureConfig, ModelConfig
from wakeword.model import WakewordModel, save_model, score_offline, weights_of
from wakeword.modelfile import LoadedModel
from wakeword.scoring import StreamingScorer
from wakeword.streaming_model import count_parameters, num_steps, weight_shapes

TOLERANCE = 1e-4


# Chunk sizes with the edge cases (nothing, a single frame or sample) drawn often.
def _chunk_sizes(largest: int):
    return st.lists(st.one_of(st.just(0), st.just(1), st.integers(2, largest)), max_size=25)


@st.composite
def model_configs(draw) -> ModelConfig:
    kernel = draw(st.integers(1, 10))
    return ModelConfig(
        conv_channels=draw(st.integers(1, 12)),
        conv_kernel=kernel,
        conv_stride=draw(st.integers(1, kernel)),
        gru_hidden=draw(st.integers(1, 12)),
        gru_layers=draw(st.integers(0, 3)),  # 0: the stateless window head
        dropout=0.3,
    )


def _model(n_mels: int, config: ModelConfig, seed: int) -> WakewordModel:
    """Random weights and batch-norm statistics, in inference mode."""
    torch.manual_seed(seed)
    model = WakewordModel(n_mels, config)
    for norm in (model.conv_norm, *model.gru_norms):
        norm.running_mean.uniform_(-1, 1)
        norm.running_var.uniform_(0.2, 3)
    return model.eval()


@settings(max_examples=40, deadline=None)
@given(config=model_configs(), n_mels=st.integers(1, 8), frames=st.integers(0, 60), batch=st.integers(1, 2),
       seed=st.integers(0, 2**16), sizes=_chunk_sizes(15))
def test_step_on_feature_chunks_equals_forward(config, n_mels, frames, batch, seed, sizes):
    model = _model(n_mels, config, seed)
    features = torch.randn(batch, frames, n_mels, generator=torch.Generator().manual_seed(seed)) * 3
    with torch.no_grad():
        offline = model(features)
    net = model.streaming()
    state, outputs, at = net.initial_state(batch), [], 0
    for size in [*sizes, frames]:  # the last chunk is whatever is left
        logits, state = net.step(features[:, at : at + size].numpy(), state)
        outputs.append(torch.from_numpy(logits))
        at = min(at + size, frames)
    streamed = torch.cat(outputs, dim=1)
    assert streamed.shape == offline.shape == (batch, num_steps(frames, config))
    assert torch.allclose(streamed, offline, atol=TOLERANCE, rtol=0)


@settings(max_examples=16, deadline=None)
@given(normalization=st.sampled_from(["log", "pcen"]), config=model_configs(), seconds=st.floats(0, 1.0),
       level_db=st.floats(-60, 0), seed=st.integers(0, 2**16), sizes=_chunk_sizes(4000))
def test_streaming_scorer_on_audio_chunks_equals_offline(normalization, config, seconds, level_db, seed, sizes):
    features = FeatureConfig(n_mels=8, normalization=normalization)
    loaded = LoadedModel(Config(features=features, model=config), 0.5, weights_of(_model(features.n_mels, config, seed)))
    rng = np.random.default_rng(seed)
    n = int(seconds * features.sample_rate)
    t = np.arange(n) / features.sample_rate
    audio = (10 ** (level_db / 20) * (0.5 * np.sin(2 * np.pi * 440 * t) + 0.3 * rng.standard_normal(n))).astype(np.float32)

    offline = score_offline([loaded], audio)
    scorer, times, values, at = StreamingScorer([loaded]), [], [], 0
    for size in [*sizes, n]:
        scores = scorer.push(audio[at : at + size])
        times.append(scores.times)
        values.append(scores.values)
        at = min(at + size, n)
    streamed_times, streamed = np.concatenate(times), np.concatenate(values)
    assert streamed.shape == offline.values.shape
    np.testing.assert_array_equal(streamed_times, offline.times)
    assert np.max(np.abs(streamed - offline.values), initial=0.0) <= TOLERANCE


def test_default_model_is_small(tmp_path):
    config = Config()
    model = WakewordModel(config.features.n_mels, config.model)
    assert count_parameters(weights_of(model)) == sum(p.numel() for p in model.parameters()) < 500_000
    save_model(tmp_path / "default.npz", model, config, threshold=0.5)
    assert (tmp_path / "default.npz").stat().st_size < 2_000_000


@settings(max_examples=20, deadline=None)
@given(config=model_configs(), n_mels=st.integers(1, 8))
def test_the_runtime_knows_every_weight_of_the_torch_model(config, n_mels):
    """The numpy side states the architecture's shapes itself (it cannot ask torch): they must agree."""
    torch_shapes = {k: tuple(v.shape) for k, v in WakewordModel(n_mels, config).state_dict().items()}
    assert weight_shapes(n_mels, config) == torch_shapes
