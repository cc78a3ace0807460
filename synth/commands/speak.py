"""`synth speak PHRASE --out DIR`: many distinct renditions of a phrase (or of its negatives)."""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import sys
from collections import Counter
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from itertools import cycle
from pathlib import Path

import numpy as np
from tqdm import tqdm

from wakeword.audio import write_wav
from wakeword.errors import DataError

from ..clips import METADATA, read_metadata, write_metadata
from ..phrases import (COMMON_WORDS, CONFUSABLE, DEFAULT_SOUND_ALIKES, DEFAULT_WORDS, POSITIVE, SPEECH, negatives,
                       prosody_variants)
from ..tts import (ENGINES, SAMPLE_RATE, Prosody, SynthesisError, Voice, available_voices, get_engine, render_many,
                   voice_matches)

DEFAULT_POSITIVES = 1000
DEFAULT_NEGATIVES = 2000
DEFAULT_SEED = 1234
RATES = (0.75, 0.85, 0.92, 1.0, 1.08, 1.18, 1.3)
PITCHES = (-5.0, -3.0, -1.5, 0.0, 1.5, 3.0, 5.0)  # semitones
WORD_GAPS = (0.0, 0.05, 0.15)  # seconds, between the words of a multi-word text
# Renditions of one voice per task: festival starts once per task, and its start-up
# costs more than a word.
GROUP_SIZE = 12

EPILOG = """examples:
  synth speak activate --out clips/positives
  synth speak "hey jarvis" --negatives --count 3000 --out clips/negatives
  synth speak activate --engines flite,festival --count 200 --out clips/natural
  synth speak activate --exclude-voices 'festival:*,espeak-ng:*+f5' --out clips/train

Every available voice (espeak-ng English voices and accents x variants, every flite
voice, the installed festival voices of English, Czech, Finnish, Italian and Catalan,
piper's neural voices from pip packages and $WAKEWORD_PIPER_VOICES x delivery variants;
`synth voices` lists them all) is combined with speaking rates, pitches and (for several
words) word gaps; the renditions are spread evenly over engines and voices,
deterministically for a --seed. Files already rendered are kept (resume).
An accent is a voice of another language saying the English phonemes of the text with
its own sounds (Polish: 'aktivejt'), never reading the English spelling by its rules;
festival's voices read the phonemes written in their language's spelling (Czech
'aktivejt', Italian 'aktiveit'), Open JTalk's Japanese voice reads them as katakana
('akutibeito'). Festival voices of other languages are left out.
Writes 16 kHz wavs and metadata.jsonl: one line per file with its engine, voice, text,
kind (positive / confusable / speech), rate, pitch (semitones) and word_gap (s).
"""


@dataclass(frozen=True)
class Rendition:
    voice: Voice
    text: str
    kind: str
    prosody: Prosody

    @property
    def file(self) -> str:
        """Named by what is said and how, so a rerun finds the same rendition again."""
        p = self.prosody
        method = get_engine(self.voice.engine).method(self.voice.name)
        key = json.dumps([self.voice.id, self.text, p.rate, p.pitch, p.word_gap, *([method] if method else [])])
        slug = re.sub(r"[^A-Za-z0-9.+-]+", "-", self.voice.name)
        return f"{self.voice.engine}_{slug}_{hashlib.sha1(key.encode()).hexdigest()[:10]}.wav"

    def metadata(self) -> dict:
        p = self.prosody
        return {"file": self.file, "engine": self.voice.engine, "voice": self.voice.name, "text": self.text,
                "kind": self.kind, "rate": p.rate, "pitch": p.pitch, "word_gap": p.word_gap}


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "speak",
        help="render a phrase (or its hard negatives) with every offline voice into a clip folder",
        description="Render many distinct renditions of PHRASE, or with --negatives of sound-alikes and "
                    "ordinary speech, with every installed offline TTS voice, into a clip folder.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("phrase", help="the wake phrase, e.g. activate or \"hey jarvis\"")
    p.add_argument("--out", required=True, type=Path, help="clip folder to write (created; resumed if it exists)")
    p.add_argument("--count", type=int, help=f"number of renditions (default: {DEFAULT_POSITIVES}, "
                                             f"with --negatives {DEFAULT_NEGATIVES})")
    p.add_argument("--negatives", action="store_true",
                   help="say hard negatives (parts, sound-alikes, one word swapped) and ordinary words and "
                        "sentences instead of the phrase; never anything that contains the phrase")
    p.add_argument("--words", type=int, default=DEFAULT_WORDS, metavar="N",
                   help=f"with --negatives: how many of the {COMMON_WORDS:,} most common English words join the bundled "
                        "sentences as ordinary speech (default: %(default)s)")
    p.add_argument("--sound-alikes", type=int, default=DEFAULT_SOUND_ALIKES, metavar="N",
                   help="with --negatives: how many words that sound like the phrase, closest first, join its parts "
                        "as confusables (default: %(default)s)")
    add_voice_options(p)
    p.add_argument("--seed", type=int, default=DEFAULT_SEED, help="seed of the sampling (default: %(default)s)")
    p.add_argument("--jobs", type=int, default=0, help="parallel workers (default: 0 = all cores)")
    p.set_defaults(func=run)


def add_voice_options(p: argparse.ArgumentParser) -> None:
    """--engines, --voices and --exclude-voices: which voices speak (see `chosen_voices`)."""
    p.add_argument("--engines", help=f"comma-separated engines to use, each must be installed (default: every "
                                     f"installed one of {', '.join(ENGINES)})")
    p.add_argument("--voices", action="append", default=[], metavar="GLOBS",
                   help="only voices whose id (ENGINE:NAME, e.g. espeak-ng:en-us+f3) matches one of these "
                        "comma-separated glob patterns; repeatable")
    p.add_argument("--exclude-voices", action="append", default=[], metavar="GLOBS",
                   help="leave out voices matching these comma-separated glob patterns (e.g. held-out "
                        "evaluation voices); repeatable")


def chosen_voices(args: argparse.Namespace) -> list[Voice]:
    """The installed voices that `add_voice_options`' options leave."""
    engines = _globs([args.engines]) if args.engines else None
    return select_voices(available_voices(engines), _globs(args.voices), _globs(args.exclude_voices))


def run(args: argparse.Namespace) -> int:
    count = args.count if args.count is not None else DEFAULT_NEGATIVES if args.negatives else DEFAULT_POSITIVES
    if count < 1:
        raise SynthesisError("--count must be at least 1")
    if not 0 <= args.words <= COMMON_WORDS:
        raise SynthesisError(f"--words must be between 0 and {COMMON_WORDS}")
    if args.sound_alikes < 0:
        raise SynthesisError("--sound-alikes must be at least 0")
    voices = chosen_voices(args)
    texts = texts_for(args.phrase, args.negatives, args.words, args.sound_alikes)
    renditions = plan(voices, texts, count, args.seed)
    out: Path = args.out
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"cannot create the clip folder {out}: {exc.strerror}") from None

    # Resume: what is on disk and listed stays. Rewriting the list first also drops a
    # half-written last line left by a killed run, so lines can be appended from here on.
    kept = {name: e for name, e in read_metadata(out, strict=False).items() if (out / name).exists()}
    write_metadata(out, kept)
    planned = {r.file for r in renditions}
    # Clips of other voices were put there on purpose (a second engine at its own share,
    # recordings); those of these voices that the plan does not make may be a mistake.
    chosen = {v.id for v in voices}
    others = sum(name not in planned and f"{e.get('engine')}:{e.get('voice')}" in chosen for name, e in kept.items())
    if others:  # they stay (they may be someone's work), but they are not what was asked for
        print(f"synth speak: warning: {out} already holds {others} clips of these voices that this plan does not make "
              "(other texts, options or a larger --count); they stay and will be used with it: give a new --out for "
              "this plan alone", file=sys.stderr)
    todo = [r for r in renditions if r.file not in kept]
    written, failures = _render_all(todo, out, args.jobs or os.cpu_count() or 1)
    kept.update((e["file"], e) for e in written)
    write_metadata(out, kept)

    if todo and not written:
        raise SynthesisError(f"no clip could be rendered; first error: {failures[0]}")
    by_engine = Counter(r.voice.engine for r in renditions)
    short = f" (only {len(renditions)} distinct renditions exist for these voices)" if len(renditions) < count else ""
    print(f"{out}: {len(written)} clips rendered, {len(renditions) - len(todo)} already there, "
          f"{len(failures)} failed{short}; " + ", ".join(f"{e} {n}" for e, n in sorted(by_engine.items())))
    return 0


def texts_for(phrase: str, negative: bool, words: int = DEFAULT_WORDS, sound_alikes: int = DEFAULT_SOUND_ALIKES) -> dict[str, list[str]]:
    """What to say, by kind."""
    if not negative:
        return {POSITIVE: prosody_variants(phrase)}
    by_kind: dict[str, list[str]] = {CONFUSABLE: [], SPEECH: []}
    for utterance in negatives(phrase, n_words=words, sound_alikes=sound_alikes):
        by_kind[utterance.kind].append(utterance.text)
    return by_kind


def select_voices(voices: list[Voice], include: list[str], exclude: list[str]) -> list[Voice]:
    chosen = [v for v in voices if (not include or voice_matches(v.id, include)) and not voice_matches(v.id, exclude)]
    if not chosen:
        raise SynthesisError(f"no voice left after --voices/--exclude-voices ({len(voices)} available); "
                             "voice ids look like espeak-ng:en-us+f3, flite:slt, festival:kal_diphone")
    return chosen


def prosody_choices(voice: Voice, text: str) -> list[Prosody]:
    """The prosody settings that make distinct renditions of `text` for `voice`."""
    engine = get_engine(voice.engine)
    pitches = PITCHES if engine.pitch_supported(voice.name) else (0.0,)
    gaps = WORD_GAPS if engine.word_gap and len(text.split()) > 1 else (0.0,)
    return [Prosody(r, p, g) for r in RATES for p in pitches for g in gaps]


def plan(voices: list[Voice], texts: dict[str, list[str]], count: int, seed: int) -> list[Rendition]:
    """`count` distinct renditions, spread evenly over engines, then over their voices and
    over the kinds of text. Deterministic for a seed; a larger count extends a smaller one.
    Fewer come back when every distinct rendition is used."""
    rng = np.random.default_rng(seed)
    by_engine: dict[str, list[Voice]] = {}
    for voice in voices:
        by_engine.setdefault(voice.engine, []).append(voice)
    orders = [[(kind, ts[i]) for i in rng.permutation(len(ts))] for kind, ts in texts.items() if ts]
    # Each engine starts at another point of the text order: together they cover more texts.
    turns = [
        _EngineTurns(name, by_engine[name], [o[k * len(o) // len(by_engine):] + o[: k * len(o) // len(by_engine)]
                                             for o in orders], rng)
        for k, name in enumerate(sorted(by_engine))
    ]
    out: list[Rendition] = []
    while turns and len(out) < count:
        for turn in list(turns):
            rendition = turn.next()
            if rendition is None:
                turns.remove(turn)
            else:
                out.append(rendition)
            if len(out) == count:
                break
    return out


class _EngineTurns:
    """One engine's share of a plan: its voices in turn, its texts in turn (alternating
    kinds), each rendition once.

    Two renditions are the same when the voice, the text as the engine hears it
    (`Engine.text_key`) and the prosody are: an engine that ignores '!' does not make
    "activate!" another rendition of "activate"."""

    def __init__(self, engine: str, voices: list[Voice], orders: list[list[tuple[str, str]]],
                 rng: np.random.Generator):
        self.engine = get_engine(engine)
        self.rng = rng
        self.n_voices = len(voices)
        self.voices = cycle([voices[i] for i in rng.permutation(len(voices))])
        streams = [cycle(order) for order in orders]
        self.texts = (next(stream) for stream in cycle(streams))
        self.keys = {self.engine.text_key(text) for order in orders for _, text in order}
        self.spent: set[str] = set()  # text keys that no voice of the engine can say anew
        self.used: dict[tuple[Voice, str], set[int]] = {}

    def next(self) -> Rendition | None:
        while self.spent != self.keys:
            kind, text = next(self.texts)
            key = self.engine.text_key(text)
            if key in self.spent:
                continue
            for _ in range(self.n_voices):
                voice = next(self.voices)
                choices = prosody_choices(voice, text)
                taken = self.used.setdefault((voice, key), set())
                free = [i for i in range(len(choices)) if i not in taken]
                if free:
                    pick = free[int(self.rng.integers(len(free)))]
                    taken.add(pick)
                    return Rendition(voice, text, kind, choices[pick])
            self.spent.add(key)
        return None


def _render_all(todo: list[Rendition], out: Path, jobs: int) -> tuple[list[dict], list[str]]:
    """Render in worker processes, one voice per task, listing each clip in the metadata
    as soon as it is written: (metadata of the new clips, errors)."""
    groups: dict[Voice, list[Rendition]] = {}
    for r in todo:
        groups.setdefault(r.voice, []).append(r)
    tasks = [rs[i:i + GROUP_SIZE] for rs in groups.values() for i in range(0, len(rs), GROUP_SIZE)]
    written: list[dict] = []
    failures: list[str] = []
    if not tasks:
        return written, failures
    pool = ProcessPoolExecutor(max_workers=max(1, jobs))
    try:
        with (out / METADATA).open("a") as listing, \
                tqdm(total=len(todo), unit="clip", desc="speak", disable=None, file=sys.stderr) as bar:
            pending = {pool.submit(_render_group, task, str(out)) for task in tasks}
            while pending:
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    results = future.result()
                    for rendition, error in results:
                        if error:
                            failures.append(error)
                            bar.write(f"failed: {error}", file=sys.stderr)
                        else:
                            written.append(rendition.metadata())
                            listing.write(json.dumps(written[-1]) + "\n")
                    listing.flush()
                    bar.update(len(results))
    finally:
        # On Ctrl-C, drop the queued tasks instead of rendering them all first.
        pool.shutdown(wait=True, cancel_futures=True)
    return written, failures


def _render_group(group: list[Rendition], out: str) -> list[tuple[Rendition, str]]:
    """Worker: render one voice's renditions and write them; (rendition, error or "")."""
    results = render_many(group[0].voice, [(r.text, r.prosody) for r in group], SAMPLE_RATE)
    reported = []
    for rendition, audio in zip(group, results):
        if isinstance(audio, SynthesisError):
            reported.append((rendition, str(audio)))
        else:
            write_wav(Path(out) / rendition.file, audio, SAMPLE_RATE)
            reported.append((rendition, ""))
    return reported


def _globs(values: list[str]) -> list[str]:
    return [g.strip() for value in values for g in value.split(",") if g.strip()]
