"""DET curves: false reject rate against false accepts per hour (log scale), as PNG."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from pathlib import Path

from .evaluation import EvalResult
from .fileio import atomic_write_bytes


def plot_det(
    path: str | Path,
    curves: Mapping[str, Sequence[EvalResult]],
    points: Mapping[str, EvalResult] | None = None,
    title: str = "",
) -> None:
    """One line per curve (a threshold sweep), plus labelled operating points.

    A log axis has no zero: points with no false accept are drawn at half of one false
    accept in the stream, left of a dotted line that marks the stream's resolution.
    """
    # The object API with an Agg canvas: no pyplot, no global backend switch.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    results = [r for curve in curves.values() for r in curve] + list((points or {}).values())
    if not results:
        raise ValueError("nothing to plot: no curve has a point and no operating point is given")
    hours = min(r.hours for r in results)
    resolution = 1.0 / hours

    def x(r: EvalResult) -> float:
        return max(r.false_accepts_per_hour, resolution / 2)

    fig = Figure(figsize=(7, 5))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for label, curve in curves.items():
        ordered = sorted(curve, key=lambda r: r.threshold)
        ax.plot([x(r) for r in ordered], [r.false_reject_rate for r in ordered], marker=".", label=label)
    labels_at: dict[tuple[float, float], list[str]] = {}
    for label, r in (points or {}).items():
        labels_at.setdefault((x(r), r.false_reject_rate), []).append(label)
    for (px, py), labels in labels_at.items():
        ax.plot([px], [py], "o", color="black")
        ax.annotate("\n".join(labels), (px, py), textcoords="offset points", xytext=(6, 6), fontsize=8)
    ax.axvline(resolution, linestyle=":", color="gray")
    ax.text(resolution, 0.0, " 1 false accept\n in the stream", fontsize=7, color="gray", va="bottom")
    ax.set_xscale("log")
    ax.set_xlabel(f"false accepts per hour (log; {hours:.2f} h of audio; none plotted at {resolution / 2:.2g})")
    ax.set_ylabel("false reject rate")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="upper right")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    atomic_write_bytes(path, buf.getvalue())
