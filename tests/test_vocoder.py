"""Voice-kind augmentation: LPC resynthesis with a new source, and syllable-by-syllable tempo."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import scipy.linalg
import scipy.signal

from signals import pitch_hz
from synth.augment import augment_speech, time_stretch, uneven_tempo
from synth.vocoder import VoiceChange, levinson, resynthesize
from wakeword.config import config_from_dict
from wakeword.errors import ConfigError

RATE = 16000
FORMANTS_HZ = (700, 1200, 2600)


def vowel(f0_hz: float, seconds: float = 0.6) -> np.ndarray:
    """A glottal pulse train through three formant resonators: an "a" with a known pitch and envelope."""
    n = int(seconds * RATE)
    source = np.zeros(n)
    source[:: int(RATE / f0_hz)] = 1.0
    out = source
    for f in FORMANTS_HZ:
        pole = 0.97 * np.exp(2j * np.pi * f / RATE)
        out = scipy.signal.lfilter([1.0], np.poly([pole, pole.conjugate()]).real, out)
    return (0.3 * out / np.max(np.abs(out))).astype(np.float32)


def envelope_peaks_hz(audio: np.ndarray, order: int = 12) -> np.ndarray:
    """The formant frequencies of one all-pole fit to the whole signal."""
    x = scipy.signal.lfilter([1.0, -0.97], [1.0], audio.astype(np.float64))
    r = np.correlate(x, x, "full")[len(x) - 1 : len(x) + order]
    poles = np.roots(levinson(r[None], order)[0])
    poles = poles[(poles.imag > 0) & (np.abs(poles) > 0.9)]
    return np.sort(np.angle(poles) * RATE / (2 * np.pi))


def test_levinson_solves_the_normal_equations_for_every_frame():
    rng = np.random.default_rng(0)
    frames = rng.standard_normal((5, 400))
    r = np.stack([np.correlate(f, f, "full")[399:410] for f in frames])
    a = levinson(r, 10)
    for row, coefficients in zip(r, a):
        expected = scipy.linalg.solve_toeplitz(row[:10], -row[1:11])
        np.testing.assert_allclose(coefficients[1:], expected, rtol=1e-6, atol=1e-9)
        assert coefficients[0] == 1.0


def test_resynthesis_moves_the_pitch_and_keeps_the_formants_and_the_energy():
    voice = vowel(120.0)
    change = VoiceChange(f0_scale=1.5, monotone=0.0, smooth_frames=3, breathiness=0.0)
    out = resynthesize(voice, RATE, change, np.random.default_rng(0))
    assert out.dtype == np.float32 and len(out) == len(voice)
    assert pitch_hz(out[1600:-1600], RATE) == pytest.approx(180.0, rel=0.04)
    # Measured on harmonics 180 Hz apart instead of 120, a formant may read a harmonic off.
    formants = envelope_peaks_hz(out)
    for f in FORMANTS_HZ:
        assert np.min(np.abs(formants - f)) < 0.1 * f, (f, formants)
    level = lambda x: 10 * np.log10(np.mean(x[1600:-1600] ** 2))  # noqa: E731
    assert level(out) == pytest.approx(level(voice), abs=1.0)


def test_resynthesis_leaves_silence_and_too_short_clips_alone():
    silence = np.zeros(RATE // 2, np.float32)
    change = VoiceChange(1.2, 0.5, 2, 0.1)
    out = resynthesize(silence, RATE, change, np.random.default_rng(0))
    assert np.all(out == 0)
    gapped = np.concatenate([vowel(150.0, 0.3), silence, vowel(150.0, 0.3)])
    out = resynthesize(gapped, RATE, change, np.random.default_rng(0))
    assert np.all(np.isfinite(out)) and np.max(np.abs(out[int(0.35 * RATE) : int(0.75 * RATE)])) < 1e-3
    short = vowel(150.0, 0.01)
    assert resynthesize(short, RATE, change, np.random.default_rng(0)) is short


def test_a_rate_curve_stretches_each_part_by_its_own_rate():
    click_at = RATE // 2
    clicks = np.zeros(RATE, np.float32)
    clicks[click_at] = 1.0
    hops = RATE // 128 + 1
    curve = np.where(np.arange(hops) < hops // 2, 2.0, 0.5)  # first half twice as fast, second half half as fast
    out = time_stretch(clicks, curve)
    assert len(out) == pytest.approx(RATE * (0.5 + 2.0) / 2, rel=0.02)
    assert int(np.argmax(np.abs(out))) == pytest.approx(click_at / 2, abs=200)  # the first half took 0.25 s


def test_uneven_tempo_keeps_the_pitch_and_stays_within_its_speeds():
    tone = np.sin(2 * np.pi * 200 * np.arange(RATE) / RATE).astype(np.float32)
    for seed in range(5):
        out, segments = uneven_tempo(tone, RATE, np.random.default_rng(seed), (0.75, 1.33))
        assert RATE / 1.34 <= len(out) <= RATE / 0.74
        assert segments >= 4  # 100-250 ms pieces of one second
        spectrum = np.abs(np.fft.rfft(out[2000:-2000] * np.hanning(len(out) - 4000)))
        assert np.argmax(spectrum) * RATE / (len(out) - 4000) == pytest.approx(200, abs=4)


def test_levers_at_zero_leave_the_augmentation_as_it_was():
    config = config_from_dict({"phrase": "activate"})
    voice = vowel(130.0, 0.8)
    on = dataclasses.replace(config.synth, vocoder_prob=1.0, uneven_tempo_prob=1.0)
    plain = augment_speech(np.random.default_rng(3), voice, RATE, config.synth)
    assert "vocoder" not in plain.params and "tempo_segments" not in plain.params
    changed = augment_speech(np.random.default_rng(3), voice, RATE, on)
    assert set(changed.params["vocoder"]) == {"f0_scale", "monotone", "smooth_frames", "breathiness"}
    assert changed.params["tempo_segments"] >= 2


@pytest.mark.parametrize("synth, message", [
    ({"vocoder_prob": 1.5}, "synth.vocoder_prob must be in [0, 1]"),
    ({"uneven_tempo_prob": -0.1}, "synth.uneven_tempo_prob must be in [0, 1]"),
    ({"segment_speed": [1.2, 0.8]}, "synth.segment_speed must be [low, high]"),
    ({"segment_speed": [0.0, 1.2]}, "synth.segment_speed must be positive"),
])
def test_voice_levers_are_validated(synth, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        config_from_dict({"phrase": "activate", "synth": synth})
