"""Reading the dataset `synth generate` writes (format in docs/architecture.md).

A split is held in memory as float16 features and uint8 labels, in manifest order;
`split_truth` turns a split's clip records into the answers for scoring its examples
as one long stream laid end to end.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .config import Config, config_from_dict
from .errors import ConfigError, DataError, first_line
from .evaluation import Truth
from .streaming_model import num_steps

FORMAT = "wakeword-dataset"
VERSION = 1
SPLITS = ("train", "val")


@dataclass(frozen=True)
class Split:
    features: np.ndarray  # (examples, frames, n_mels) float16
    labels: np.ndarray  # (examples, steps) uint8
    examples: list[dict[str, Any]]  # the manifest's records, in the same order

    def __len__(self) -> int:
        return len(self.examples)


@dataclass(frozen=True)
class Dataset:
    path: Path
    config: Config  # the recipe the data was made with
    manifest_sha256: str
    splits: dict[str, Split]


def load_dataset(path: str | Path) -> Dataset:
    """Load every split into memory, failing with one line for anything inconsistent."""
    path = Path(path)
    if not path.is_dir():
        raise DataError(f"dataset folder not found: {path} (make one with `synth generate`)")
    manifest_path = path / "manifest.json"
    try:
        raw = manifest_path.read_bytes()
        manifest = json.loads(raw)
    except FileNotFoundError:
        raise DataError(f"{path} has no manifest.json: not a dataset folder (make one with `synth generate`)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"cannot read {manifest_path}: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise DataError(f"{manifest_path} is not a wakeword dataset manifest")
    if manifest.get("version") != VERSION:
        raise DataError(
            f"{manifest_path} has dataset version {manifest.get('version')}; this wakeword reads version {VERSION}: "
            "regenerate it with this version's `synth generate`"
        )
    try:
        config = config_from_dict(manifest["config"])
        shards, examples = list(manifest["shards"]), list(manifest["examples"])
        splits = {name: _load_split(path, config, shards, examples, name) for name in SPLITS}
    except ConfigError as exc:
        raise DataError(f"{manifest_path}: bad config: {exc}") from None
    except (KeyError, TypeError, ValueError) as exc:
        raise DataError(f"{manifest_path} is malformed ({type(exc).__name__}: {exc}): regenerate the dataset") from None
    return Dataset(path=path, config=config, manifest_sha256=hashlib.sha256(raw).hexdigest(), splits=splits)


def _load_split(root: Path, config: Config, shards: list[dict], examples: list[dict], name: str) -> Split:
    files = [s["file"] for s in shards if s["split"] == name]
    if not files:
        raise DataError(f"{root} has no {name} shards: regenerate the dataset")
    by_shard: dict[str, list[dict]] = {f: [] for f in files}
    for example in examples:
        if example["split"] == name:
            by_shard[example["shard"]].append(example)
    features, labels, ordered = [], [], []
    for file in files:
        feats, labs = _read_shard(root / file)
        records = sorted(by_shard[file], key=lambda e: e["index"])
        if [e["index"] for e in records] != list(range(len(feats))):
            raise DataError(f"{root / file} holds {len(feats)} examples but the manifest lists {len(records)}: regenerate the dataset")
        features.append(feats)
        labels.append(labs)
        ordered.extend(records)
    if not ordered:
        raise DataError(f"{root} has no {name} examples: regenerate the dataset with more examples")
    split = Split(np.concatenate(features), np.concatenate(labels), ordered)
    frames = split.features.shape[1]
    if split.features.shape[2] != config.features.n_mels or split.labels.shape[1] != num_steps(frames, config.model):
        raise DataError(f"{root}: {name} shard shapes do not match the manifest's config: regenerate the dataset")
    return split


def _read_shard(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        with np.load(path) as shard:
            features, labels = shard["features"], shard["labels"]
    except FileNotFoundError:
        raise DataError(f"shard {path} is missing: the dataset is incomplete (finish it with `synth generate`)") from None
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise DataError(f"cannot read shard {path}: {first_line(exc)}") from None
    if features.ndim != 3 or labels.ndim != 2 or len(features) != len(labels):
        raise DataError(f"shard {path} has features {features.shape} and labels {labels.shape}: expected (n, frames, mels) and (n, steps)")
    return features, labels


def split_truth(split: Split, clip_s: float) -> Truth:
    """The answers for a split's examples laid end to end, example i starting at i * clip_s."""
    positives: list[tuple[float, float]] = []
    negatives: list[tuple[float, float, str]] = []
    try:
        for i, example in enumerate(split.examples):
            offset = i * clip_s
            for clip in example["clips"]:
                start, end = offset + float(clip["start_s"]), offset + float(clip["end_s"])
                if clip["kind"] == "positive":
                    positives.append((start, end))
                else:
                    negatives.append((start, end, str(clip["kind"])))
    except (KeyError, TypeError, ValueError) as exc:
        raise DataError(f"an example's clip records are malformed ({type(exc).__name__}: {exc}): regenerate the dataset") from None
    return Truth(duration_s=len(split) * clip_s, positives=positives, negatives=negatives)


def check_compatible(data: Config, config: Config) -> None:
    """Training `config` on data made with `data`: features and label time line must agree."""
    if data.phrase != config.phrase:
        raise ConfigError(f"the dataset is for phrase {data.phrase!r}, the config for {config.phrase!r}")
    if data.features != config.features:
        raise ConfigError("the config's features differ from those the dataset was made with: use the dataset's features section")
    if (data.model.conv_kernel, data.model.conv_stride) != (config.model.conv_kernel, config.model.conv_stride):
        raise ConfigError(
            f"the dataset's labels are for model.conv_kernel={data.model.conv_kernel}, conv_stride={data.model.conv_stride}: "
            "use those or regenerate the dataset"
        )
