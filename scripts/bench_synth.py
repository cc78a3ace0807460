"""Dataset synthesis throughput: ten-second examples per minute, features included.

Renders a small clip set with `synth speak` (the default recipe's three engines), then times the real
`synth generate` command (process start, clip loading, mixing, features, shard writing)
on all cores with configs/activate.yaml, and prints markdown. Not a test: nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def run(argv: list[str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the command and its worker processes)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    subprocess.run(argv, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.monotonic() - started, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=2000, help="examples to generate (default: %(default)s)")
    parser.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)), help="default: all cores (%(default)s)")
    parser.add_argument("--config", default=str(ROOT / "configs" / "activate.yaml"))
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-synth-") as tmp:
        tmp = Path(tmp)
        data = yaml.safe_load(Path(args.config).read_text())
        data.setdefault("synth", {})["n_examples"] = args.examples
        config = tmp / "config.yaml"
        config.write_text(yaml.safe_dump(data))
        synth = str(BIN / "synth")
        # The default recipe's engines (speak_clips.sh), so figures of different days compare.
        engines = ["--engines", "espeak-ng,flite,festival"]
        run([synth, "speak", data["phrase"], *engines, "--count", "90", "--out", str(tmp / "positives")])
        run([synth, "speak", data["phrase"], *engines, "--negatives", "--count", "180", "--out", str(tmp / "negatives")])
        command = [synth, "generate", "--config", str(config), "--positives", str(tmp / "positives"),
                   "--negatives", str(tmp / "negatives"), "--out", str(tmp / "data"), "--workers", str(args.workers), "--quiet"]
        seconds, cpu = run(command)

    clip_s = data["synth"].get("clip_s", 10.0)
    shown = f"synth generate --config {Path(args.config).name} (n_examples={args.examples}) --workers {args.workers}"
    print("| examples | clip | workers | wall time | examples per minute | CPU time | examples per CPU-minute |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    print(f"| {args.examples} | {clip_s:g} s | {args.workers} | {seconds:.1f} s | {args.examples / seconds * 60:.0f} | "
          f"{cpu:.1f} s | {args.examples / cpu * 60:.0f} |")
    print(f"\nCommand: `{shown}` over 90 positive and 180 negative clips from `synth speak` (espeak-ng, flite, festival); "
          "wall time of the whole command: start-up, clip loading, mixing, augmentation, log-mel/PCEN features, shard and manifest writing. "
          "Examples per CPU-minute is the figure other load on the machine does not distort.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
