"""One training example: a background with speech clips spoken into it, and its labels.

Clips never overlap (each other, nor within `gap_s`); each is augmented on its own.
The example's speech level is drawn in dBFS, each clip sits near it, and the
background sits below it by the drawn SNR. Labels follow the model's time line
(docs/architecture.md): step m is 1 iff `end < step_end_seconds(m) <= end + label_s`
for a positive ending at `end`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from wakeword.config import Config
from wakeword.features import frontend_for, num_frames
from wakeword.streaming_model import num_steps, step_end_seconds

from .augment import Augmented, augment_speech, db_to_gain, set_level
from .clips import Clip
from .noise import Recording, SpeechPool, generated_background, recorded_segment


@dataclass(frozen=True)
class Pools:
    """What one split's examples are made of."""

    positives: Sequence[Clip]
    negatives: Sequence[Clip]
    recordings: Sequence[Recording] = ()
    impulse_responses: Sequence[np.ndarray] = ()
    hard_negatives: Sequence[Clip] = ()  # mined by `synth mine`, drawn for synth.hard_negative_share of negatives


@dataclass(frozen=True)
class Insertion:
    clip: Clip
    start_s: float
    end_s: float  # end of the speech itself; a reverb tail may ring on past it
    level_dbfs: float
    gain_db: float
    augment: dict

    @property
    def kind(self) -> str:
        return self.clip.kind

    def record(self) -> dict:
        c = self.clip
        return {
            "kind": c.kind, "source": c.source, "engine": c.engine, "voice": c.voice, "text": c.text,
            "start_s": self.start_s, "end_s": self.end_s,
            "level_dbfs": round(self.level_dbfs, 2), "gain_db": round(self.gain_db, 2), "augment": self.augment,
        }


@dataclass(frozen=True)
class Example:
    audio: np.ndarray  # float32, clip_s long
    features: np.ndarray  # (frames, n_mels) float32
    labels: np.ndarray  # (steps,) uint8
    insertions: list[Insertion]  # in time order
    background: dict

    def record(self) -> dict:
        return {"background": self.background, "clips": [i.record() for i in self.insertions]}


def place(rng: np.random.Generator, lengths: Sequence[int], total: int, gap: int) -> list[int]:
    """Uniformly random starts for pieces of `lengths` (kept in this order) inside `total`
    samples, each at least `gap` after the end of the one before."""
    if not lengths:
        return []
    free = total - sum(lengths) - gap * (len(lengths) - 1)
    if free < 0:
        raise ValueError(f"pieces of {sum(lengths)} samples do not fit in {total}")
    # Sorted cut points split the free space into the silences before each piece.
    cuts = np.sort(rng.integers(0, free + 1, size=len(lengths)))
    starts, used = [], 0
    for cut, length in zip(cuts, lengths):
        starts.append(int(cut) + used)
        used += length + gap
    return starts


def step_labels(positive_ends_s: Sequence[float], step_ends_s: np.ndarray, label_s: float) -> np.ndarray:
    """1 on each step whose end time is in (end, end + label_s] for some positive's end."""
    labels = np.zeros(len(step_ends_s), dtype=np.uint8)
    for end in positive_ends_s:
        labels[(step_ends_s > end) & (step_ends_s <= end + label_s)] = 1
    return labels


def engine_odds(clips: Sequence[Clip], balance: float) -> np.ndarray | None:
    """Probability of drawing each clip: (clips of its engine) ** -balance, normalised."""
    if not clips:
        return None
    counts = Counter(c.engine for c in clips)
    weights = np.array([counts[c.engine] ** -balance for c in clips])
    return weights / weights.sum()


def _fitting(pieces: list[tuple[Clip, Augmented]], total: int, gap: int) -> list[tuple[Clip, Augmented]]:
    """Drop pieces (negatives first, last drawn first) until the rest fit without overlapping."""
    pieces = [p for p in pieces if len(p[1].audio) <= total]
    while pieces and sum(len(a.audio) for _, a in pieces) + gap * (len(pieces) - 1) > total:
        negatives = [i for i, (c, _) in enumerate(pieces) if c.kind != "positive"]
        pieces.pop(negatives[-1] if negatives else -1)
    return pieces


class Mixer:
    """Makes examples for one split; holds its pools and the feature frontend."""

    def __init__(self, config: Config, pools: Pools):
        self.config = config
        self.pools = pools
        self.rate = config.features.sample_rate
        self.samples = int(round(config.synth.clip_s * self.rate))
        self.extractor = frontend_for(config.features)
        steps = num_steps(num_frames(self.samples, config.features), config.model)
        self.step_ends_s = step_end_seconds(np.arange(steps), config.features, config.model)
        self._babble_speech = SpeechPool.of([c.audio for c in pools.negatives])
        self._positive_odds = engine_odds(pools.positives, config.synth.engine_balance)
        self._negative_odds = engine_odds(pools.negatives, config.synth.engine_balance)

    def background(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, dict]:
        """`n` samples of unit-RMS background: a user recording or a generated mixture."""
        s = self.config.synth
        if self.pools.recordings and rng.random() < s.recorded_background_share:
            recording = self.pools.recordings[int(rng.integers(len(self.pools.recordings)))]
            audio, offset = recorded_segment(rng, recording, n)
            return audio, {"kind": "recording", "file": recording.name, "offset_s": round(offset / self.rate, 3)}
        made = generated_background(rng, n, self.rate, self._babble_speech, s.babble_talkers, s.background_drift_db)
        return made.audio, made.record

    def augmented(self, rng: np.random.Generator, clip: Clip) -> Augmented:
        return augment_speech(rng, clip.audio, self.rate, self.config.synth, self.pools.impulse_responses)

    def _draw_clips(self, rng: np.random.Generator) -> list[Clip]:
        s, p = self.config.synth, self.pools
        n_pos = 0
        if p.positives and s.max_positives and rng.random() >= s.no_positive_share:
            n_pos = int(rng.integers(1, s.max_positives + 1))
        n_neg = int(rng.integers(0, s.max_negatives + 1)) if p.negatives else 0
        chosen = [p.positives[int(i)] for i in rng.choice(len(p.positives), size=n_pos, p=self._positive_odds)] if n_pos else []
        chosen += [p.negatives[int(i)] for i in rng.choice(len(p.negatives), size=n_neg, p=self._negative_odds)] if n_neg else []
        if n_neg and p.hard_negatives and s.hard_negative_share:  # without them, no draws: older recipes make the same examples
            hard = rng.random(n_neg) < s.hard_negative_share
            for k in np.flatnonzero(hard):
                chosen[n_pos + k] = p.hard_negatives[int(rng.integers(len(p.hard_negatives)))]
        return [chosen[int(i)] for i in rng.permutation(len(chosen))]

    def example(self, rng: np.random.Generator) -> Example:
        s = self.config.synth
        gap = int(round(s.gap_s * self.rate))
        speech_dbfs = float(rng.uniform(*s.speech_dbfs))
        snr_db = float(rng.uniform(*s.snr_db))
        pieces = _fitting([(clip, self.augmented(rng, clip)) for clip in self._draw_clips(rng)], self.samples, gap)
        starts = place(rng, [len(a.audio) for _, a in pieces], self.samples, gap)

        background, record = self.background(rng, self.samples)
        background_dbfs = speech_dbfs - snr_db
        audio = background * np.float32(db_to_gain(background_dbfs))
        insertions = []
        for (clip, aug), start in zip(pieces, starts):
            level = speech_dbfs + float(rng.uniform(-s.level_spread_db, s.level_spread_db))
            speech, gain_db = set_level(aug.audio, level, measured=aug.audio[: aug.speech_samples])
            audio[start : start + len(speech)] += speech
            insertions.append(Insertion(clip, start / self.rate, (start + aug.speech_samples) / self.rate, level, gain_db, aug.params))
        np.clip(audio, -1.0, 1.0, out=audio)  # a converter cannot go past full scale

        record.update(dbfs=round(background_dbfs, 2), snr_db=round(snr_db, 2), speech_dbfs=round(speech_dbfs, 2))
        features = self.extractor(audio)
        labels = step_labels([i.end_s for i in insertions if i.kind == "positive"], self.step_ends_s, s.label_s)
        return Example(audio, features, labels, insertions, record)
