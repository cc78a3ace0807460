"""Command start-up: wall time from exec to exit, for commands that do no audio work.

`--help` builds the whole parser; `wakeword info` also loads torch and the bundled model,
which every command that scores audio pays once. Prints a markdown table (see bench.py).
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

BIN = Path(sys.executable).parent
RUNS = 5
COMMANDS = [
    ["wakeword", "--version"],
    ["wakeword", "--help"],
    ["wakeword", "listen", "--help"],
    ["synth", "--help"],
    ["wakeword", "info"],
]


def wall_seconds(argv: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run([str(BIN / argv[0]), *argv[1:]], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> int:
    print(f"Median and range of {RUNS} runs each, after one unmeasured run (a warm file cache).\n")
    print("| command | median | fastest | slowest |\n|---|---:|---:|---:|")
    for argv in COMMANDS:
        wall_seconds(argv)
        times = [wall_seconds(argv) for _ in range(RUNS)]
        print(f"| `{' '.join(argv)}` | {statistics.median(times):.2f} s | {min(times):.2f} s | {max(times):.2f} s |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
