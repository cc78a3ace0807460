"""Command start-up: wall time from exec to exit, for commands that do little audio work.

`--help` builds the whole parser; `wakeword info` also loads the bundled model, and
`wakeword detect` on a one-second file loads it and scores its steps: start to first
score, at most (the file's last step comes a few ms after its first). With `--baseline
DIR` (or $WAKEWORD_BENCH_BASELINE) an older checkout runs the same commands beside this
one. Prints a markdown table (see bench.py).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from bench_engine import RATE, Checkout, checkouts

RUNS = 5
COMMANDS = [
    ("wakeword", ["--version"]),
    ("wakeword", ["--help"]),
    ("wakeword", ["listen", "--help"]),
    ("synth", ["--help"]),
    ("wakeword", ["info"]),
    ("wakeword", ["detect", "ONE_SECOND"]),
]


def wall_seconds(argv: list[str], run: Checkout) -> float:
    started = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, **run.run_kwargs())
    return time.perf_counter() - started


def timing(run: Checkout, cli: str, args: list[str]) -> str:
    argv = run.wakeword(*args, cli=cli)
    wall_seconds(argv, run)  # a warm file cache
    times = [wall_seconds(argv, run) for _ in range(RUNS)]
    return f"{statistics.median(times):.2f} s ({min(times):.2f}-{max(times):.2f})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", metavar="DIR", help="an older wakeword checkout with its own .venv")
    runs = checkouts(parser.parse_args().baseline)
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp:
        one_second = Path(tmp) / "one_second.wav"
        rng = np.random.default_rng(0)
        sf.write(one_second, (rng.standard_normal(RATE) * 0.01).astype(np.float32), RATE, subtype="PCM_16")
        print(f"Median (fastest-slowest) of {RUNS} runs each, after one unmeasured run (a warm file cache); "
              "`python -m wakeword.cli` under each checkout's interpreter. `detect one_second.wav`: start to exit "
              "over one second of audio, an upper bound on start to first score.\n")
        print("| command | " + " | ".join(r.label for r in runs) + " |")
        print("|---|" + "---:|" * len(runs))
        for cli, args in COMMANDS:
            shown = " ".join(one_second.name if a == "ONE_SECOND" else a for a in args)
            args = [str(one_second) if a == "ONE_SECOND" else a for a in args]
            print(f"| `{cli} {shown}` | " + " | ".join(timing(r, cli, args) for r in runs) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
