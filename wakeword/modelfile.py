"""One-file model artifacts: weights plus everything needed to rebuild and trust them."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import torch

from . import __version__
from .config import Config, config_from_dict
from .errors import ConfigError, ModelFileError, first_line
from .fileio import atomic_output
from .model import WakewordModel

FORMAT = "wakeword-model"
# Bump when a change to features or model makes old files give different scores.
FORMAT_VERSION = 1


@dataclass
class LoadedModel:
    model: WakewordModel
    config: Config
    threshold: float
    metadata: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None

    @property
    def phrase(self) -> str:
        return self.config.phrase


def atomic_torch_save(obj: Any, path: str | Path) -> None:
    """torch.save through a temporary file and a rename: never a half-written file."""
    with atomic_output(path) as tmp:
        torch.save(obj, tmp)


def save_model(
    path: str | Path,
    model: WakewordModel,
    config: Config,
    threshold: float,
    data_manifest_sha256: str = "",
    metrics: dict[str, Any] | None = None,
) -> None:
    atomic_torch_save(
        {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "wakeword_version": __version__,
            "torch_version": str(torch.__version__),  # TorchVersion is not loadable with weights_only
            "phrase": config.phrase,
            "threshold": float(threshold),
            "config": config.to_dict(),
            "data_manifest_sha256": data_manifest_sha256,
            "metrics": metrics or {},
            "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        },
        path,
    )


def load_model(path: str | Path) -> LoadedModel:
    """Load a model file, failing with one line for anything that is not a compatible model."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"model file not found: {path}")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # the unpickler fails on arbitrary bytes with many types (IndexError on a text file)
        raise ModelFileError(f"{path} is not a readable wakeword model (truncated or another file type): {first_line(exc)[:120]}") from None
    if not isinstance(blob, dict) or blob.get("format") != FORMAT:
        raise ModelFileError(f"{path} is not a wakeword model file")
    version = blob.get("format_version")
    if version != FORMAT_VERSION:
        raise ModelFileError(
            f"{path} has model format {version} (made by wakeword {blob.get('wakeword_version', '?')}); "
            f"this wakeword {__version__} reads format {FORMAT_VERSION}: retrain it or use a matching wakeword"
        )
    try:
        config = config_from_dict(blob["config"])
        model = WakewordModel(config.features.n_mels, config.model)
        model.load_state_dict(blob["state_dict"])
    except (ConfigError, KeyError, RuntimeError) as exc:
        raise ModelFileError(f"{path} does not match this wakeword {__version__}: {first_line(exc)[:160]}") from None
    model.eval()
    metadata = {k: v for k, v in blob.items() if k not in ("state_dict", "config")}
    return LoadedModel(model=model, config=config, threshold=float(blob["threshold"]), metadata=metadata, path=path)


def bundled_model_path() -> Path:
    return Path(__file__).parent / "models" / "activate.pt"


def load_models(paths: Sequence[str | Path] | None) -> list[LoadedModel]:
    """The given model files, or the bundled model when none is given."""
    if not paths:
        bundled = bundled_model_path()
        if not bundled.is_file():
            raise ModelFileError(f"the bundled model {bundled} is missing: build it with `make model`, or pass --model FILE")
        paths = [bundled]
    return [load_model(p) for p in paths]
