"""`synth generate`: a whole dataset, in shards, on every core, resumable and reproducible.

Example i is made from its own rng, seeded by (seed, i), so the bytes of every shard
and of the manifest depend only on the config, the seed and the input clips: not on
the worker count, the `--shard` slicing, or interruptions. That makes three things
simple. Resuming skips every shard file that already carries this plan's fingerprint.
Slices are disjoint sets of shards (shard k belongs to slice k mod N). Whichever run
finds all planned shards present writes manifest.json, so N slices run into one
folder (or copied into one and finished by a plain run) equal a single run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import json
import multiprocessing
import signal
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np
from threadpoolctl import threadpool_limits
from tqdm import tqdm

from wakeword.config import Config
from wakeword.dataset import FORMAT, SPLITS, VERSION
from wakeword.errors import DataError
from wakeword.fileio import atomic_write_bytes

from .augment import direct_path_first
from .clips import TAKES_ENGINE, Clip, load_clips
from .mixer import Mixer, Pools
from .noise import Recording, load_recordings
from .tts import voice_matches

# Independent rng streams drawn from one seed: (seed, stream, ...).
EXAMPLE_STREAM, SPLIT_STREAM = 0, 1
_CHUNK = 4  # examples per task sent to a worker: small, so the progress bar moves smoothly


@dataclass(frozen=True)
class Inputs:
    """Everything examples are made of, loaded once."""

    positives: list[Clip]
    negatives: list[Clip]
    recordings: list[Recording]
    impulse_responses: list[np.ndarray]
    skipped: list[str]  # one message per file left out
    hard_negatives: list[Clip] = dataclasses.field(default_factory=list)


NEGATIVE_KINDS = ("confusable", "speech")


def load_clip_folder(folder: str | Path, sample_rate: int, kinds: Sequence[str], skipped: list[str]) -> list[Clip]:
    """A clip folder's clips of `kinds` (the first is the default), sources relative to the folder."""
    loaded = load_clips(folder, sample_rate, default_kind=kinds[0])
    skipped += [f"{loaded.folder / name}: {why}" for name, why in loaded.skipped]
    clips = []
    for clip in loaded.clips:
        if clip.kind not in kinds:
            skipped.append(f"{clip.source}: its metadata says kind {clip.kind!r}, which does not belong in {folder}")
            continue
        # Relative sources keep the manifest and the resume check independent of where the folder sits.
        clips.append(dataclasses.replace(clip, source=Path(clip.source).relative_to(loaded.folder).as_posix()))
    if not clips:
        raise DataError(f"no {' or '.join(kinds)} clips in {folder}")
    return clips


def load_inputs(
    sample_rate: int,
    positives: Sequence[str | Path],
    negatives: Sequence[str | Path],
    backgrounds: Sequence[str | Path] = (),
    impulse_responses: str | Path | None = None,
    hard_negatives: str | Path | None = None,
) -> Inputs:
    """Clip folders (several of positives and of negatives, e.g. synthetic ones beside a
    person's own takes), background folders, an impulse-response folder and mined hard
    negatives; every unusable file is reported in `skipped`."""
    skipped: list[str] = []
    pos = [c for folder in positives for c in load_clip_folder(folder, sample_rate, ("positive",), skipped)]
    neg = [c for folder in negatives for c in load_clip_folder(folder, sample_rate, NEGATIVE_KINDS, skipped)]
    hard = load_clip_folder(hard_negatives, sample_rate, NEGATIVE_KINDS, skipped) if hard_negatives is not None else []
    recordings = []
    for folder in backgrounds:
        found = load_recordings(folder, sample_rate, "background")
        recordings += found.recordings
        skipped += found.skipped
    irs = []
    if impulse_responses is not None:
        found = load_recordings(impulse_responses, sample_rate, "impulse response")
        irs = [direct_path_first(r.audio) for r in found.recordings]
        skipped += found.skipped
    return Inputs(pos, neg, recordings, irs, skipped, hard)


def split_voices(inputs: Inputs, val_fraction: float, heldout: Sequence[str], seed: int) -> dict[str, list[str]]:
    """Whole voices to train, val or heldout; voices with positives are split apart from the rest,
    so that val surely gets some positives.

    A person's enrolment takes (engine "takes", `synth record`) train whenever at least two
    other voices say the phrase, and the other voices split as they would without them: a
    few takes are too precious to validate on, and a model fine-tuned on them (`make
    enrol`) must validate on the voices its base model never trained on, or its threshold
    is set on voices it knows. Other recordings (engine "user") split like any voice."""
    all_voices = {c.voice_id for c in [*inputs.positives, *inputs.negatives]}
    held = sorted(v for v in all_voices if voice_matches(v, heldout))
    speaking = sorted({c.voice_id for c in inputs.positives} - set(held))
    own = sorted(v for v in all_voices - set(held) if v.split(":", 1)[0] == TAKES_ENGINE)
    if len(set(speaking) - set(own)) < 2:
        own = []
    speaking = [v for v in speaking if v not in own]
    others = sorted(all_voices - set(held) - set(speaking) - set(own))
    if len(speaking) < 2:
        raise DataError(
            f"need positive clips from at least 2 voices outside synth.heldout_voices to hold whole voices out "
            f"for validation; found {len(speaking)}: add voices (synth speak) or narrow heldout_voices"
        )
    if val_fraction <= 0:
        raise DataError("synth.val_fraction is 0: training needs a validation split; set it to e.g. 0.15")
    rng = np.random.default_rng([seed, SPLIT_STREAM])
    split = {"train": list(own), "val": [], "heldout": held}
    for group, least in ((speaking, 1), (others, 0)):
        shuffled = [group[int(i)] for i in rng.permutation(len(group))]
        n_val = min(max(int(round(len(group) * val_fraction)), least), len(group) - least)
        split["val"] += shuffled[:n_val]
        split["train"] += shuffled[n_val:]
    return {name: sorted(voices) for name, voices in split.items()}


def split_pools(inputs: Inputs, voices: dict[str, list[str]]) -> dict[str, Pools]:
    def of(clips: list[Clip], split: str) -> list[Clip]:
        keep = set(voices[split])
        return [c for c in clips if c.voice_id in keep]

    return {
        split: Pools(of(inputs.positives, split), of(inputs.negatives, split), inputs.recordings, inputs.impulse_responses,
                     of(inputs.hard_negatives, split))
        for split in SPLITS
    }


@dataclass(frozen=True)
class ShardPlan:
    file: str  # relative to the dataset folder
    split: str
    first_id: int
    count: int

    @property
    def ids(self) -> range:
        return range(self.first_id, self.first_id + self.count)


def plan_shards(n_examples: int, val_fraction: float, shard_size: int) -> list[ShardPlan]:
    """Train examples first, then val; ids run through both."""
    n_val = min(max(1, int(round(n_examples * val_fraction))), n_examples - 1)
    shards, first = [], 0
    for split, count in (("train", n_examples - n_val), ("val", n_val)):
        for k, start in enumerate(range(0, count, shard_size)):
            size = min(shard_size, count - start)
            shards.append(ShardPlan(f"shards/{split}-{k:05d}.npz", split, first + start, size))
        first += count
    return shards


def _digest(audio: np.ndarray) -> str:
    return hashlib.sha1(np.ascontiguousarray(audio, dtype=np.float32).tobytes()).hexdigest()


def fingerprint(config: Config, inputs: Inputs, voices: dict, shards: list[ShardPlan]) -> str:
    """sha256 of everything that decides the examples (not the train and detector sections)."""
    recipe = config.to_dict()
    plan = {
        "config": {key: recipe[key] for key in ("phrase", "seed", "features", "model", "synth")},
        "voices": voices,
        "shards": [vars(s) for s in shards],
        "clips": [[c.kind, c.source, c.engine, c.voice, c.text, _digest(c.audio)] for c in [*inputs.positives, *inputs.negatives]],
        "recordings": [[r.name, _digest(r.audio)] for r in inputs.recordings],
        "impulse_responses": [_digest(ir) for ir in inputs.impulse_responses],
    }
    if config.features.frontend == "mel":  # the field's default: datasets made before it keep their fingerprint
        del plan["config"]["features"]["frontend"]
    if inputs.hard_negatives:
        plan["hard_negatives"] = [[c.kind, c.source, c.voice_id, _digest(c.audio)] for c in inputs.hard_negatives]
    else:  # the share draws nothing then: datasets made before it existed keep their fingerprint
        del plan["config"]["synth"]["hard_negative_share"]
    return hashlib.sha256(json.dumps(plan, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class Summary:
    examples: dict[str, int]
    positives: int
    hours: float
    voices: dict[str, int]
    skipped: int
    shards_done: int
    shards_total: int
    manifest_written: bool

    def line(self, out: Path) -> str:
        if not self.manifest_written:
            return (f"wrote this slice's shards; {self.shards_done} of {self.shards_total} shards present in {out}: "
                    "the run that completes the set writes manifest.json")
        voices = ", ".join(f"{k} {v}" for k, v in self.voices.items())
        examples = ", ".join(f"{k} {v}" for k, v in self.examples.items())
        return (f"{sum(self.examples.values())} examples ({examples}), {self.positives} positives, {self.hours:.2f} h; "
                f"voices: {voices}; skipped {self.skipped} files -> {out}")


# Per-process state of the example workers (set by _start_worker; fork shares the pools).
_WORKER: dict = {}


def _start_worker(config: Config, pools: dict[str, Pools], split_of: dict[int, str]) -> None:
    threadpool_limits(1)  # one process per core: BLAS threads inside would fight over them
    _WORKER.update(config=config, mixers={s: Mixer(config, p) for s, p in pools.items()}, split_of=split_of)


def _start_pool_worker(*args) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle: it stops the pool
    _start_worker(*args)


def _make_example(example_id: int) -> tuple[int, np.ndarray, np.ndarray, dict]:
    rng = np.random.default_rng([_WORKER["config"].seed, EXAMPLE_STREAM, example_id])
    example = _WORKER["mixers"][_WORKER["split_of"][example_id]].example(rng)
    return example_id, example.features.astype(np.float16), example.labels, {"id": example_id, **example.record()}


@contextlib.contextmanager
def _example_maker(workers: int, init_args: tuple) -> Iterator[Callable[[list[int]], Iterator[tuple]]]:
    """A function from example ids to their results in order: in this process, or on a pool."""
    if workers <= 1:
        with threadpool_limits(1):  # same single-threaded arithmetic as a worker, so the same bytes
            _start_worker(*init_args)
            try:
                yield lambda ids: map(_make_example, ids)
            finally:
                _WORKER.clear()
        return
    # fork: workers share the loaded clips copy-on-write instead of each unpickling them.
    with multiprocessing.get_context("fork").Pool(workers, _start_pool_worker, init_args) as pool:
        yield lambda ids: pool.imap(_make_example, ids, chunksize=_CHUNK)


def _shard_bytes(features: list[np.ndarray], labels: list[np.ndarray], records: list[dict], plan_sha: str) -> bytes:
    meta = json.dumps({"plan": plan_sha, "examples": records}, sort_keys=True).encode()
    buf = io.BytesIO()
    np.savez(buf, features=np.stack(features), labels=np.stack(labels), records=np.frombuffer(meta, dtype=np.uint8))
    return buf.getvalue()


def read_shard_records(path: Path) -> dict | None:
    """A shard's {"plan", "examples"}, or None when the file is missing or unreadable."""
    try:
        with np.load(path) as shard:
            return json.loads(shard["records"].tobytes())
    except FileNotFoundError:
        return None
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile, UnicodeDecodeError):
        print(f"synth generate: {path} is unreadable: making it again", file=sys.stderr)
        return None


def _shard_done(out: Path, shard: ShardPlan, plan_sha: str) -> bool:
    records = read_shard_records(out / shard.file)
    if records is None:
        return False
    if records.get("plan") != plan_sha:
        raise DataError(f"{out} holds shards made from another config, seed or clips: pass another --out, or delete it to start over")
    return [e["id"] for e in records["examples"]] == list(shard.ids)


def _write_shards(config: Config, pools: dict[str, Pools], todo: list[ShardPlan], out: Path, plan_sha: str,
                  workers: int, progress: bool) -> None:
    split_of = {i: sh.split for sh in todo for i in sh.ids}
    ids = [i for sh in todo for i in sh.ids]
    workers = min(workers, -(-len(ids) // _CHUNK))  # no idle processes for a handful of examples
    # The pool forks before tqdm starts its monitor thread: a fork copies no running threads.
    with _example_maker(workers, (config, pools, split_of)) as make, \
            tqdm(total=len(ids), unit="ex", desc="synth generate", disable=None if progress else True, file=sys.stderr) as bar:
        results = make(ids)
        for shard in todo:
            made = []
            for _ in shard.ids:
                made.append(next(results))
                bar.update(1)
            features, labels, records = zip(*[m[1:] for m in made])
            atomic_write_bytes(out / shard.file, _shard_bytes(list(features), list(labels), list(records), plan_sha))


def generate(
    config: Config,
    inputs: Inputs,
    out: str | Path,
    slice_index: int = 1,
    slice_count: int = 1,
    workers: int = 1,
    progress: bool = True,
) -> Summary:
    """Make the shards of slice `slice_index` of `slice_count` (1-based) that are not there yet;
    write manifest.json once every shard of the plan is present."""
    out = Path(out)
    s = config.synth
    voices = split_voices(inputs, s.val_fraction, s.heldout_voices, config.seed)
    pools = split_pools(inputs, voices)
    shards = plan_shards(s.n_examples, s.val_fraction, s.shard_size)
    plan_sha = fingerprint(config, inputs, voices, shards)
    manifest_path = out / "manifest.json"
    if manifest_path.exists():
        try:
            old_sha = json.loads(manifest_path.read_text()).get("plan_sha256")
        except (OSError, ValueError, AttributeError):
            old_sha = None
        if old_sha != plan_sha:
            raise DataError(f"{out} holds a dataset made from another config, seed or clips: pass another --out, or delete it to start over")

    mine = [sh for k, sh in enumerate(shards) if k % slice_count == slice_index - 1]
    todo = [sh for sh in mine if not _shard_done(out, sh, plan_sha)]
    _write_shards(config, pools, todo, out, plan_sha, workers, progress)

    present = [sh for sh in shards if _shard_done(out, sh, plan_sha)]
    complete = len(present) == len(shards)
    if complete:
        if manifest_path.exists():  # finished before: its bytes (and the hash training checks) stay as they are
            return summarize(json.loads(manifest_path.read_text()), len(inputs.skipped), len(shards))
        manifest = build_manifest(config, inputs, voices, shards, out, plan_sha)
        atomic_write_bytes(manifest_path, json.dumps(manifest, indent=1).encode())
        return summarize(manifest, len(inputs.skipped), len(shards))
    return Summary({}, 0, 0.0, {}, len(inputs.skipped), len(present), len(shards), False)


def build_manifest(config: Config, inputs: Inputs, voices: dict, shards: list[ShardPlan], out: Path, plan_sha: str) -> dict:
    examples = []
    for shard in shards:
        records = read_shard_records(out / shard.file)
        for index, record in enumerate(records["examples"]):
            examples.append({"id": record["id"], "split": shard.split, "shard": shard.file, "index": index,
                             "background": record["background"], "clips": record["clips"]})
    clip_s = config.synth.clip_s
    splits = {}
    for split in SPLITS:
        mine = [e for e in examples if e["split"] == split]
        kinds = [c["kind"] for e in mine for c in e["clips"]]
        splits[split] = {
            "examples": len(mine),
            "with_positive": sum(any(c["kind"] == "positive" for c in e["clips"]) for e in mine),
            **{f"{k}_clips": kinds.count(k) for k in ("positive", "confusable", "speech")},
            "hours": round(len(mine) * clip_s / 3600, 4),
        }
    return {
        "format": FORMAT, "version": VERSION, "config": config.to_dict(), "seed": config.seed, "plan_sha256": plan_sha,
        "splits": splits, "voices": voices,
        "inputs": {"positives": len(inputs.positives), "negatives": len(inputs.negatives), "hard_negatives": len(inputs.hard_negatives),
                   "recordings": len(inputs.recordings), "impulse_responses": len(inputs.impulse_responses),
                   "skipped": inputs.skipped},
        "shards": [{"file": sh.file, "split": sh.split, "examples": sh.count} for sh in shards],
        "examples": examples,
    }


def summarize(manifest: dict, skipped: int, n_shards: int) -> Summary:
    splits = manifest["splits"]
    return Summary(
        examples={k: v["examples"] for k, v in splits.items()},
        positives=sum(v["positive_clips"] for v in splits.values()),
        hours=sum(v["hours"] for v in splits.values()),
        voices={k: len(v) for k, v in manifest["voices"].items()},
        skipped=skipped, shards_done=n_shards, shards_total=n_shards, manifest_written=True,
    )
