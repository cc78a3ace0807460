"""Measurements of test audio shared by the synthesis tests."""

from __future__ import annotations

import numpy as np


def pitch_hz(audio: np.ndarray, rate: int) -> float:
    """The autocorrelation peak in the voice range (60-400 Hz), as a frequency."""
    x = audio - audio.mean()
    corr = np.fft.irfft(np.abs(np.fft.rfft(x, 2 * len(x))) ** 2)[: len(x)]
    lo, hi = rate // 400, rate // 60
    return rate / (lo + int(np.argmax(corr[lo:hi])))
