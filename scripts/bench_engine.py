"""One detector over one audio file in 80 ms chunks, in a process of its own; prints JSON.

bench_detect.py runs it once per detector it compares, each under its own interpreter
(this checkout's, an older checkout's, openWakeWord's), so that each process's CPU and
peak memory are that detector's alone. It imports only what every wakeword since the
streaming engine has (`load_models`, `StreamingDetector`, `use_one_thread`).

    python scripts/bench_engine.py wakeword|openwakeword FILE.wav [--model M]

Output: {"audio_s", "cpu_s" (pushes only, not decoding), "heavy_modules" (of torch, librosa,
numba, scipy, onnxruntime: those loaded), "chunk_ms": {"mean", "p95", "max"}}.

`Checkout` is how the bench scripts start a wakeword: this one, or the baseline, an
older checkout named by `--baseline DIR` or $WAKEWORD_BENCH_BASELINE (e.g. `git worktree
add --detach ../baseline COMMIT`, with a venv of its own at DIR/.venv or a symlink to one).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

RATE = 16000
CHUNK = 1280  # 80 ms: openWakeWord's frame, and a usual microphone block


ROOT = Path(__file__).resolve().parents[1]
BASELINE_ENV = "WAKEWORD_BENCH_BASELINE"


@dataclass(frozen=True)
class Checkout:
    """A wakeword source tree and the interpreter that runs it (its code first on sys.path,
    whatever that venv's own install points at)."""

    label: str
    root: Path
    python: Path

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "PYTHONPATH": str(self.root)}

    def run_kwargs(self) -> dict:
        """subprocess arguments: its code on the path, and its root as the working directory,
        which `python -m` puts first on sys.path."""
        return {"env": self.env, "cwd": self.root}

    def wakeword(self, *args: str, cli: str = "wakeword") -> list[str]:
        """The `wakeword` (or `synth`) command line of this checkout."""
        return [str(self.python), "-m", f"{cli}.cli", *args]

    def engine(self, *args: str) -> list[str]:
        """This script, run by this checkout's interpreter on its code."""
        return [str(self.python), str(Path(__file__).resolve()), *args]


def _commit(root: Path) -> str:
    proc = subprocess.run(["git", "-C", str(root), "log", "-1", "--format=%h %cs"], capture_output=True, text=True)
    return proc.stdout.strip() or "?"


def checkouts(baseline: str | None) -> list[Checkout]:
    """This checkout, then the baseline when one is named."""
    ours = [Checkout(f"wakeword, this checkout ({_commit(ROOT)})", ROOT, Path(sys.executable))]
    baseline = baseline or os.environ.get(BASELINE_ENV)
    if not baseline:
        return ours
    root = Path(baseline).resolve()
    return ours + [Checkout(f"wakeword, baseline `{root.name}` ({_commit(root)})", root, root / ".venv" / "bin" / "python")]


def high_water_mib(pid: int) -> float | None:
    """Peak RSS since the process's exec (VmHWM): unlike rusage, it never counts the
    pages a child shares with this large parent between fork and exec."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return None


def openwakeword_model(name: str = "hey_jarvis"):
    import openwakeword

    onnx = Path(openwakeword.__file__).parent / "resources" / "models" / f"{name}_v0.1.onnx"
    # Its constructor prints the model paths on stdout, which is the caller's output.
    with contextlib.redirect_stdout(io.StringIO()):
        # ONNX sessions with one intra-op and one inter-op thread (openWakeWord's own settings).
        return openwakeword.Model(wakeword_models=[str(onnx)], inference_framework="onnx")


def wakeword_push(model: str | None):
    from wakeword.modelfile import load_models
    from wakeword.streaming import StreamingDetector, use_one_thread

    use_one_thread()
    return StreamingDetector(load_models([model] if model else None), RATE).push


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("detector", choices=["wakeword", "openwakeword"])
    parser.add_argument("audio", help="16 kHz mono file")
    parser.add_argument("--model", help="wakeword model file (default: the bundled one)")
    args = parser.parse_args()
    push = wakeword_push(args.model) if args.detector == "wakeword" else openwakeword_model().predict
    walls, cpu, samples = [], 0.0, 0
    # Read as it goes, never whole: the process's peak memory is the detector's, not the file's.
    for block in sf.blocks(args.audio, blocksize=CHUNK, dtype="int16"):
        if len(block) < CHUNK:
            break
        cpu0, wall0 = time.process_time(), time.perf_counter()
        push(np.ascontiguousarray(block))
        walls.append(time.perf_counter() - wall0)
        cpu += time.process_time() - cpu0
        samples += len(block)
    walls_ms = np.array(walls) * 1e3
    loaded = sorted({m.split(".")[0] for m in sys.modules} & {"torch", "librosa", "numba", "scipy", "onnxruntime"})
    json.dump({"audio_s": samples / RATE, "cpu_s": cpu, "heavy_modules": loaded,
               "chunk_ms": {"mean": walls_ms.mean(), "p95": np.percentile(walls_ms, 95), "max": walls_ms.max()}}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
