"""Model files: the weights plus everything needed to rebuild and trust them, read without torch.

A model file is a zip archive in numpy's `.npz` layout (`numpy.load` reads its arrays):
`meta.json` (format and versions, phrase, threshold, the whole config, the frontend's
kind, the training data's hash, metrics) and one `NAME.npy` per entry of the network's
torch state_dict. The listener folds those arrays into its numpy `StreamingModel`;
training reads the same arrays back into torch (`--init`, `eval`), so one file serves both.

Model files before this format were torch pickles (`.pt`, a zip with a `data.pkl`):
where torch is installed they are converted on load (`wakeword.ptfile`), and
`wakeword export` rewrites one as a model file.
"""

from __future__ import annotations

import io
import json
import zipfile
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from . import __version__
from .config import Config, config_from_dict
from .errors import ConfigError, ModelFileError, first_line
from .features import FRONTENDS
from .fileio import atomic_write_bytes
from .gate import Gate
from .streaming_model import StreamingModel

if TYPE_CHECKING:
    from .model import WakewordModel

FORMAT = "wakeword-model"
# Bump when a change to features or model makes old files give different scores.
FORMAT_VERSION = 1
META = "meta.json"
# meta.json "kind" of a fused model file (a plain model file has none), and its "fusion":
# how the members' scores become one (`scoring.fuse_scores`). Files from before the
# field averaged probabilities, so their thresholds mean something else.
FUSED = "fused"
FUSION = "logit_mean"
# A gated pair (`wakeword.gate`) scores 0 where its gate is shut: another rule, which
# wakeword before gates refuses by this name instead of scoring every step.
GATED_FUSION = "logit_mean_gated"
# The feature frontend every file before the field existed used.
DEFAULT_FRONTEND = "mel"


@dataclass(eq=False)  # compared by identity: arrays have no one truth value
class LoadedModel:
    config: Config
    threshold: float
    weights: dict[str, np.ndarray]  # the torch state_dict of `WakewordModel`, as numpy arrays
    metadata: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None
    frontend: str = DEFAULT_FRONTEND
    network: StreamingModel = field(init=False)

    def __post_init__(self) -> None:
        # Folded once here, which also checks the weights against the config (ValueError).
        self.network = StreamingModel.fold(self.weights, self.config.features.n_mels, self.config.model)

    @property
    def phrase(self) -> str:
        return self.config.phrase

    @cached_property
    def model(self) -> WakewordModel:
        """The same weights as a torch `WakewordModel` (training's side: needs torch)."""
        from .model import WakewordModel

        return WakewordModel.from_weights(self.weights, self.config.features.n_mels, self.config.model)


@dataclass(eq=False)
class FusedModel:
    """Models of one phrase, each on its own frontend, scored as one (the mean of their log-odds).

    Two models that err on different things make a better detector than either: a
    log-mel model trained on synthetic voices and one over a speech embedding learnt
    from real speech (docs/levers.md 26). `wakeword.scoring.ScoringPlan` aligns their
    time lines. The detector settings are the first member's. With a `gate`, the
    members on the slowest time line run only where the others' score opens it.
    """

    members: list[LoadedModel]
    threshold: float
    metadata: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None
    gate: Gate | None = None

    def __post_init__(self) -> None:
        if len(self.members) < 2:
            raise ValueError(f"a fused model needs two or more members, not {len(self.members)}")
        phrases = {m.phrase for m in self.members}
        if len(phrases) != 1:
            raise ValueError(f"a fused model's members must share one phrase, not {', '.join(sorted(phrases))}")
        if self.gate is not None and len({m.frontend for m in self.members}) < 2:
            raise ValueError("a gate needs members on two frontends: one opens it, the slower one runs behind it")

    @property
    def phrase(self) -> str:
        return self.members[0].phrase

    @property
    def config(self) -> Config:
        return self.members[0].config

    @property
    def frontend(self) -> str:
        return "+".join(m.frontend for m in self.members)


# What the scorers and detectors take: a model, or models fused into one.
ScoredModel = LoadedModel | FusedModel


def write_fused_model(path: str | Path, member_files: Sequence[str | Path], threshold: float, calibration: dict[str, Any] | None = None,
                      gate: Gate | None = None) -> None:
    """A fused model file: the members' files inside it, whole, the fused threshold and its gate (atomically)."""
    members = [Path(p).read_bytes() for p in member_files]
    meta = {"format": FORMAT, "format_version": FORMAT_VERSION, "kind": FUSED, "fusion": FUSION if gate is None else GATED_FUSION,
            "wakeword_version": __version__, "threshold": float(threshold), "members": [f"members/{k}.npz" for k in range(len(members))],
            "calibration": calibration or {}, **({} if gate is None else {"gate": gate.to_dict()})}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr(zipfile.ZipInfo(META, date_time=(1980, 1, 1, 0, 0, 0)), json.dumps(meta, indent=1))
        for name, data in zip(meta["members"], members):
            archive.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), data)
    atomic_write_bytes(path, buf.getvalue())


def write_model(
    path: str | Path,
    weights: Mapping[str, np.ndarray],
    config: Config,
    threshold: float,
    data_manifest_sha256: str = "",
    metrics: dict[str, Any] | None = None,
    torch_version: str = "",
) -> None:
    """Write a model file (atomically). `torch_version`: the torch that trained it, for the record."""
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "wakeword_version": __version__,
        "torch_version": torch_version,
        "phrase": config.phrase,
        "threshold": float(threshold),
        "frontend": config.features.frontend,
        "config": config.to_dict(),
        "data_manifest_sha256": data_manifest_sha256,
        "metrics": metrics or {},
    }
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as archive:  # stored: float weights barely compress
        # A fixed date, as `archive.open` gives the arrays: the same model makes the same bytes.
        archive.writestr(zipfile.ZipInfo(META, date_time=(1980, 1, 1, 0, 0, 0)), json.dumps(meta, indent=1, default=_json_scalar))
        for name, array in weights.items():
            with archive.open(f"{name}.npy", "w") as member:
                np.lib.format.write_array(member, np.asarray(array), allow_pickle=False)
    atomic_write_bytes(path, buf.getvalue())


def _json_scalar(value: Any) -> Any:
    """numpy scalars in metrics (a float32 recall) as plain numbers."""
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def load_model(path: str | Path) -> ScoredModel:
    """Load a model file (a fused one, or an older torch `.pt` one), failing with one line for
    anything that is not a compatible model."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"model file not found: {path}")
    return _read_model(path, path.read_bytes())


def load_single_model(path: str | Path, purpose: str) -> LoadedModel:
    """`load_model` for what works on one network's weights (training from it, converting it)."""
    model = load_model(path)
    if isinstance(model, FusedModel):
        raise ModelFileError(f"{path} is a fused model of {len(model.members)} models: {purpose} needs one of them, not the pair")
    return model


def _read_model(path: Path, data: bytes, inside: Path | None = None) -> ScoredModel:
    """`path` names the file in messages; `inside`, the fused file a member came from."""
    shown = f"{inside} (member {path.name})" if inside else str(path)
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = archive.namelist()
            if META not in names:
                if any(n.endswith("/data.pkl") for n in names) and inside is None:
                    return _load_torch_file(path)
                raise ModelFileError(f"{shown} is not a wakeword model file")
            meta = json.loads(archive.read(META))
            if not isinstance(meta, dict) or meta.get("format") != FORMAT:
                raise ModelFileError(f"{shown} is not a wakeword model file")
            check_format_version(meta, path)
            if meta.get("kind") == FUSED and inside is None:
                if meta.get("fusion") not in (FUSION, GATED_FUSION):
                    raise ModelFileError(
                        f"{path} fuses its members by another rule ({meta.get('fusion', 'the mean of probabilities')}), "
                        f"so its threshold does not fit this wakeword's: fuse them again (`unzip -d DIR {path.name}` "
                        "gives them as DIR/members/*.npz, then `wakeword fuse`)")
                members = [_read_model(Path(n), archive.read(n), inside=path) for n in meta["members"]]
                try:
                    gate = Gate.from_dict(meta["gate"]) if meta["fusion"] == GATED_FUSION else None
                    return FusedModel(members, float(meta["threshold"]), {k: v for k, v in meta.items() if k != "members"}, path, gate)
                except (KeyError, TypeError, ValueError, ConfigError) as exc:
                    raise ModelFileError(f"{path} is not a usable fused model: {first_line(exc)[:160]}") from None
            weights = {
                n[: -len(".npy")]: np.lib.format.read_array(io.BytesIO(archive.read(n)), allow_pickle=False)
                for n in names if n.endswith(".npy")
            }
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError, KeyError, ValueError) as exc:  # ValueError: bad JSON or .npy
        raise ModelFileError(f"{shown} is not a readable wakeword model (truncated or another file type): {first_line(exc)[:120]}") from None
    return model_from_parts(path if inside is None else inside, meta, weights)


def check_format_version(meta: Mapping[str, Any], path: Path) -> None:
    version = meta.get("format_version")
    if version != FORMAT_VERSION:
        raise ModelFileError(
            f"{path} has model format {version} (made by wakeword {meta.get('wakeword_version', '?')}); "
            f"this wakeword {__version__} reads format {FORMAT_VERSION}: retrain it or use a matching wakeword"
        )


def model_from_parts(path: Path, meta: Mapping[str, Any], weights: dict[str, np.ndarray]) -> LoadedModel:
    """A `LoadedModel` from a file's metadata and arrays (of either file kind), checked against this wakeword."""
    frontend = meta.get("frontend", DEFAULT_FRONTEND)
    if frontend not in FRONTENDS:
        raise ModelFileError(
            f"{path} needs the {frontend!r} frontend, which this wakeword {__version__} does not have "
            f"(it has {', '.join(FRONTENDS)}): use a newer wakeword"
        )
    try:
        config = config_from_dict(meta["config"])
        threshold = float(meta["threshold"])
        if config.features.frontend != frontend:
            raise ValueError(f"its frontend {frontend!r} is not its config's {config.features.frontend!r}")
        loaded = LoadedModel(config, threshold, weights, path=path, frontend=frontend,
                             metadata={k: v for k, v in meta.items() if k != "config"})
    except (ConfigError, KeyError, TypeError, ValueError) as exc:
        raise ModelFileError(f"{path} does not match this wakeword {__version__}: {first_line(exc)[:160]}") from None
    return loaded


def _load_torch_file(path: Path) -> LoadedModel:
    try:
        from .ptfile import read_torch_model_file
    except ModuleNotFoundError as exc:
        if exc.name != "torch":
            raise
        raise ModelFileError(
            f"{path} is an older torch model file (.pt), and this install has no torch: convert it with "
            f"`wakeword export {path}` where wakeword[train] is installed"
        ) from None
    return read_torch_model_file(path)


def bundled_model_path() -> Path:
    return Path(__file__).parent / "models" / "activate.npz"


def load_models(paths: Sequence[str | Path] | None) -> list[ScoredModel]:
    """The given model files, or the bundled model when none is given."""
    if not paths:
        bundled = bundled_model_path()
        if not bundled.is_file():
            raise ModelFileError(f"the bundled model {bundled} is missing: build it with `make model`, or pass --model FILE")
        paths = [bundled]
    return [load_model(p) for p in paths]
