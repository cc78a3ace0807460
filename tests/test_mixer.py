"""Mixing one example: placement, labels on the model's time line, augmentation, backgrounds."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wakeword.audio import dbfs, write_wav
from wakeword.config import config_from_dict
from wakeword.errors import ConfigError, DataError
from wakeword.streaming_model import step_end_seconds
from synth.augment import equalizer, hard_clip, impulse_response, reverberate, set_level, speed_and_pitch
from synth.clips import Clip, load_clips
from synth.mixer import Mixer, Pools, engine_odds, place, step_labels
from synth.noise import colored_noise, hum, load_recordings
from synth_fixtures import RATE, clip_folders, tiny_config  # noqa: F401  (fixture)


@given(
    lengths=st.lists(st.integers(1, 400), max_size=8),
    slack=st.integers(0, 500),
    gap=st.integers(0, 50),
    seed=st.integers(0, 2**32 - 1),
)
def test_place_never_overlaps_and_keeps_the_gap(lengths, slack, gap, seed):
    total = sum(lengths) + gap * max(len(lengths) - 1, 0) + slack
    starts = place(np.random.default_rng(seed), lengths, total, gap)
    assert len(starts) == len(lengths)
    ends = [s + n for s, n in zip(starts, lengths)]
    assert all(s >= 0 for s in starts) and all(e <= total for e in ends)
    assert all(nxt >= end + gap for end, nxt in zip(ends, starts[1:]))


def test_place_refuses_pieces_that_cannot_fit():
    with pytest.raises(ValueError):
        place(np.random.default_rng(0), [100, 100], 205, 10)


def test_step_labels_boundaries_follow_the_time_line():
    ends = np.array([0.1, 0.2, 0.3, 0.4, 0.5])
    # A step ending exactly at the phrase's end has not heard past it; one at end + label_s still counts.
    assert step_labels([0.2], ends, 0.2).tolist() == [0, 0, 1, 1, 0]
    assert step_labels([0.15, 0.45], ends, 0.1).tolist() == [0, 1, 0, 0, 1]
    assert step_labels([], ends, 0.5).sum() == 0


@pytest.fixture(scope="module")
def clips(clip_folders):
    return load_clips(clip_folders["positives"], RATE).clips, load_clips(clip_folders["negatives"], RATE, "speech").clips


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1))
def test_examples_insert_without_overlap_and_label_every_positive_end(clips, seed):
    config = tiny_config(max_positives=3, max_negatives=3, gap_s=0.1)
    mixer = Mixer(config, Pools(*clips))
    example = mixer.example(np.random.default_rng(seed))
    spans = [(i.start_s, i.end_s) for i in example.insertions]
    assert spans == sorted(spans)
    assert all(nxt[0] >= prev[1] + config.synth.gap_s - 1e-9 for prev, nxt in zip(spans, spans[1:]))
    assert all(0 <= s < e <= config.synth.clip_s for s, e in spans)
    step_ends = step_end_seconds(np.arange(len(example.labels)), config.features, config.model)
    expected = np.zeros(len(step_ends), dtype=bool)
    for i in example.insertions:
        if i.kind == "positive":
            expected |= (step_ends > i.end_s) & (step_ends <= i.end_s + config.synth.label_s)
    assert example.labels.tolist() == expected.astype(np.uint8).tolist()
    assert example.features.shape == (len(example.features), config.features.n_mels)
    assert np.all(np.abs(example.audio) <= 1.0)


def test_a_recorded_insertion_is_where_its_speech_is_in_the_audio(clips):
    positives, _ = clips
    config = tiny_config(max_positives=1, max_negatives=0, no_positive_share=0.0, snr_db=(50.0, 50.0),
                         speech_dbfs=(-20.0, -20.0), level_spread_db=0.0, reverb_prob=0.0, eq_prob=0.0,
                         clipping_prob=0.0, speed=(1.0, 1.0), pitch_semitones=(0.0, 0.0))
    mixer = Mixer(config, Pools(positives[:1], []))
    example = mixer.example(np.random.default_rng(7))
    (insertion,) = example.insertions
    start, end = int(round(insertion.start_s * RATE)), int(round(insertion.end_s * RATE))
    assert end - start == len(positives[0].audio)  # neither speed nor pitch: the clip itself
    inside = example.audio[start:end]
    assert dbfs(inside) == pytest.approx(-20.0, abs=0.5)
    assert dbfs(np.concatenate([example.audio[:start], example.audio[end:]])) < -60
    labelled = step_end_seconds(np.flatnonzero(example.labels), config.features, config.model)
    assert labelled.min() > insertion.end_s and labelled.max() <= insertion.end_s + config.synth.label_s


def _peak_hz(audio: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(len(audio))))
    return float(np.argmax(spectrum) * RATE / len(audio))


def test_speed_and_pitch_change_duration_and_pitch_independently():
    tone = np.sin(2 * np.pi * 200 * np.arange(RATE) / RATE).astype(np.float32)
    faster = speed_and_pitch(tone, RATE, 1.1, 0.0)
    assert len(faster) == pytest.approx(RATE / 1.1, abs=2)
    assert _peak_hz(faster) == pytest.approx(220, abs=3)
    higher = speed_and_pitch(tone, RATE, 1.0, 2.0)
    assert len(higher) == pytest.approx(RATE, abs=2)
    assert _peak_hz(higher) == pytest.approx(200 * 2 ** (2 / 12), abs=3)


def test_reverb_keeps_the_onset_and_decays_by_rt60():
    rng = np.random.default_rng(0)
    ir = impulse_response(rng, RATE, 0.4)
    assert len(ir) == int(0.4 * RATE) and abs(ir[0]) >= 10 ** (-5 / 20)  # the direct path comes first
    energy = ir[1:] ** 2
    tenth = len(energy) // 10
    assert 10 * np.log10(energy[-tenth:].mean() / energy[tenth : 2 * tenth].mean()) < -35
    click = np.zeros(1000, dtype=np.float32)
    click[100] = 1.0
    wet = reverberate(click, ir)
    assert len(wet) == len(click) + len(ir) - 1
    assert np.max(np.abs(wet[:100])) < 1e-6 and wet[100] == pytest.approx(ir[0], abs=1e-5)


def test_telephone_band_removes_lows_and_highs():
    from scipy.signal import sosfilt

    rng = np.random.default_rng(0)
    while True:
        kind, sos = equalizer(rng, RATE)
        if kind == "telephone":
            break
    t = np.arange(RATE) / RATE
    level = {f: dbfs(sosfilt(sos, np.sin(2 * np.pi * f * t))[RATE // 4 :]) for f in (100, 1000, 6000)}
    assert level[1000] - level[100] > 15 and level[1000] - level[6000] > 15


def test_levels_and_clipping():
    audio = np.random.default_rng(0).standard_normal(RATE).astype(np.float32)
    scaled, gain_db = set_level(audio, -30.0)
    assert dbfs(scaled) == pytest.approx(-30.0, abs=1e-3) and gain_db == pytest.approx(-30.0 - dbfs(audio), abs=1e-3)
    clipped = hard_clip(audio, 0.3)
    assert np.max(np.abs(clipped)) == pytest.approx(0.3 * np.max(np.abs(audio)), rel=1e-6)


def _octave_power(audio: np.ndarray, low: float) -> float:
    spectrum = np.abs(np.fft.rfft(audio)) ** 2
    freqs = np.fft.rfftfreq(len(audio), 1 / RATE)
    return float(spectrum[(freqs >= low) & (freqs < 2 * low)].sum())


@pytest.mark.parametrize("exponent, slope_db_per_octave", [(0.0, 3.0), (1.0, 0.0), (2.0, -3.0)])
def test_coloured_noise_has_its_spectral_slope(exponent, slope_db_per_octave):
    noise = colored_noise(np.random.default_rng(1), 4 * RATE, exponent)
    assert dbfs(noise) == pytest.approx(0.0, abs=1e-3)
    octaves = np.log2(3200 / 200)
    slope = 10 * np.log10(_octave_power(noise, 3200) / _octave_power(noise, 200)) / octaves
    assert slope == pytest.approx(slope_db_per_octave, abs=1.0)


def test_hum_sits_on_the_mains_frequency():
    assert _peak_hz(hum(np.random.default_rng(3), 2 * RATE, RATE)) in (pytest.approx(50, abs=1), pytest.approx(60, abs=1))


def test_background_folder_skips_bad_and_silent_files_with_a_message(tmp_path):
    folder = tmp_path / "rooms"
    write_wav(folder / "kitchen.wav", 0.1 * np.random.default_rng(0).standard_normal(RATE).astype(np.float32), RATE)
    write_wav(folder / "quiet" / "silence.wav", np.zeros(RATE, dtype=np.float32), RATE)
    (folder / "broken.flac").write_bytes(b"not audio at all")
    found = load_recordings(folder, RATE)
    assert [r.name for r in found.recordings] == ["kitchen.wav"]
    assert dbfs(found.recordings[0].audio) == pytest.approx(0.0, abs=1e-3)
    messages = "\n".join(found.skipped)
    assert len(found.skipped) == 2 and "broken.flac" in messages and "silence.wav" in messages and "silent" in messages
    (folder / "kitchen.wav").unlink()
    with pytest.raises(DataError, match="no usable audio files"):
        load_recordings(folder, RATE)


def test_recorded_backgrounds_are_used_at_the_drawn_snr(clips, tmp_path):
    write_wav(tmp_path / "hall.wav", 0.1 * np.random.default_rng(0).standard_normal(RATE // 2).astype(np.float32), RATE)
    recordings = load_recordings(tmp_path, RATE).recordings
    config = tiny_config(recorded_background_share=1.0, max_positives=0, max_negatives=0, snr_db=(10.0, 10.0), speech_dbfs=(-20.0, -20.0))
    example = Mixer(config, dataclasses.replace(Pools(*clips), recordings=recordings)).example(np.random.default_rng(0))
    assert example.background["kind"] == "recording" and example.background["file"] == "hall.wav"
    assert example.insertions == [] and example.labels.sum() == 0
    # A half-second recording loops to fill the whole clip, at speech level minus the SNR.
    assert dbfs(example.audio) == pytest.approx(-30.0, abs=0.1)


@pytest.mark.parametrize(
    "synth, message",
    [
        ({"babble_talkers": [0, 4]}, "synth.babble_talkers must be at least 1"),
        ({"rt60_s": [0.5, 0.2]}, "synth.rt60_s must be [low, high]"),
        ({"speech_dbfs": [-30, 3]}, "synth.speech_dbfs must be at most 0 dBFS"),
        ({"recorded_background_share": 1.5}, "synth.recorded_background_share must be in [0, 1]"),
        ({"gap_s": -0.1}, "synth.gap_s must be >= 0"),
        ({"engine_balance": 2}, "synth.engine_balance must be in [0, 1]"),
    ],
)
def test_mixing_knobs_are_validated(synth, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        config_from_dict({"synth": synth})


def test_engine_balance_evens_out_engines_not_clips():
    clips = [Clip(np.zeros(4, np.float32), f"e{i}.wav", "espeak-ng", f"v{i}", "activate", "positive") for i in range(9)]
    clips.append(Clip(np.zeros(4, np.float32), "f.wav", "flite", "awb", "activate", "positive"))
    flite_share = lambda balance: engine_odds(clips, balance)[-1]  # noqa: E731
    assert flite_share(0.0) == pytest.approx(0.1)
    assert flite_share(1.0) == pytest.approx(0.5)
    assert 0.1 < flite_share(0.5) < 0.5
    assert engine_odds([], 1.0) is None


def test_balanced_examples_draw_the_rare_engine_more(clips):
    positives, negatives = clips
    positives = [dataclasses.replace(positives[0], engine="user"), *positives[1:]]  # one recording among many TTS clips

    def user_share(balance: float) -> float:
        mixer = Mixer(tiny_config(engine_balance=balance, max_negatives=0), Pools(positives, negatives))
        drawn = [i.clip.engine for seed in range(150) for i in mixer.example(np.random.default_rng(seed)).insertions]
        return drawn.count("user") / len(drawn)

    assert user_share(0.0) < 0.2 < 0.35 < user_share(1.0)
