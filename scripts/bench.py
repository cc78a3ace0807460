"""`make bench`: run every benchmark section and write docs/benchmarks.md.

Each section is a script that prints markdown (its figures and the exact command that
produced them). Benchmarks are not tests: nothing here asserts a figure.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable

SECTIONS = {
    "synth": ("Dataset synthesis throughput", [PY, "scripts/bench_synth.py"]),
    "detect": ("Streaming detection: CPU, latency, memory, soak", [PY, "scripts/bench_detect.py"]),
    "startup": ("Command start-up", [PY, "scripts/bench_startup.py"]),
    # Real time: 3 client counts x 60 s for each server, about 8 min with the installs.
    "serve": ("Wyoming server (`wakeword serve`): concurrent real-time clients", [PY, "scripts/bench_serve.py"]),
    "backend": ("The listener's network step: numpy or onnxruntime", [PY, "scripts/bench_backend.py"]),
    "quality": ("Bundled model quality on the held-out stream", [PY, "scripts/bench_quality.py"]),
    # A neural voice no training recipe here hears (make model leaves piper out): the
    # nearest to a person's speech this machine can make. About 10 min with its clips.
    "natural": ("Bundled model on a neural voice it never heard (piper)",
                [PY, "scripts/bench_quality.py", "--engine", "piper", "--build", "build/natural", "--minutes", "120",
                 "--plot", "docs/det_natural.png"]),
    # A person's own takes: two simulated users, enrol.sh for each, about 12 min each.
    "enrol": ("Enrolment: the bundled model fine-tuned on one person's takes",
              [PY, "scripts/bench_enrol.py"]),
    # Real people (../shared/real): a fold per word of the four crowd-sourced wake words and
    # per recipe, about 10 min each, with a real-voice and a synthetic stream per word.
    "real": ("Real people: four crowd-sourced wake words", [PY, "scripts/bench_real.py"]),
    # Slow: one dataset and one training per engine family the recipe's clips hold, one
    # more for all the families they lack, about 10 min each: 45 min for the default recipe.
    "generalization": ("Generalization: speech levels, leave one engine family out",
                       [PY, "scripts/bench_generalization.py", "--plot", "docs/det_loeo.png"]),
}


def run_section(title: str, command: list[str]) -> str:
    started = time.monotonic()
    proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    took = time.monotonic() - started
    body = proc.stdout.strip() if proc.returncode == 0 else f"**failed** (exit {proc.returncode}):\n\n```\n{proc.stderr.strip()[-2000:]}\n```"
    return f"## {title}\n\nCommand: `.venv/bin/python {' '.join(command[1:])}` ({took:.0f} s)\n\n{body}\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("sections", nargs="*", help=f"sections to run, of {', '.join(SECTIONS)} (default: all)")
    parser.add_argument("--out", default=str(ROOT / "docs" / "benchmarks.md"))
    args = parser.parse_args()
    names = args.sections or list(SECTIONS)
    unknown = sorted(set(names) - set(SECTIONS))
    if unknown:
        parser.error(f"unknown section(s) {', '.join(unknown)}; choose from {', '.join(SECTIONS)}")
    # Each section keeps its own file, so one section can be rerun without the others.
    parts_dir = Path(args.out).parent / "bench"
    parts_dir.mkdir(parents=True, exist_ok=True)
    for name in names:
        title, command = SECTIONS[name]
        print(f"bench: {title} ...", file=sys.stderr, flush=True)
        stamp = f"_{dt.date.today()}, {platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}_\n\n"
        (parts_dir / f"{name}.md").write_text(run_section(title, command).replace("\n\n", "\n\n" + stamp, 1))
    header = (
        "# Benchmarks\n\n"
        "Produced by `make bench` (`.venv/bin/python scripts/bench.py [SECTION ...]`), each section with the command "
        "that made it and the day it ran. Benchmarks are not tests: figures are measured, not asserted. "
        "The recipe levers behind the current figures, with before/after numbers: [levers.md](levers.md).\n"
    )
    parts = [header] + [(parts_dir / f"{n}.md").read_text() for n in SECTIONS if (parts_dir / f"{n}.md").exists()]
    Path(args.out).write_text("\n".join(parts))
    print(f"bench: wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
