"""Experiment (docs/levers.md 25): openWakeWord's frozen speech embedding as the frontend.

Patches wakeword.features.FeatureExtractor for configs with n_mels == 96 and hop_ms == 80:
one "frame" is one 96-d embedding of 76 mel frames (32 bands, 10 ms hop, 512-sample
window) = samples [1280 n, 1280 n + 12512), i.e. window_ms 782, hop_ms 80.
"""
import os

import numpy as np
import onnxruntime as ort

import wakeword.features as F

MODELS = os.path.join(os.path.dirname(__import__("openwakeword").__file__), "resources", "models")
WIN, HOP = 12512, 1280
_sessions = {}


def _session(name):
    key = (os.getpid(), name)
    if key not in _sessions:
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = int(os.environ.get("EMB_THREADS", "1"))
        opts.inter_op_num_threads = 1
        _sessions[key] = ort.InferenceSession(os.path.join(MODELS, name), opts, providers=["CPUExecutionProvider"])
    return _sessions[key]


def embed(audio: np.ndarray) -> np.ndarray:
    """One embedding per 12512-sample window, its mel spectrogram computed from that
    window alone: the mel model clips at 80 dB below the loudest frame of its input, so a
    longer input gives other features (measured: up to 20 units apart). Per window is
    chunk-invariant by construction, as a stream needs."""
    if len(audio) < WIN:
        return np.zeros((0, 96), dtype=np.float32)
    from numpy.lib.stride_tricks import sliding_window_view
    n = (len(audio) - WIN) // HOP + 1
    x = np.asarray(audio, dtype=np.float32) * 32767.0
    windows = sliding_window_view(x[: (n - 1) * HOP + WIN], WIN)[::HOP]
    out = []
    for k in range(0, n, 256):
        mel = _session("melspectrogram.onnx").run(None, {"input": np.ascontiguousarray(windows[k : k + 256])})[0]  # (b, 1, 76, 32)
        mel = (mel[:, 0] / 10.0 + 2.0)[..., None].astype(np.float32)
        out.append(_session("embedding_model.onnx").run(None, {"input_1": mel})[0].reshape(-1, 96))
    return np.concatenate(out).astype(np.float32)


_orig_call = F.FeatureExtractor.__call__


def _is_emb(config):
    return config.n_mels == 96 and config.hop_ms == 80


def patched_call(self, audio):
    if _is_emb(self.config):
        return embed(audio)
    return _orig_call(self, audio)


F.FeatureExtractor.__call__ = patched_call
