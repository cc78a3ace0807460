"""Backgrounds: generated noises (pure functions of an explicit rng) and real recordings.

Every generator returns float32 at unit RMS, so the mixer sets the level once, by SNR.
Generated kinds give a newcomer with no recordings a working set; recordings from a
user's folder (any format) are what makes a model survive a real room.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import scipy.fft

from wakeword.audio import dbfs, list_audio_files, load_audio
from wakeword.errors import AudioError, DataError

GENERATED_KINDS = ("white", "pink", "brown", "hum", "babble")
# Spectral slope of each coloured noise: power falls as 1 / f**exponent.
_EXPONENTS = {"white": 0.0, "pink": 1.0, "brown": 2.0}
SILENCE_DBFS = -80.0  # a background file quieter than this is skipped as silent
_ENVELOPE_HOP = 80  # envelope resolution in samples: far finer than any audible level change


def unit_rms(audio: np.ndarray) -> np.ndarray:
    rms = float(np.sqrt(np.mean(np.square(audio, dtype=np.float64)))) if audio.size else 0.0
    return (audio / rms).astype(np.float32) if rms > 0 else audio.astype(np.float32)


def colored_noise(rng: np.random.Generator, n: int, exponent: float) -> np.ndarray:
    """Gaussian noise whose power spectrum falls as 1 / f**exponent (0 white, 1 pink, 2 brown)."""
    white = rng.standard_normal(n, dtype=np.float32)
    if exponent == 0:
        return unit_rms(white)
    freqs = np.fft.rfftfreq(n).astype(np.float32)
    freqs[0] = freqs[1] if n > 2 else 1.0  # no infinite DC gain
    shaped = scipy.fft.irfft(scipy.fft.rfft(white) * freqs ** (-exponent / 2), n=n)
    return unit_rms(shaped)


def hum(rng: np.random.Generator, n: int, sample_rate: int) -> np.ndarray:
    """Mains hum: 50 or 60 Hz and a few odd-heavy harmonics, as transformers and ballasts buzz."""
    mains = 50 if rng.random() < 0.5 else 60
    period = sample_rate // math.gcd(sample_rate, mains)  # samples after which the waveform repeats exactly
    t = np.arange(period, dtype=np.float64) / sample_rate
    cycle = np.zeros(period, dtype=np.float64)
    for harmonic in range(1, 8):
        freq = mains * harmonic
        if freq >= sample_rate / 2:
            break
        amplitude = rng.uniform(0.2, 1.0) / harmonic ** (1.0 if harmonic % 2 else 1.6)
        cycle += amplitude * np.sin(2 * np.pi * freq * t + rng.uniform(0, 2 * np.pi))
    start = int(rng.integers(period))
    out = np.tile(cycle.astype(np.float32), (start + n) // period + 1)[start : start + n]
    return unit_rms(out + 0.01 * rng.standard_normal(n, dtype=np.float32))


@dataclass(frozen=True)
class SpeechPool:
    """Speech clips for babble with the gain that brings each to unit RMS (no copies of the audio)."""

    clips: Sequence[np.ndarray]
    gains: np.ndarray

    @classmethod
    def of(cls, clips: Sequence[np.ndarray]) -> SpeechPool:
        rms = np.array([np.sqrt(np.mean(np.square(c, dtype=np.float64))) for c in clips])
        return cls(clips, np.where(rms > 0, 1.0 / np.maximum(rms, 1e-12), 0.0).astype(np.float32))

    def __len__(self) -> int:
        return len(self.clips)


def babble(rng: np.random.Generator, n: int, speech: SpeechPool, talkers: int) -> np.ndarray:
    """`talkers` streams of back-to-back speech clips summed: a crowd, every voice at the same level."""
    out = np.zeros(n, dtype=np.float32)
    for _ in range(talkers):
        pos = -int(rng.integers(0, n // 2 + 1))  # start mid-utterance, like a crowd already talking
        while pos < n:
            k = int(rng.integers(len(speech)))
            clip = speech.clips[k]
            start = max(pos, 0)
            piece = clip[start - pos : n - pos]
            out[start : start + len(piece)] += piece * speech.gains[k]
            pos += len(clip) + int(rng.integers(0, n // 20 + 1))
    return unit_rms(out)


def level_envelope(rng: np.random.Generator, n: int, sample_rate: int, depth_db: float) -> np.ndarray:
    """Slowly wandering gain (knots about a second apart, std depth_db / 2 in dB), mean near 1."""
    knots = max(2, int(np.ceil(n / sample_rate)) + 2)
    levels_db = rng.normal(0.0, depth_db / 2, size=knots)
    coarse = int(np.ceil(n / _ENVELOPE_HOP))
    curve = np.interp(np.linspace(0, knots - 1, coarse), np.arange(knots), levels_db)
    return np.repeat(10 ** (curve / 20), _ENVELOPE_HOP)[:n].astype(np.float32)


@dataclass(frozen=True)
class GeneratedBackground:
    audio: np.ndarray  # float32, unit RMS
    record: dict


def generated_background(
    rng: np.random.Generator,
    n: int,
    sample_rate: int,
    speech: SpeechPool,
    talkers: tuple[int, int],
    drift_db: float,
) -> GeneratedBackground:
    """A mixture of one to three generated kinds at random relative levels, slowly varying in level."""
    kinds = [k for k in GENERATED_KINDS if k != "babble" or len(speech)]
    chosen = rng.choice(kinds, size=int(rng.integers(1, min(3, len(kinds)) + 1)), replace=False)
    mix = np.zeros(n, dtype=np.float32)
    parts = {}
    for kind in sorted(str(k) for k in chosen):
        if kind == "hum":
            part = hum(rng, n, sample_rate)
        elif kind == "babble":
            part = babble(rng, n, speech, int(rng.integers(talkers[0], talkers[1] + 1)))
        else:
            part = colored_noise(rng, n, _EXPONENTS[kind])
        level_db = float(rng.uniform(-15.0, 0.0))
        mix += part * np.float32(10 ** (level_db / 20))
        parts[kind] = round(level_db, 2)
    audio = unit_rms(mix) * level_envelope(rng, n, sample_rate, drift_db)
    return GeneratedBackground(unit_rms(audio), {"kind": "generated", "parts": parts})


@dataclass(frozen=True)
class Recording:
    name: str  # path relative to the folder it came from
    audio: np.ndarray  # float32 mono, scaled to unit RMS over the whole file


@dataclass(frozen=True)
class RecordingSet:
    recordings: list[Recording]
    skipped: list[str]  # one message per file that could not be used


def load_recordings(folder: str | Path, sample_rate: int, what: str = "background") -> RecordingSet:
    """Every usable audio file below `folder`; unreadable, empty or silent files are skipped with a message."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{what} folder not found: {folder}")
    recordings, skipped = [], []
    for path in list_audio_files(folder):
        try:
            audio = load_audio(path, sample_rate)
        except AudioError as exc:
            skipped.append(f"skipped {what}: {exc}")
            continue
        if dbfs(audio) < SILENCE_DBFS:
            skipped.append(f"skipped {what}: {path} is silent (below {SILENCE_DBFS:.0f} dBFS)")
            continue
        # Whole-file normalisation keeps a recording's own quiet and loud passages.
        recordings.append(Recording(str(path.relative_to(folder)), unit_rms(audio)))
    if not recordings:
        raise DataError(f"no usable audio files in {what} folder {folder} (wav, flac, ogg, mp3, ...)")
    return RecordingSet(recordings, skipped)


def recorded_segment(rng: np.random.Generator, recording: Recording, n: int) -> tuple[np.ndarray, int]:
    """`n` samples from a random offset, looping a recording shorter than that; (audio, offset in samples)."""
    audio = recording.audio
    offset = int(rng.integers(len(audio)))
    pieces, pos, need = [], offset, n
    while need > 0:
        piece = audio[pos : pos + need]
        pieces.append(piece)
        need -= len(piece)
        pos = 0
    return np.concatenate(pieces), offset
