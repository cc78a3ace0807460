"""LPC analysis-resynthesis: the same words from a different kind of voice.

Every synthesizer available offline is a source-filter model of some kind (formant
synthesis, diphone LPC, HMM/clustergen vocoders), and each has its own excitation and
its own way of moving the vocal tract. Speed, pitch and formant warps keep a voice's
kind; a vocoder changes it. The clip's spectral envelope (an all-pole filter per frame)
drives a new source, a pulse train at a scaled pitch mixed with noise by how periodic
the frame was, and the envelope can be smoothed over time the way statistical
synthesizers over-smooth theirs. Natural-sounding voices come out buzzy and
synthetic, and the model has to hear the words through either.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.fft
import scipy.ndimage
import scipy.signal

_PREEMPHASIS = 0.97  # flattens speech's spectral tilt so a low order fits the formants


@dataclass(frozen=True)
class VoiceChange:
    f0_scale: float  # new pitch / old pitch
    monotone: float  # 0: the clip's own intonation, 1: flat at its median pitch
    smooth_frames: int  # envelope averaged over this many 10 ms frames (1: untouched)
    breathiness: float  # share of noise added to voiced frames' source


def random_voice_change(rng: np.random.Generator) -> VoiceChange:
    return VoiceChange(
        f0_scale=float(np.exp(rng.uniform(np.log(0.7), np.log(1.4)))),
        monotone=float(rng.choice([0.0, rng.uniform(0.0, 1.0)])),
        smooth_frames=int(rng.integers(1, 6)),
        breathiness=float(rng.uniform(0.0, 0.3)),
    )


def levinson(r: np.ndarray, order: int) -> np.ndarray:
    """All-pole coefficients a[:, 0..order] (a[:, 0] = 1) from autocorrelations r[:, 0..order], all frames at once."""
    a = np.zeros((len(r), order + 1))
    a[:, 0] = 1.0
    err = r[:, 0].copy()
    for i in range(1, order + 1):
        k = -np.einsum("fj,fj->f", a[:, :i], r[:, i:0:-1]) / err
        a[:, 1:i] += k[:, None] * a[:, i - 1 : 0 : -1]
        a[:, i] = k
        err *= 1.0 - k**2
    return a


def _frame_rms(audio: np.ndarray, hop: int, n_frames: int) -> np.ndarray:
    padded = np.pad(audio, (0, n_frames * hop - len(audio)))
    return np.sqrt(np.mean(padded.reshape(n_frames, hop) ** 2, axis=1))


def _per_sample(values: np.ndarray, hop: int, n: int) -> np.ndarray:
    """Frame values (at frame centres) linearly interpolated to every sample."""
    centres = np.arange(len(values)) * hop + hop / 2
    return np.interp(np.arange(n), centres, values)


def resynthesize(audio: np.ndarray, sample_rate: int, change: VoiceChange, rng: np.random.Generator, order: int = 18) -> np.ndarray:
    """`audio` spoken again through its own spectral envelope with a new source; same length, same frame energies."""
    n = len(audio)
    hop = sample_rate // 100
    win = 2 * 2 ** int(np.ceil(np.log2(1.6 * hop)))  # 32 ms at 16 kHz: two periods of a 60 Hz voice
    n_frames = -(-n // hop)
    if n < win or not np.any(audio):
        return audio
    x = np.asarray(audio, dtype=np.float64)
    emphasized = scipy.signal.lfilter([1.0, -_PREEMPHASIS], [1.0], x)
    padded = np.pad(emphasized, (win // 2, n_frames * hop + win))
    frames = np.lib.stride_tricks.sliding_window_view(padded, win)[::hop][:n_frames]
    window = scipy.signal.get_window("hann", win)
    n_fft = 2 * win
    r = scipy.fft.irfft(np.abs(scipy.fft.rfft(frames * window, n_fft, axis=1)) ** 2, n_fft, axis=1)[:, :win]
    r_window = scipy.fft.irfft(np.abs(scipy.fft.rfft(window, n_fft)) ** 2, n_fft)[:win]
    energy = r[:, :1] + 1e-12
    normalized = r / energy
    normalized[:, 0] = 1.0  # digital silence: a flat envelope rather than 0 / 0

    # Pitch and periodicity: the strongest autocorrelation peak between 60 and 400 Hz,
    # corrected for the window's own taper (Boersma 1993).
    lo, hi = sample_rate // 400, sample_rate // 60
    periodicity = normalized[:, lo:hi] / (r_window[lo:hi] / r_window[0])
    lag = lo + np.argmax(periodicity, axis=1)
    strength = np.clip(periodicity[np.arange(n_frames), lag - lo], 0.0, 1.0)
    voicing = np.clip((strength - 0.35) / 0.35, 0.0, 1.0) * (energy[:, 0] > 1e-4 * energy.max())
    f0 = scipy.ndimage.median_filter(sample_rate / lag, size=5, mode="nearest")
    voiced = voicing > 0.5
    centre = float(np.median(f0[voiced])) if voiced.any() else 120.0
    f0 = np.exp((1 - change.monotone) * np.log(f0) + change.monotone * np.log(centre)) * change.f0_scale

    # Envelope: average the normalized autocorrelations over neighbouring frames (a
    # convex mix of autocorrelations stays one, so the filters stay stable), with a
    # slight lag window that widens formant bandwidths against ringing.
    lags = np.arange(order + 1)
    smoothed = scipy.ndimage.uniform_filter1d(normalized[:, : order + 1], change.smooth_frames, axis=0, mode="nearest")
    smoothed = smoothed * np.exp(-0.5 * (2 * np.pi * 40.0 * lags / sample_rate) ** 2)
    smoothed[:, 0] *= 1.0 + 1e-4
    a = levinson(smoothed, order)

    # Source: one pulse per period, unit power like the noise it is mixed with.
    f0_samples = _per_sample(f0, hop, n)
    phase = np.cumsum(f0_samples / sample_rate)
    pulses = np.zeros(n)
    pulses[1:][np.diff(np.floor(phase)) > 0] = 1.0
    pulses *= np.sqrt(sample_rate / f0_samples)
    periodic = _per_sample(voicing, hop, n) * (1.0 - change.breathiness)
    source = np.sqrt(periodic) * pulses + np.sqrt(1.0 - periodic) * rng.standard_normal(n)

    out = np.empty(n)
    state = np.zeros(order)
    for i in range(n_frames):
        block = slice(i * hop, min(n, (i + 1) * hop))
        out[block], state = scipy.signal.lfilter([1.0], a[i], source[block], zi=state)
    out = scipy.signal.lfilter([1.0], [1.0, -_PREEMPHASIS], out)

    gain = _frame_rms(x, hop, n_frames) / np.maximum(_frame_rms(out, hop, n_frames), 1e-9)
    return (out * _per_sample(np.minimum(gain, 1e3), hop, n)).astype(np.float32)
