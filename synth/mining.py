"""Hard-negative mining: the negative clips a trained model mistakes for its phrase.

A model's false accepts on long streams come from a few utterances that share its
phrase's sounds in some voice; drawn no more often than any other negative, they
barely move the loss. Mining finds them so that the next training stage draws them
more often (`synth.hard_negative_share`).

Each clip is heard the way training makes it heard: augmented by the recipe's synth
section, at a level drawn from `speech_dbfs`, over a background at an SNR drawn from
`snr_db`, one after another in a long stream scored in one offline pass per chunk (the
recurrent state runs on through the chunk, as it does when listening). A clip's score
is the highest step score from its start until `label_s` after its end: the window in
which a phrase would be labelled.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np
from tqdm import tqdm

from wakeword.config import Config
from wakeword.modelfile import LoadedModel
from wakeword.model import score_offline

from .augment import db_to_gain, set_level
from .clips import Clip
from .mixer import Mixer, Pools

MINE_STREAM = 3  # rng stream of mining, beside dataset.EXAMPLE_STREAM, SPLIT_STREAM and stream.STREAM_STREAM
CHUNK_S = 300.0  # audio scored in one pass: long enough for the state to settle, short enough for memory
GAP_S = (0.6, 1.5)  # silence between clips: past the label window, so one clip never scores for the next


@dataclass(frozen=True)
class MinedClip:
    clip: Clip
    score: float


def _chunks(lengths: Sequence[int], gaps: Sequence[int], limit: int) -> Iterator[range]:
    """Consecutive runs of clip indices whose clips and gaps add up to at most `limit` samples (at least one each)."""
    start, used = 0, 0
    for i, (length, gap) in enumerate(zip(lengths, gaps)):
        if i > start and used + length + gap > limit:
            yield range(start, i)
            start, used = i, 0
        used += length + gap
    if start < len(lengths):
        yield range(start, len(lengths))


def clip_scores(model: LoadedModel, clips: Sequence[Clip], config: Config, rounds: int = 1, progress: bool = False) -> np.ndarray:
    """The model's highest score on each clip (the max over `rounds` augmented hearings)."""
    rate = config.features.sample_rate
    s = config.synth
    mixer = Mixer(config, Pools((), clips))
    label_after = int(round(s.label_s * rate))
    best = np.zeros(len(clips), dtype=np.float32)
    bar = tqdm(total=rounds * len(clips), unit="clip", desc="synth mine", disable=None if progress else True)
    for round_ in range(rounds):
        rng = np.random.default_rng([config.seed, MINE_STREAM, round_])
        heard = [mixer.augmented(rng, clip) for clip in clips]
        gaps = rng.integers(int(GAP_S[0] * rate), int(GAP_S[1] * rate) + 1, size=len(clips))
        for chunk in _chunks([len(h.audio) for h in heard], gaps.tolist(), int(CHUNK_S * rate)):
            speech_dbfs = float(rng.uniform(*s.speech_dbfs))
            n = sum(len(heard[i].audio) + int(gaps[i]) for i in chunk)
            background, _ = mixer.background(rng, n)
            audio = background * np.float32(db_to_gain(speech_dbfs - float(rng.uniform(*s.snr_db))))
            windows, pos = [], 0
            for i in chunk:
                pos += int(gaps[i])
                h = heard[i]
                level = speech_dbfs + float(rng.uniform(-s.level_spread_db, s.level_spread_db))
                speech, _ = set_level(h.audio, level, measured=h.audio[: h.speech_samples])
                piece = speech[: n - pos]
                audio[pos : pos + len(piece)] += piece
                windows.append((pos / rate, (pos + h.speech_samples + label_after) / rate))
                pos += len(h.audio)
            np.clip(audio, -1.0, 1.0, out=audio)
            scores = score_offline([model], audio)
            values = scores.values[:, 0]
            for i, (start, end) in zip(chunk, windows):
                inside = values[(scores.times > start) & (scores.times <= end)]
                if len(inside):
                    best[i] = max(best[i], float(inside.max()))
            bar.update(len(chunk))
    bar.close()
    return best


def hard_negatives(clips: Sequence[Clip], scores: np.ndarray, min_score: float) -> list[MinedClip]:
    """The clips scoring at least `min_score`, hardest first."""
    order = np.argsort(-scores, kind="stable")
    return [MinedClip(clips[int(i)], float(scores[i])) for i in order if scores[i] >= min_score]
