"""The listener's network step: numpy (what the runtime uses) against onnxruntime.

The bundled model's streaming step is exported to ONNX with its state as explicit
inputs and outputs (the convolution's left context as frames, the GRU states), and each
backend steps it in a process of its own over the same 80 ms chunks of features (8
frames, 2 output steps): start-up to the first chunk, CPU per hour of audio, peak RSS,
and the largest difference between their logits. The frontend is the same numpy code
in both designs, so it is left out. Needs torch and onnx for the export (`bench` extra).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench_engine import high_water_mib

CHUNKS = 3000  # 4 minutes of audio in 80 ms chunks
NEW_FRAMES = 8  # 80 ms at a 10 ms hop
CHUNKS_PER_HOUR = 3600 / 0.08


def export_onnx(path: Path) -> None:
    import torch

    from wakeword.modelfile import bundled_model_path, load_model

    loaded = load_model(bundled_model_path())
    c = loaded.config.model

    class Step(torch.nn.Module):
        """frames (1, context + new, mels), one GRU state per layer -> logits, new states."""

        def __init__(self, net):
            super().__init__()
            self.net = net

        def forward(self, frames, *hidden):
            logits, new = self.net.forward_with_state(frames, list(hidden))
            return (logits, *new)

    frames = torch.zeros(1, c.conv_kernel - c.conv_stride + NEW_FRAMES, loaded.config.features.n_mels)
    hidden = tuple(torch.zeros(1, 1, c.gru_hidden) for _ in range(c.gru_layers))
    names = [f"h{i}" for i in range(c.gru_layers)]
    torch.onnx.export(Step(loaded.model).eval(), (frames, *hidden), str(path), input_names=["frames", *names],
                      output_names=["logits", *[f"{n}_out" for n in names]], dynamo=False)


def measure(backend: str, onnx_path: str) -> dict:
    """In the child: step CHUNKS chunks of features; print 'ready' after the first."""
    from threadpoolctl import threadpool_limits

    from wakeword.modelfile import bundled_model_path, load_model

    threadpool_limits(1)
    loaded = load_model(bundled_model_path())
    c = loaded.config.model
    rng = np.random.default_rng(0)
    chunks = rng.standard_normal((CHUNKS, 1, NEW_FRAMES, loaded.config.features.n_mels)).astype(np.float32)
    context = c.conv_kernel - c.conv_stride  # frames each chunk's first step needs from the chunk before
    if backend == "numpy":
        from wakeword.streaming_model import StreamState

        net = loaded.network
        # Zero frames of context to begin with, as the ONNX step gets: both give the same steps.
        state = StreamState(np.zeros((1, context, chunks.shape[-1]), np.float32), net.initial_state().hidden)

        def step(chunk):
            nonlocal state
            logits, state = net.step(chunk, state)
            return logits
    else:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = 1
        session = onnxruntime.InferenceSession(onnx_path, options, providers=["CPUExecutionProvider"])
        feed = {"frames": np.zeros((1, context, chunks.shape[-1]), np.float32),
                **{f"h{i}": np.zeros((1, 1, c.gru_hidden), np.float32) for i in range(c.gru_layers)}}

        def step(chunk):
            frames = np.concatenate([feed["frames"][:, -context:], chunk], axis=1)
            logits, *hidden = session.run(None, {**feed, "frames": frames})
            feed.update(frames=frames, **{f"h{i}": h for i, h in enumerate(hidden)})
            return logits

    outputs = [step(chunks[0])]
    print("ready", flush=True)
    cpu0 = time.process_time()
    outputs += [step(chunk) for chunk in chunks[1:]]
    cpu = time.process_time() - cpu0
    return {"cpu_per_hour": cpu / (CHUNKS - 1) * CHUNKS_PER_HOUR, "peak_rss_mib": high_water_mib(os.getpid()),
            "logits": np.concatenate(outputs, axis=1)[0].tolist()}


def run_child(backend: str, onnx_path: Path) -> dict:
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, __file__, "--measure", backend, str(onnx_path)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    ready = time.perf_counter() - started
    result = json.loads(proc.stdout.read())
    assert proc.wait() == 0
    return {**result, "ready_s": ready}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--measure", nargs=2, metavar=("BACKEND", "ONNX"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        json.dump(measure(*args.measure), sys.stdout)
        return 0
    with tempfile.TemporaryDirectory(prefix="bench-backend-") as tmp:
        onnx_path = Path(tmp) / "step.onnx"
        export_onnx(onnx_path)
        runs = {b: [run_child(b, onnx_path) for _ in range(3)] for b in ("numpy", "onnxruntime")}
    diff = np.abs(np.array(runs["numpy"][0]["logits"]) - np.array(runs["onnxruntime"][0]["logits"])).max()
    print(f"The bundled model's step over {CHUNKS} chunks of 8 feature frames (80 ms of audio, 2 output steps each), one "
          "thread each, each backend in a fresh process, three processes per backend (median; range in brackets). "
          f"Start-up: process start to the first chunk's logits, with imports and the model file load. Largest logit "
          f"difference between the two: {diff:.1e}.\n")
    print("| backend | start-up | CPU s per hour of audio (network only) | peak RSS |")
    print("|---|---:|---:|---:|")
    for backend, results in runs.items():
        cells = []
        for key, unit, digits in (("ready_s", " s", 2), ("cpu_per_hour", "", 1), ("peak_rss_mib", " MiB", 0)):
            values = sorted(r[key] for r in results)
            cells.append(f"{values[1]:.{digits}f}{unit} ({values[0]:.{digits}f}-{values[2]:.{digits}f})")
        print(f"| {backend} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
