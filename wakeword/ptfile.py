"""torch's side of model files: the `.pt` pickles wakeword wrote before `wakeword.modelfile`'s
format, read and converted, and torch.save through a rename (training's checkpoints)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from .errors import ModelFileError, first_line
from .fileio import atomic_output
from .modelfile import FORMAT, LoadedModel, check_format_version, model_from_parts


def atomic_torch_save(obj: Any, path: str | Path) -> None:
    """torch.save through a temporary file and a rename: never a half-written file."""
    with atomic_output(path) as tmp:
        torch.save(obj, tmp)


def read_torch_model_file(path: Path) -> LoadedModel:
    """A `.pt` model file: a dict of the same metadata as a model file's, plus `state_dict`."""
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # the unpickler fails on arbitrary bytes with many types (IndexError on a text file)
        raise ModelFileError(f"{path} is not a readable wakeword model (truncated or another file type): {first_line(exc)[:120]}") from None
    if not isinstance(blob, dict) or blob.get("format") != FORMAT or not isinstance(blob.get("state_dict"), dict):
        raise ModelFileError(f"{path} is not a wakeword model file")
    check_format_version(blob, path)
    weights = {k: v.numpy() for k, v in blob["state_dict"].items() if isinstance(v, torch.Tensor)}
    return model_from_parts(path, {k: v for k, v in blob.items() if k != "state_dict"}, weights)
