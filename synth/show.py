"""A PNG of one dataset example: its features, the clips spoken into it, and its labels."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np

from wakeword.config import config_from_dict
from wakeword.errors import ConfigError, DataError
from wakeword.fileio import atomic_write_bytes
from wakeword.streaming_model import step_end_seconds

COLOURS = {"positive": "tab:green", "confusable": "tab:red", "speech": "tab:orange"}


def read_example(dataset: str | Path, index: int) -> tuple[dict, np.ndarray, np.ndarray, dict]:
    """(manifest, features, labels, record) of example `index`, reading only its shard."""
    dataset = Path(dataset)
    path = dataset / "manifest.json"
    try:
        manifest = json.loads(path.read_text())
        examples = manifest["examples"]
    except FileNotFoundError:
        raise DataError(f"{dataset} has no manifest.json: not a dataset folder (make one with `synth generate`)") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DataError(f"cannot read {path}: {exc}") from None
    if not 0 <= index < len(examples):
        raise DataError(f"--index {index} is out of range: {dataset} holds examples 0..{len(examples) - 1}")
    record = examples[index]
    try:
        with np.load(dataset / record["shard"]) as shard:
            return manifest, shard["features"][record["index"]].astype(np.float32), shard["labels"][record["index"]], record
    except (OSError, KeyError, ValueError, IndexError) as exc:
        raise DataError(f"cannot read shard {dataset / record['shard']}: {exc}") from None


def plot_example(dataset: str | Path, index: int, out: str | Path) -> dict:
    """Write the PNG; return the example's record."""
    manifest, features, labels, record = read_example(dataset, index)
    try:
        config = config_from_dict(manifest["config"])
    except (ConfigError, KeyError) as exc:
        raise DataError(f"{dataset}/manifest.json has a bad config: {exc}") from None
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    f = config.features
    # Frame n covers [n*hop, n*hop + win): draw it at its centre.
    centres = (np.arange(len(features)) * f.hop_length + f.win_length / 2) / f.sample_rate
    step_ends = step_end_seconds(np.arange(len(labels)), f, config.model)
    duration = config.synth.clip_s

    fig = Figure(figsize=(12, 5.5))
    FigureCanvasAgg(fig)
    top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [4, 1]})
    top.imshow(features.T, origin="lower", aspect="auto", cmap="magma",
               extent=(centres[0], centres[-1], -0.5, features.shape[1] - 0.5) if len(centres) > 1 else None)
    for clip in record["clips"]:
        colour = COLOURS.get(clip["kind"], "tab:blue")
        top.axvspan(clip["start_s"], clip["end_s"], color=colour, alpha=0.25)
        top.axvline(clip["end_s"], color=colour, linewidth=1)
        top.text(clip["start_s"], features.shape[1] - 1, f"{clip['text'] or clip['kind']}\n{clip['voice']}",
                 color="white", fontsize=8, va="top", bbox={"facecolor": colour, "alpha": 0.7, "pad": 2})
    background = record.get("background", {})
    top.set_title(f"example {index} ({record['split']}), background {background.get('kind', '?')} "
                  f"{', '.join(background.get('parts', {})) or background.get('file', '')}, SNR {background.get('snr_db', '?')} dB",
                  fontsize=10)
    top.set_ylabel("mel band")
    bottom.step(step_ends, labels, where="post", color="tab:green")
    bottom.fill_between(step_ends, labels, step="post", color="tab:green", alpha=0.3)
    bottom.set_ylim(-0.1, 1.1)
    bottom.set_yticks([0, 1])
    bottom.set_ylabel("label")
    bottom.set_xlabel("seconds (labels at each output step's end time)")
    bottom.set_xlim(0, duration)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    atomic_write_bytes(out, buf.getvalue())
    return record
