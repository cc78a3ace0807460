"""A person's own takes of the phrase: what to say, and whether a recorded take is usable.

Pure functions over arrays; the microphone and the files are `synth record`'s.
A take is judged by its frame levels against the quietest part of the window (the
room): speech must stand clear of it, must not clip, and must lie wholly inside the
window, or the take is refused with what to do about it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from wakeword.audio import frame_dbfs

from .phrases import CONFUSABLE, POSITIVE, SPEECH, Utterance, confusables, ordinary_speech

SPEECH_ABOVE_ROOM_DB = 12.0  # a frame this far above the room's level is speech
QUIETEST_SPEECH_DBFS = -55.0
CLIPPED = 0.999
EDGE_S = 0.1  # speech this close to the window's end was probably cut off
PAD_S = 0.2  # kept either side of the speech: the recipe inserts clips as they are
# Skipped at the start: many input devices click as they start, and nobody answers a
# prompt within 0.1 s.
SETTLE_S = 0.1
SHORTEST_S = 0.2


@dataclass(frozen=True)
class Take:
    audio: np.ndarray | None  # the speech with PAD_S either side; None when refused
    problem: str  # why it was refused, "" when usable
    speech_dbfs: float


def prompts(phrase: str, count: int, negatives: bool, seed: int = 0) -> list[Utterance]:
    """What to say, take by take: the phrase `count` times, or with `negatives` sound-alikes
    first (they teach the most), then everyday words and sentences, alternating."""
    if not negatives:
        return [Utterance(phrase, POSITIVE)] * count
    hard = [Utterance(t, CONFUSABLE) for t in confusables(phrase)]
    easy = [Utterance(t, SPEECH) for t in ordinary_speech(phrase, seed=seed)]
    rng = np.random.default_rng(seed)
    easy = [easy[int(i)] for i in rng.permutation(len(easy))]
    mixed = [u for pair in zip(hard, easy) for u in pair] + hard[len(easy):] + easy[len(hard):]
    return mixed[:count]


def judge_take(audio: np.ndarray, rate: int) -> Take:
    """The usable part of a recorded window, or the reason it cannot be used."""
    audio = audio[int(SETTLE_S * rate):]
    frame = max(1, rate // 100)
    levels = frame_dbfs(audio, frame)
    if levels.size == 0:
        return Take(None, "nothing was recorded: check the input device (`wakeword devices`)", float("-inf"))
    room = float(np.percentile(levels, 10))
    loud = levels > max(room + SPEECH_ABOVE_ROOM_DB, QUIETEST_SPEECH_DBFS)
    if not loud.any():
        return Take(None, f"heard nothing clearly above the room ({room:.0f} dBFS, loudest {levels.max():.0f} dBFS): "
                          "speak up, or move closer to the microphone", float("-inf"))
    first, last = np.flatnonzero(loud)[[0, -1]]
    speech_dbfs = float(10.0 * np.log10(np.mean(10.0 ** (levels[loud] / 10.0))))
    if np.max(np.abs(audio)) >= CLIPPED:
        return Take(None, "the take is clipped: speak a little softer, or turn the input gain down", speech_dbfs)
    start_s, end_s = first * frame / rate, (last + 1) * frame / rate
    if end_s - start_s < SHORTEST_S:
        return Take(None, f"only {1000 * (end_s - start_s):.0f} ms of sound: say the whole phrase", speech_dbfs)
    window_s = len(audio) / rate
    if start_s < EDGE_S / 2 or end_s > window_s - EDGE_S:
        return Take(None, f"the speech runs into the edge of the {window_s + SETTLE_S:g} s window: start right "
                          "after the prompt and say it once (or give --seconds more)", speech_dbfs)
    lo = max(0, int((start_s - PAD_S) * rate))
    hi = min(len(audio), int(np.ceil((end_s + PAD_S) * rate)))
    return Take(audio[lo:hi].astype(np.float32), "", speech_dbfs)
