"""The one spectrogram frontend: synthesis, training, offline and streaming inference.

Frame n covers samples [n * hop, n * hop + win). Frames are only ever made from
whole windows (`center=False`), so a stream fed in any chunking yields exactly the
frames of one pass over the whole signal. PCEN's smoother is a first-order IIR
filter whose state is carried between chunks for the same reason.
"""

from __future__ import annotations

from dataclasses import dataclass

import librosa
import numpy as np
import scipy.signal
from numpy.lib.stride_tricks import sliding_window_view

from .config import FeatureConfig

# PCEN works on energies of int16-scaled audio so that its epsilon sits far below any
# real signal instead of acting as a noise gate on quiet speech.
_PCEN_INPUT_SCALE = 32768.0**2


def num_frames(num_samples: int, config: FeatureConfig) -> int:
    if num_samples < config.win_length:
        return 0
    return (num_samples - config.win_length) // config.hop_length + 1


class FeatureExtractor:
    """Audio (mono float32 at config.sample_rate) to features of shape (frames, n_mels)."""

    def __init__(self, config: FeatureConfig):
        self.config = config
        mel = librosa.filters.mel(
            sr=config.sample_rate, n_fft=config.n_fft, n_mels=config.n_mels, fmin=config.fmin, fmax=config.fmax
        )
        self._mel = np.ascontiguousarray(mel.T, dtype=np.float32)  # (bins, mels)
        self._window = scipy.signal.get_window("hann", config.win_length, fftbins=True).astype(np.float32)
        t = config.pcen_time_constant_s / (config.hop_ms / 1000)  # time constant in frames
        # Smoothing coefficient of M[t] = (1 - k) M[t-1] + k E[t], as librosa's pcen derives it.
        self._pcen_k = (np.sqrt(1 + 4 * t**2) - 1) / (2 * t**2)

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
        """Power to features; `state` carries PCEN's smoother between calls (None at stream start)."""
        c = self.config
        if c.normalization == "log":
            return np.log(power + c.log_floor).astype(np.float32), None
        if len(power) == 0:
            return power.astype(np.float32), state
        energy = power.astype(np.float64) * _PCEN_INPUT_SCALE
        k = self._pcen_k
        if state is None:
            state = (1 - k) * energy[0]  # steady state for a stream that starts like its first frame
        smooth, new_state = scipy.signal.lfilter([k], [1, k - 1], energy, axis=0, zi=state[None, :])
        gain = np.exp(-c.pcen_alpha * np.log(c.pcen_eps + smooth))
        out = (energy * gain + c.pcen_delta) ** c.pcen_r - c.pcen_delta**c.pcen_r
        return out.astype(np.float32), new_state[0]

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
