"""The speech_embedding frontend (wakeword.embedding) with openWakeWord's real feature models."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from detect_fixtures import SMALL, one_line_error, wakeword_python
from synth.dataset import generate, load_inputs
from synth_fixtures import clip_folders, speak, tiny_config  # noqa: F401 (fixture)
from wakeword import embedding
from wakeword.audio import write_wav
from wakeword.config import SPEECH_EMBEDDING_FEATURES, Config, FeatureConfig, TrainConfig
from wakeword.dataset import load_dataset
from wakeword.errors import ConfigError
from wakeword.features import frontend_for, num_frames
from wakeword.model import WakewordModel, save_model, score_offline
from wakeword.modelfile import load_model
from wakeword.scoring import StreamingScorer
from wakeword.training import train

FEATURES = FeatureConfig(frontend="speech_embedding", **SPEECH_EMBEDDING_FEATURES)
CONFIG = dataclasses.replace(Config(), features=FEATURES, model=dataclasses.replace(SMALL, conv_kernel=3, conv_stride=1),
                             train=dataclasses.replace(TrainConfig(), vocal_tract_warp=(1.0, 1.0)))


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    """7 s of quiet noise with two phrases in it, at 16 kHz."""
    rng = np.random.default_rng(0)
    audio = rng.standard_normal(7 * 16000).astype(np.float32) * 0.003
    for start_s, text in ((1.0, "activate"), (4.0, "hello there")):
        said = speak(text, "en-us")
        audio[int(start_s * 16000) : int(start_s * 16000) + len(said)] += 0.5 * said
    return audio


def test_the_time_line_is_the_configs():
    assert (embedding.WINDOW_SAMPLES, embedding.BLOCK, embedding.DIM) == (FEATURES.win_length, FEATURES.hop_length, FEATURES.n_mels)
    frontend = frontend_for(FEATURES)
    noise = np.random.default_rng(1).standard_normal(40000).astype(np.float32) * 0.01
    for n in (0, 13151, 13152, 13152 + 1279, 13152 + 1280, 40000):
        assert frontend(noise[:n]).shape == (num_frames(n, FEATURES), 96)


def test_a_stream_in_any_chunking_gives_the_offline_features(speech):
    offline = frontend_for(FEATURES)(speech)
    rng = np.random.default_rng(2)
    stream, got, at = frontend_for(FEATURES).stream(), [], 0
    while at < len(speech):
        size = int(rng.choice([1, 7, 160, 1280, 1500, 5000]))
        got.append(stream.push(speech[at : at + size]))
        at += size
    streamed = np.concatenate(got)
    assert streamed.shape == offline.shape
    np.testing.assert_allclose(streamed, offline, atol=1e-4)


def test_a_loud_sound_later_leaves_earlier_steps_as_they_were(speech):
    """The mel model clips relative to its loudest input frame: per block, that never reaches back."""
    loud = speech.copy()
    loud[-16000:] += np.sin(np.arange(16000) * 0.3).astype(np.float32) * 0.9
    quiet_steps, loud_steps = frontend_for(FEATURES)(speech), frontend_for(FEATURES)(loud)
    untouched = num_frames(len(speech) - 16000, FEATURES)
    np.testing.assert_array_equal(quiet_steps[:untouched], loud_steps[:untouched])
    assert not np.allclose(quiet_steps[untouched:], loud_steps[untouched:], atol=1e-2)


def test_speech_moves_the_embedding_and_quiet_noise_does_not(speech):
    steps = frontend_for(FEATURES)(speech)
    times = (np.arange(len(steps)) * 1280 + 13152) / 16000
    in_noise, in_speech = steps[times < 1.0], steps[(times > 1.8) & (times < 2.3)]
    assert np.abs(np.diff(in_noise, axis=0)).mean() < 0.5 * np.abs(in_speech - in_noise.mean(0)).mean()


def test_the_config_names_what_the_frontend_fixes():
    with pytest.raises(ConfigError, match=r"fixes sample_rate: 16000, window_ms: 822, hop_ms: 80, n_mels: 96.*not window_ms: 25"):
        dataclasses.replace(CONFIG, features=FeatureConfig(frontend="speech_embedding")).validate()
    with pytest.raises(ConfigError, match="vocal_tract_warp"):
        dataclasses.replace(CONFIG, train=TrainConfig()).validate()
    with pytest.raises(ConfigError, match="features.frontend must be one of mel, speech_embedding"):
        FeatureConfig(frontend="wav2vec").validate()
    CONFIG.validate()


def test_a_model_over_the_embedding_streams_the_scores_of_offline_inference(tmp_path, speech):
    torch.manual_seed(0)
    net = WakewordModel(96, CONFIG.model).eval()
    save_model(tmp_path / "emb.npz", net, CONFIG, 0.5)
    loaded = load_model(tmp_path / "emb.npz")
    assert loaded.frontend == "speech_embedding"
    offline = score_offline([loaded], speech)
    scorer, parts = StreamingScorer([loaded]), []
    for start in range(0, len(speech), 3333):
        parts.append(scorer.push(speech[start : start + 3333]).values)
    np.testing.assert_allclose(np.concatenate(parts), offline.values, atol=1e-4)
    assert offline.times[0] == pytest.approx((13152 + 2 * 1280) / 16000)  # the window, then two more steps of the kernel-3 conv


def test_a_broken_openwakeword_install_is_one_line(tmp_path, speech):
    torch.manual_seed(0)
    save_model(tmp_path / "emb.npz", WakewordModel(96, CONFIG.model).eval(), CONFIG, 0.5)
    write_wav(tmp_path / "speech.wav", speech, 16000)
    shadow = tmp_path / "shadow" / "openwakeword"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("")  # a package without its feature models
    run = wakeword_python("detect", "--model", str(tmp_path / "emb.npz"), str(tmp_path / "speech.wav"), pythonpath=shadow.parent)
    assert run.returncode == 9
    assert "melspectrogram.onnx is missing" in one_line_error(run)


def test_generate_and_train_make_a_model_on_the_embedding(clip_folders, tmp_path):
    """The whole path with forked workers (each opens its own onnxruntime sessions)."""
    tiny = tiny_config()
    config = dataclasses.replace(tiny, features=FEATURES, model=dataclasses.replace(tiny.model, conv_kernel=3, conv_stride=1),
                                 train=dataclasses.replace(tiny.train, vocal_tract_warp=(1.0, 1.0), time_mask_width=3, epochs=2))
    inputs = load_inputs(16000, [clip_folders["positives"]], [clip_folders["negatives"]])
    generate(config, inputs, tmp_path / "data", workers=2, progress=False)
    split = load_dataset(tmp_path / "data").splits["train"]
    assert split.features.shape[1:] == (num_frames(int(config.synth.clip_s * 16000), FEATURES), 96)
    train(config, tmp_path / "data", tmp_path / "run", device="cpu", log=lambda line: None)
    loaded = load_model(tmp_path / "run" / "model.npz")
    assert loaded.frontend == "speech_embedding" and loaded.config.features == FEATURES
