"""Measurements of test audio shared by the synthesis tests."""

from __future__ import annotations

import librosa
import numpy as np


def pitch_hz(audio: np.ndarray, rate: int) -> float:
    """Median f0 of the likelier-voiced half of the frames (probabilistic YIN, 50-600 Hz):
    one autocorrelation peak over a whole clip jumps octaves on voices with strong
    harmonics, and pyin's own voicing decision rejects some low, band-limited voices."""
    f0, _, prob = librosa.pyin(audio.astype(np.float32), fmin=50, fmax=600, sr=rate, fill_na=None)
    return float(np.median(f0[prob >= np.median(prob)]))
