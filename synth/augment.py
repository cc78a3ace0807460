"""Speech augmentation: pure functions of the audio and an explicit rng.

The chain follows the physical path of a spoken phrase: the voice (source and rhythm,
speed, pitch), the room (reverb), the device (EQ, band-limiting) and the converter
(clipping). Levels are set afterwards by the mixer, so every step here may change
loudness freely.
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np
import scipy.fft
import scipy.signal

from wakeword.audio import dbfs, resample
from wakeword.config import SynthConfig

from .vocoder import random_voice_change, resynthesize

_STRETCH_FFT = 512  # phase-vocoder window: 32 ms at 16 kHz keeps speech onsets sharp
EQ_KINDS = ("telephone", "far_field", "peaks")


def db_to_gain(db: float) -> float:
    return float(10.0 ** (db / 20.0))


def set_level(audio: np.ndarray, target_dbfs: float, measured: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """Scale `audio` so that `measured` (default: the audio itself) sits at `target_dbfs`; (audio, gain_db)."""
    level = dbfs(audio if measured is None else measured)
    if not np.isfinite(level):
        return audio, 0.0
    gain_db = target_dbfs - level
    return (audio * np.float32(db_to_gain(gain_db))).astype(np.float32, copy=False), gain_db


def time_stretch(audio: np.ndarray, rate: float | np.ndarray, n_fft: int = _STRETCH_FFT) -> np.ndarray:
    """Phase-vocoder time stretch, `rate` times faster (shorter), pitch kept.

    `rate` may also be a curve: one rate per STFT hop of the input (n_fft / 4 samples),
    so different parts of a word can be sped up and slowed down by different amounts.
    Vectorised over frames (the phase runs as a cumulative sum), so it costs a few FFTs
    rather than a Python loop per frame like librosa's.
    """
    hop = n_fft // 4
    window = scipy.signal.get_window("hann", n_fft).astype(np.float32)
    padded = np.pad(audio.astype(np.float32, copy=False), (n_fft // 2, n_fft))
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop]
    spec = scipy.fft.rfft(frames * window, axis=1)  # (frames, bins) complex64
    magnitudes, angles = np.abs(spec), np.angle(spec)
    if np.ndim(rate) == 0:
        positions = np.arange(0, len(spec) - 1, rate)
        out_samples = int(round(len(audio) / rate))
    else:
        # Output frame k reads the input where the output clock (time spent per input
        # frame: 1 / rate) reaches k.
        per_frame = 1.0 / np.resize(np.asarray(rate, dtype=np.float64), len(spec) - 1)
        clock = np.concatenate([[0.0], np.cumsum(per_frame)])
        positions = np.interp(np.arange(0, clock[-1]), clock, np.arange(len(spec)))
        positions = positions[positions < len(spec) - 1]
        out_samples = int(round(len(audio) * float(np.mean(per_frame))))
    lower = positions.astype(int)
    frac = (positions - lower).astype(np.float32)[:, None]
    magnitude = (1 - frac) * magnitudes[lower] + frac * magnitudes[lower + 1]
    expected = (2 * np.pi * hop / n_fft * np.arange(spec.shape[1])).astype(np.float32)  # each bin's phase advance per hop
    advance = angles[lower + 1] - angles[lower] - expected
    advance -= np.float32(2 * np.pi) * np.round(advance / np.float32(2 * np.pi))
    step = advance + expected
    phase = np.cumsum(step, axis=0) - step + angles[0]  # frame k: the first frame's phase plus steps 0..k-1
    pieces = scipy.fft.irfft(magnitude * np.cos(phase) + 1j * (magnitude * np.sin(phase)), n=n_fft, axis=1) * window
    out = np.zeros(hop * (len(pieces) - 1) + n_fft, dtype=np.float32)
    norm = np.zeros_like(out)
    squared = window**2
    for k, piece in enumerate(pieces):
        out[k * hop : k * hop + n_fft] += piece
        norm[k * hop : k * hop + n_fft] += squared
    out = out[n_fft // 2 :] / np.maximum(norm[n_fft // 2 :], np.float32(1e-3))
    return out[:out_samples]


def uneven_tempo(audio: np.ndarray, sample_rate: int, rng: np.random.Generator, speeds: tuple[float, float]) -> tuple[np.ndarray, int]:
    """Each stretch of about a syllable (100-250 ms) sped up or slowed down on its own, pitch kept.

    Voices differ in rhythm as much as in timbre: one stresses "ac-", another drags
    "-vate". Returns the audio and how many segments it was cut into.
    """
    if len(audio) < 4 * _STRETCH_FFT:
        return audio, 1
    hop = _STRETCH_FFT // 4
    n_hops = -(-len(audio) // hop)
    bounds = [0]
    while bounds[-1] < n_hops:
        bounds.append(bounds[-1] + int(rng.integers(int(0.1 * sample_rate / hop), int(0.25 * sample_rate / hop) + 1)))
    rates = np.exp(rng.uniform(np.log(speeds[0]), np.log(speeds[1]), len(bounds) - 1))
    curve = np.repeat(rates, np.diff(bounds))[:n_hops]
    # A short ramp between segments: a rate jump within a phoneme would click.
    curve = np.convolve(np.pad(curve, 2, mode="edge"), np.ones(5) / 5, mode="valid")
    return time_stretch(audio, curve), len(rates)


def speed_and_pitch(audio: np.ndarray, sample_rate: int, speed: float, semitones: float) -> np.ndarray:
    """Play `speed` times faster (pitch follows) and shift pitch by `semitones` more, tempo kept.

    One phase-vocoder stretch by the pitch ratio, then one resampling by speed * ratio:
    the resampler moves pitch and duration together and the stretch undoes the duration
    part of the pitch shift.
    """
    ratio = 2.0 ** (semitones / 12.0)
    out = audio
    if semitones and len(audio) >= 4 * _STRETCH_FFT:
        out = time_stretch(audio, 1.0 / ratio)
    from_rate = int(round(sample_rate * speed * ratio))
    return resample(out, from_rate, sample_rate) if from_rate != sample_rate else out.astype(np.float32, copy=False)


def impulse_response(rng: np.random.Generator, sample_rate: int, rt60_s: float) -> np.ndarray:
    """A synthetic room: direct path, then exponentially decaying noise that falls 60 dB in rt60_s."""
    n = max(2, int(rt60_s * sample_rate))
    t = np.arange(n) / sample_rate
    tail = rng.standard_normal(n) * np.exp(-6.9078 * t / rt60_s)  # ln(1000): 60 dB of amplitude
    tail[: int(rng.uniform(0.002, 0.012) * sample_rate)] = 0.0  # pre-delay before the first reflections
    # Direct-to-reverberant ratio from close talk (+10 dB) to across the room (-5 dB).
    direct_db = rng.uniform(-5.0, 10.0)
    tail_energy = float(np.sum(tail**2))
    ir = tail / np.sqrt(tail_energy) if tail_energy > 0 else tail
    ir[0] = db_to_gain(direct_db)
    return ir.astype(np.float32)


def direct_path_first(ir: np.ndarray) -> np.ndarray:
    """A measured impulse response from its strongest tap on, so convolving keeps speech where it was."""
    return ir[int(np.argmax(np.abs(ir))) :].astype(np.float32)


def reverberate(audio: np.ndarray, ir: np.ndarray) -> np.ndarray:
    """Convolve with the impulse response, keeping the tail; the onset stays at sample 0 when ir[0] is the direct path."""
    return scipy.signal.oaconvolve(audio, ir).astype(np.float32)


def _peaking_sos(freq: float, gain_db: float, q: float, sample_rate: int) -> np.ndarray:
    """RBJ audio-EQ-cookbook peaking biquad as one second-order section."""
    a = 10 ** (gain_db / 40)
    w0 = 2 * np.pi * freq / sample_rate
    alpha = np.sin(w0) / (2 * q)
    b = np.array([1 + alpha * a, -2 * np.cos(w0), 1 - alpha * a])
    den = np.array([1 + alpha / a, -2 * np.cos(w0), 1 - alpha / a])
    return np.concatenate([b / den[0], den / den[0]])[None, :]


@functools.lru_cache(maxsize=4)
def _telephone_sos(sample_rate: int) -> np.ndarray:
    return scipy.signal.butter(4, [300, min(3400, 0.45 * sample_rate)], btype="band", fs=sample_rate, output="sos")


def equalizer(rng: np.random.Generator, sample_rate: int) -> tuple[str, np.ndarray]:
    """A random device colouring: telephone band, far-field low-pass, or a few peaks and dips."""
    kind = EQ_KINDS[int(rng.integers(len(EQ_KINDS)))]
    nyquist = sample_rate / 2
    if kind == "telephone":
        sos = _telephone_sos(sample_rate)
    elif kind == "far_field":
        sos = scipy.signal.butter(2, rng.uniform(1800, min(5000, 0.9 * nyquist)), btype="low", fs=sample_rate, output="sos")
    else:
        sos = np.concatenate([
            _peaking_sos(np.exp(rng.uniform(np.log(150), np.log(0.75 * nyquist))), rng.uniform(-10, 10), rng.uniform(0.7, 3.0), sample_rate)
            for _ in range(int(rng.integers(1, 4)))
        ])
    return kind, sos


def hard_clip(audio: np.ndarray, fraction_of_peak: float) -> np.ndarray:
    """An overloaded converter: everything above `fraction_of_peak` of the peak is flattened."""
    limit = np.float32(fraction_of_peak * float(np.max(np.abs(audio)))) if audio.size else np.float32(0)
    return np.clip(audio, -limit, limit) if limit > 0 else audio


@dataclass(frozen=True)
class Augmented:
    audio: np.ndarray  # float32, speech followed by its reverb tail
    speech_samples: int  # where the speech itself ends (labels and truth use this, not the tail)
    params: dict  # what was applied, for the manifest


def augment_speech(
    rng: np.random.Generator,
    audio: np.ndarray,
    sample_rate: int,
    synth: SynthConfig,
    impulse_responses: Sequence[np.ndarray] = (),
) -> Augmented:
    """Voice, room, device and converter variations of one clip, each drawn from `synth`'s ranges."""
    params: dict = {}
    # Levers left at 0 draw nothing, so configs without them make the same examples as before.
    if synth.vocoder_prob and rng.random() < synth.vocoder_prob:
        change = random_voice_change(rng)
        audio = resynthesize(audio, sample_rate, change, rng)
        params["vocoder"] = {k: round(v, 3) for k, v in asdict(change).items()}
    speed = float(rng.uniform(*synth.speed))
    semitones = float(rng.uniform(*synth.pitch_semitones))
    out = speed_and_pitch(audio, sample_rate, speed, semitones)
    params.update(speed=round(speed, 4), semitones=round(semitones, 3))
    if synth.uneven_tempo_prob and rng.random() < synth.uneven_tempo_prob:
        out, params["tempo_segments"] = uneven_tempo(out, sample_rate, rng, synth.segment_speed)
    speech_samples = len(out)
    if rng.random() < synth.reverb_prob:
        if impulse_responses and rng.random() < 0.5:
            index = int(rng.integers(len(impulse_responses)))
            ir, params["ir"] = impulse_responses[index], index
        else:
            rt60 = float(rng.uniform(*synth.rt60_s))
            ir, params["rt60_s"] = impulse_response(rng, sample_rate, rt60), round(rt60, 3)
        out = reverberate(out, ir)
    if rng.random() < synth.eq_prob:
        params["eq"], sos = equalizer(rng, sample_rate)
        out = scipy.signal.sosfilt(sos, out).astype(np.float32)
    if rng.random() < synth.clipping_prob:
        fraction = float(rng.uniform(0.2, 0.6))
        out, params["clip"] = hard_clip(out, fraction), round(fraction, 3)
    return Augmented(out, speech_samples, params)
