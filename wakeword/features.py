"""The one spectrogram frontend: synthesis, training, offline and streaming inference.

Frame n covers samples [n * hop, n * hop + win). Frames are only ever made from
whole windows (`center=False`), so a stream fed in any chunking yields exactly the
frames of one pass over the whole signal. PCEN's smoother is a first-order IIR
filter whose state is carried between chunks for the same reason.

Numpy only, since the listener runs it: the mel filterbank is librosa's Slaney-style
one (`librosa.filters.mel`, which the bundled model was trained with) and the window
scipy's periodic Hann, both written out here and checked against them in the tests,
so the runtime loads neither library (importing scipy.signal alone adds about 78 MiB resident
and over a second of start-up).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .config import FeatureConfig
from .embedding import SpeechEmbedding

# PCEN works on energies of int16-scaled audio so that its epsilon sits far below any
# real signal instead of acting as a noise gate on quiet speech.
_PCEN_INPUT_SCALE = 32768.0**2
# PCEN's smoother runs as one matrix product per block of this many frames (see _Smoother).
_SMOOTH_BLOCK = 64

# Slaney's mel scale, as librosa's `hz_to_mel(htk=False)`: linear below 1 kHz, logarithmic above.
_MEL_HZ_PER_MEL = 200.0 / 3
_MEL_LOG_START_HZ = 1000.0
_MEL_LOG_START = _MEL_LOG_START_HZ / _MEL_HZ_PER_MEL
_MEL_LOG_STEP = np.log(6.4) / 27.0


def hz_to_mel(hz: np.ndarray) -> np.ndarray:
    hz = np.asarray(hz, dtype=np.float64)
    linear = hz / _MEL_HZ_PER_MEL
    logarithmic = _MEL_LOG_START + np.log(np.maximum(hz, _MEL_LOG_START_HZ) / _MEL_LOG_START_HZ) / _MEL_LOG_STEP
    return np.where(hz >= _MEL_LOG_START_HZ, logarithmic, linear)


def mel_to_hz(mels: np.ndarray) -> np.ndarray:
    mels = np.asarray(mels, dtype=np.float64)
    linear = mels * _MEL_HZ_PER_MEL
    logarithmic = _MEL_LOG_START_HZ * np.exp(_MEL_LOG_STEP * (np.maximum(mels, _MEL_LOG_START) - _MEL_LOG_START))
    return np.where(mels >= _MEL_LOG_START, logarithmic, linear)


def mel_frequencies(n: int, fmin: float, fmax: float) -> np.ndarray:
    """`n` frequencies (Hz) evenly spaced on the mel scale from fmin to fmax."""
    return mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n))


def mel_filterbank(config: FeatureConfig) -> np.ndarray:
    """Triangular filters with Slaney's area normalisation, (n_mels, n_fft // 2 + 1)."""
    edges = mel_frequencies(config.n_mels + 2, config.fmin, config.fmax)
    bins = np.fft.rfftfreq(config.n_fft, 1.0 / config.sample_rate)
    rising = (bins[None, :] - edges[:-2, None]) / np.diff(edges)[:-1, None]
    falling = (edges[2:, None] - bins[None, :]) / np.diff(edges)[1:, None]
    weights = np.maximum(0.0, np.minimum(rising, falling))
    return (weights * (2.0 / (edges[2:] - edges[:-2]))[:, None]).astype(np.float32)


def hann_window(length: int) -> np.ndarray:
    """The periodic Hann window (scipy's `get_window("hann", length)`), as an STFT uses it."""
    return (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(length) / length)).astype(np.float32)


class _Smoother:
    """PCEN's smoother M[t] = (1 - k) M[t-1] + k E[t] over frames (axis 0), from M[-1] = state.

    Written out per block of frames as M = L @ E + a^(t+1) M[-1], with L[t, s] =
    k a^(t-s) on and below the diagonal (a = 1 - k): a matrix product instead of a
    Python loop per frame, and no power of a above 1, so nothing grows however long the
    block. A block of n frames uses the top-left n x n of L.
    """

    def __init__(self, k: float):
        decay = 1.0 - k
        lag = np.arange(_SMOOTH_BLOCK)[:, None] - np.arange(_SMOOTH_BLOCK)[None, :]
        self._mix = np.where(lag >= 0, k * decay ** np.maximum(lag, 0), 0.0)
        self._carry = decay ** np.arange(1, _SMOOTH_BLOCK + 1)[:, None]

    def __call__(self, energy: np.ndarray, state: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        out = np.empty_like(energy)
        for start in range(0, len(energy), _SMOOTH_BLOCK):
            block = energy[start : start + _SMOOTH_BLOCK]
            n = len(block)
            out[start : start + n] = self._mix[:n, :n] @ block + self._carry[:n] * state
            state = out[start + n - 1]
        return out, state


def num_frames(num_samples: int, config: FeatureConfig) -> int:
    if num_samples < config.win_length:
        return 0
    return (num_samples - config.win_length) // config.hop_length + 1


class FeatureExtractor:
    """Audio (mono float32 at config.sample_rate) to features of shape (frames, n_mels)."""

    def __init__(self, config: FeatureConfig):
        self.config = config
        self._mel = np.ascontiguousarray(mel_filterbank(config).T)  # (bins, mels)
        self._window = hann_window(config.win_length)
        t = config.pcen_time_constant_s / (config.hop_ms / 1000)  # time constant in frames
        # Smoothing coefficient of M[t] = (1 - k) M[t-1] + k E[t], as librosa's pcen derives it.
        self._pcen_k = (np.sqrt(1 + 4 * t**2) - 1) / (2 * t**2)
        self._smooth = _Smoother(self._pcen_k)

    def mel_power(self, audio: np.ndarray) -> np.ndarray:
        """Mel-band power per frame, (frames, n_mels) float32."""
        c = self.config
        if len(audio) < c.win_length:
            return np.zeros((0, c.n_mels), dtype=np.float32)
        # Framing by hand rather than an STFT with center=False: that needs n_fft samples
        # per frame, while a window shorter than n_fft must only need win_length of them.
        frames = sliding_window_view(np.asarray(audio, dtype=np.float32), c.win_length)[:: c.hop_length]
        spec = np.fft.rfft(frames * self._window, n=c.n_fft)
        power = (spec.real**2 + spec.imag**2).astype(np.float32)  # (frames, bins)
        return power @ self._mel

    def normalize(self, power: np.ndarray, state: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
        """Power to features; `state` carries PCEN's smoother (its last frame) between calls (None at stream start)."""
        c = self.config
        if c.normalization == "log":
            return np.log(power + c.log_floor).astype(np.float32), None
        if len(power) == 0:
            return power.astype(np.float32), state
        energy = power.astype(np.float64) * _PCEN_INPUT_SCALE
        if state is None:
            state = energy[0]  # steady state for a stream that starts like its first frame
        smooth, new_state = self._smooth(energy, state)
        gain = np.exp(-c.pcen_alpha * np.log(c.pcen_eps + smooth))
        out = (energy * gain + c.pcen_delta) ** c.pcen_r - c.pcen_delta**c.pcen_r
        return out.astype(np.float32), new_state

    def __call__(self, audio: np.ndarray) -> np.ndarray:
        return self.normalize(self.mel_power(audio))[0]

    def stream(self) -> FeatureStream:
        return FeatureStream(self)


@dataclass
class FeatureStream:
    """Streaming state of a FeatureExtractor: leftover samples and the PCEN smoother."""

    extractor: FeatureExtractor
    _pending: np.ndarray = None  # type: ignore[assignment]
    _norm_state: np.ndarray | None = None
    samples_seen: int = 0

    def __post_init__(self) -> None:
        self._pending = np.zeros(0, dtype=np.float32)

    def push(self, chunk: np.ndarray) -> np.ndarray:
        """Add samples; return the features of every frame they complete."""
        c = self.extractor.config
        self.samples_seen += len(chunk)
        buf = np.concatenate([self._pending, np.asarray(chunk, dtype=np.float32)])
        n = num_frames(len(buf), c)
        self._pending = buf[n * c.hop_length :]
        power = self.extractor.mel_power(buf[: (n - 1) * c.hop_length + c.win_length] if n else buf[:0])
        feats, self._norm_state = self.extractor.normalize(power, self._norm_state)
        return feats


# Frontend kinds by `features.frontend` (a model file's "frontend" field): each is built from
# the FeatureConfig, maps audio to (frames, n_mels) and has `.stream()`.
FRONTENDS = {"mel": FeatureExtractor, "speech_embedding": SpeechEmbedding}


def frontend_for(config: FeatureConfig):
    """The frontend a feature configuration names."""
    return FRONTENDS[config.frontend](config)
