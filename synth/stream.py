"""`synth stream`: a long evaluation recording with known answers.

Only voices kept out of training speak in it. Positives come every
`stream_positive_every_s`; between them, confusables and ordinary speech follow one
another with `stream_gap_s` of silence, never overlapping. The background changes
scene every 20-60 s (another kind or recording, level and SNR), crossfaded, and
drifts within a scene. The audio is written scene by scene, so an hour costs a few
scenes of memory, not the hour.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import soundfile as sf
from tqdm import tqdm

from wakeword.config import Config
from wakeword.errors import DataError
from wakeword.fileio import atomic_output, atomic_write_bytes

from .augment import db_to_gain, set_level
from .clips import Clip
from .dataset import Inputs
from .tts import voice_matches
from .mixer import Mixer, Pools

STREAM_STREAM = 2  # rng stream of the seed (see dataset.EXAMPLE_STREAM)
SCENE_S = (20.0, 60.0)
CROSSFADE_S = 1.0


@dataclass(frozen=True)
class Scene:
    start: int  # samples
    end: int
    speech_dbfs: float
    snr_db: float


@dataclass(frozen=True)
class Event:
    start: int  # samples
    audio: np.ndarray  # at its final level, reverb tail included
    speech_end: int  # samples: where the speech itself ends
    record: dict


def plan_scenes(rng: np.random.Generator, total: int, sample_rate: int, config: Config) -> list[Scene]:
    s = config.synth
    scenes, start = [], 0
    while start < total:
        end = min(total, start + int(rng.uniform(*SCENE_S) * sample_rate))
        if total - end < SCENE_S[0] * sample_rate:
            end = total  # no short last scene: its crossfade could not fit
        scenes.append(Scene(start, end, float(rng.uniform(*s.speech_dbfs)), float(rng.uniform(*s.snr_db))))
        start = end
    return scenes


def _events(rng: np.random.Generator, mixer: Mixer, scenes: list[Scene], total: int, each_positive_once: bool = False) -> Iterator[Event]:
    """Utterances in time order: a positive once its time has come, otherwise a negative.

    each_positive_once: positives are dealt from a shuffled deck, so each clip is said once
    and none after the deck is empty (a set of real recordings, each counted once)."""
    s, rate = mixer.config.synth, mixer.rate
    pools = mixer.pools
    deck = [int(i) for i in rng.permutation(len(pools.positives))] if each_positive_once else None
    t = int(rng.uniform(*s.stream_gap_s) * rate)
    next_positive = int(rng.uniform(*s.stream_positive_every_s) * rate)
    scene = 0
    while True:
        positive = t >= next_positive and bool(pools.positives) and deck != []
        if positive and deck is not None:
            clip: Clip = pools.positives[deck.pop()]
        else:
            options = pools.positives if positive else pools.negatives
            clip = options[int(rng.integers(len(options)))]
        aug = mixer.augmented(rng, clip)
        if t + len(aug.audio) > total:
            return
        while scenes[scene].end <= t:
            scene += 1
        level = scenes[scene].speech_dbfs + float(rng.uniform(-s.level_spread_db, s.level_spread_db))
        audio, _ = set_level(aug.audio, level, measured=aug.audio[: aug.speech_samples])
        record = {"kind": clip.kind, "start_s": round(t / rate, 4), "end_s": round((t + aug.speech_samples) / rate, 4),
                  "text": clip.text, "voice": clip.voice_id, "source": clip.source, "level_dbfs": round(level, 2),
                  "augment": aug.params}
        yield Event(t, audio, t + aug.speech_samples, record)
        t += len(audio) + int(rng.uniform(*s.stream_gap_s) * rate)
        if positive:
            next_positive = t + int(rng.uniform(*s.stream_positive_every_s) * rate)


def _add(buffer: np.ndarray, offset: int, audio: np.ndarray) -> np.ndarray:
    """Add `audio` at `offset`; return what runs past the buffer's end."""
    inside = audio[: max(0, len(buffer) - offset)]
    buffer[offset : offset + len(inside)] += inside
    return audio[len(inside) :]


def _mix_into(acc: np.ndarray, offset: int, audio: np.ndarray) -> np.ndarray:
    """`acc` with `audio` added at `offset`, grown as needed."""
    if offset + len(audio) > len(acc):
        acc = np.concatenate([acc, np.zeros(offset + len(audio) - len(acc), dtype=np.float32)])
    acc[offset : offset + len(audio)] += audio
    return acc


def heldout_pools(inputs: Inputs, patterns: Sequence[str]) -> Pools:
    def pick(clips: list[Clip], what: str) -> list[Clip]:
        chosen = [c for c in clips if voice_matches(c.voice_id, patterns)]
        if not chosen:
            have = sorted({c.voice_id for c in clips})
            raise DataError(
                f"no {what} clips from voices matching {', '.join(patterns)}; "
                f"voices present: {', '.join(have[:8])}{' ...' if len(have) > 8 else ''}"
            )
        return chosen

    # No positives at all is a stream without the phrase: audio a threshold is calibrated on.
    positives = pick(inputs.positives, "positive") if inputs.positives else []
    return Pools(positives, pick(inputs.negatives, "negative"), inputs.recordings, inputs.impulse_responses)


def write_stream(
    config: Config,
    inputs: Inputs,
    patterns: Sequence[str],
    minutes: float,
    prefix: str | Path,
    voices_from: str = "synth.heldout_voices",
    progress: bool = True,
    each_positive_once: bool = False,
) -> dict:
    """Write PREFIX.wav and PREFIX.json (the truth `wakeword eval` reads); return the truth."""
    if not patterns:
        raise DataError("no held-out voices: set synth.heldout_voices in the config or pass --voices")
    if minutes <= 0:
        raise DataError("--minutes must be positive")
    if each_positive_once and not inputs.positives:
        raise DataError("--each-positive-once needs --positives: there is no positive clip to say")
    prefix = Path(prefix)
    # Vocoded and re-timed voices are training devices; the stream is spoken by the engines' own voices.
    natural = replace(config, synth=replace(config.synth, vocoder_prob=0.0, uneven_tempo_prob=0.0))
    mixer = Mixer(natural, heldout_pools(inputs, patterns))
    rate = mixer.rate
    total = int(round(minutes * 60 * rate))
    rng = np.random.default_rng([config.seed, STREAM_STREAM, 0])  # scenes and backgrounds
    scenes = plan_scenes(rng, total, rate, config)
    events = _events(np.random.default_rng([config.seed, STREAM_STREAM, 1]), mixer, scenes, total, each_positive_once)
    pending = next(events, None)
    fade = int(CROSSFADE_S * rate)
    ramp = np.sin(np.linspace(0, np.pi / 2, fade, dtype=np.float32)) ** 2  # equal-power crossfade
    records, scene_records = [], []
    carry = np.zeros(0, dtype=np.float32)  # audio running past the previous scene, from its end on

    wav_path = prefix.with_name(prefix.name + ".wav")
    bar = tqdm(total=round(total / rate), unit="s", desc="synth stream", disable=None if progress else True, file=sys.stderr)
    with atomic_output(wav_path) as tmp:
        with sf.SoundFile(tmp, "w", rate, 1, subtype="PCM_16", format="WAV") as out, bar:
            for k, scene in enumerate(scenes):
                length = scene.end - scene.start
                last = k == len(scenes) - 1
                background, record = mixer.background(rng, length + (0 if last else fade))
                buffer = background * np.float32(db_to_gain(scene.speech_dbfs - scene.snr_db))
                if k:
                    buffer[:fade] *= ramp
                if not last:
                    buffer[-fade:] *= ramp[::-1]
                spill_at = len(buffer) - length  # where spilled audio starts, counted from scene.end
                following = _mix_into(np.zeros(0, np.float32), spill_at, _add(buffer, 0, carry))
                while pending is not None and pending.start < scene.end:
                    following = _mix_into(following, spill_at, _add(buffer, pending.start - scene.start, pending.audio))
                    records.append(pending.record)
                    pending = next(events, None)
                out.write(np.clip(buffer[:length], -1.0, 1.0))
                carry = _mix_into(following, 0, buffer[length:])
                scene_records.append({"start_s": round(scene.start / rate, 3), "end_s": round(scene.end / rate, 3),
                                      "speech_dbfs": round(scene.speech_dbfs, 2), "snr_db": round(scene.snr_db, 2), **record})
                bar.update(round(scene.end / rate) - bar.n)

    truth = {
        "duration_s": total / rate,
        "positives": [[r["start_s"], r["end_s"]] for r in records if r["kind"] == "positive"],
        "negatives": [[r["start_s"], r["end_s"], r["kind"]] for r in records if r["kind"] != "positive"],
        "voices": sorted({r["voice"] for r in records}),
        "engines": sorted({r["voice"].split(":", 1)[0] for r in records}),
        "voice_patterns": list(patterns),
        "voices_from": voices_from,
        "each_positive_once": each_positive_once,
        "positive_clips": len(mixer.pools.positives),
        "phrase": config.phrase,
        "seed": config.seed,
        "sample_rate": rate,
        "scenes": scene_records,
        "events": records,
    }
    atomic_write_bytes(prefix.with_name(prefix.name + ".json"), json.dumps(truth, indent=1).encode())
    return truth
