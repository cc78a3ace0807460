"""`wakeword serve` under concurrent real-time clients, and wyoming-openwakeword beside it.

Prints markdown for docs/benchmarks.md (`make bench serve` runs it through scripts/bench.py).
Not a test: nothing is asserted.

Each client is what Home Assistant is to a wake-word service: one TCP connection,
`detect`, `audio-start`, then 16 kHz 16-bit mono chunks of 64 ms (1024 samples), each
sent when its last sample would have been recorded (real time), then `audio-stop`.
Its audio is pink noise at -45 dBFS with the phrase spoken by espeak-ng voices at
-20 dBFS every 3-6 s. Latency is the wall time from the end of a phrase's speech (as a
live microphone would have heard it) to the `detection` arriving at the client; a
detection is the phrase's when it arrives between the phrase's start and 2 s after its
end. CPU is the server process's own (user + system) over the streaming time. Audio
is dropped when the server's count of audio received (its per-stream log line) falls
short of what was sent; a server that fell behind would also show as send lag (TCP
pushing back on the client).

wyoming-openwakeword (PyPI, with its `hey_jarvis` model) runs in its own virtual
environment (build/bench/wow-venv, made here when missing) on the same harness, with
"hey jarvis" phrases by the same voices; ours serves the bundled "activate" model.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

try:
    import psutil
except ImportError:  # the `bench` extra, which `make bench` installs
    sys.exit("bench_serve: psutil is missing: .venv/bin/pip install -c constraints.txt -e '.[bench]' (or run it through `make bench`)")
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.event import async_read_event, async_write_event
from wyoming.wake import Detect, Detection

from synth.noise import colored_noise, unit_rms
from synth.tts import Voice, render

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
RATE = 16000
CHUNK = 1024  # 64 ms, the block Home Assistant's pipeline streams
CHUNK_S = CHUNK / RATE
TRIM_MARGIN_S = 0.05  # `render` keeps this much after the last loud frame
MATCH_AFTER_S = 2.0
VOICES = ("espeak-ng:en-us", "espeak-ng:en-gb+f3", "espeak-ng:en-us+m3", "espeak-ng:en-gb-x-rp+f2", "espeak-ng:en-us+f4")
SPEEDS = (0.9, 1.0, 1.15)
DISTINCT_STREAMS = 10  # clients reuse these in turn (each still has its own connection and detector)
WOW_VERSION = "1.8.2"
WOW_VENV = ROOT / "build" / "bench" / "wow-venv"


@dataclass
class Truth:
    audio: np.ndarray  # int16
    phrases: list[tuple[float, float]]  # (start, end of speech) seconds


@dataclass
class ClientResult:
    truth: Truth
    t0: float = 0.0
    received: list[tuple[float, Detection]] = field(default_factory=list)
    max_lag_s: float = 0.0
    error: str = ""


def streams(text: str, seconds: float, count: int) -> list[Truth]:
    clips = [unit_rms(render(Voice.parse(v), text, rate=s)) * np.float32(0.1) for v in VOICES for s in SPEEDS]
    out = []
    for seed in range(count):
        rng = np.random.default_rng(seed)
        audio = colored_noise(rng, int(seconds * RATE), 1.0) * np.float32(10 ** (-45 / 20))
        phrases, at = [], int(rng.uniform(1, 3) * RATE)
        while True:
            clip = clips[int(rng.integers(len(clips)))]
            if at + len(clip) > len(audio) - RATE:
                break
            audio[at : at + len(clip)] += clip
            phrases.append((at / RATE, (at + len(clip)) / RATE - TRIM_MARGIN_S))
            at += len(clip) + int(rng.uniform(3, 6) * RATE)
        out.append(Truth((np.clip(audio, -1, 1) * 32767).astype("<i2"), phrases))
    return out


async def run_client(port: int, name: str, result: ClientResult, start_at: float) -> None:
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError as exc:
        result.error = f"connect: {exc}"
        return

    async def receive() -> None:
        while (event := await async_read_event(reader)) is not None:
            if Detection.is_type(event.type):
                result.received.append((time.monotonic(), Detection.from_event(event)))

    listening = asyncio.create_task(receive())
    try:
        await async_write_event(Detect(names=[name]).event(), writer)
        await asyncio.sleep(max(0.0, start_at - time.monotonic()))
        result.t0 = time.monotonic()
        await async_write_event(AudioStart(RATE, 2, 1, timestamp=0).event(), writer)
        audio = result.truth.audio.tobytes()
        for k, offset in enumerate(range(0, len(audio), CHUNK * 2)):
            due = result.t0 + (k + 1) * CHUNK_S  # when its last sample would have been recorded
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            chunk = AudioChunk(RATE, 2, 1, audio[offset : offset + CHUNK * 2], timestamp=int(k * CHUNK_S * 1000))
            await async_write_event(chunk.event(), writer)
            result.max_lag_s = max(result.max_lag_s, time.monotonic() - due)
        await async_write_event(AudioStop(timestamp=int(len(result.truth.audio) / RATE * 1000)).event(), writer)
        writer.write_eof()
        # Ours closes once it has answered; wyoming-openwakeword (on wyoming 1.2) leaves the socket
        # open, so a detection of the last phrase is waited for as long as one is counted.
        await asyncio.wait({listening}, timeout=MATCH_AFTER_S + 1)
    except OSError as exc:
        result.error = f"{type(exc).__name__}: {exc}"
    finally:
        listening.cancel()
        writer.close()


async def run_clients(port: int, name: str, truths: list[Truth], n: int) -> list[ClientResult]:
    results = [ClientResult(truths[i % len(truths)]) for i in range(n)]
    # Staggered over one chunk, as independent microphones would be.
    start = time.monotonic() + 1.0
    rng = np.random.default_rng(n)
    await asyncio.gather(*(run_client(port, name, r, start + rng.uniform(0, CHUNK_S)) for r in results))
    return results


@dataclass
class Row:
    server: str
    clients: int
    phrases: int
    caught: int
    repeats: int  # more detections of a phrase already caught
    extra: int  # detections away from every phrase
    latency_ms: np.ndarray
    audio_delay_ms: np.ndarray
    cpu_s: float
    audio_s: float
    max_lag_s: float
    received_s: float | None  # audio the server says it got; None: it does not say
    errors: list[str]
    rss_mib: float


def score(server: str, results: list[ClientResult], cpu_s: float, received_s: float | None, rss_mib: float) -> Row:
    latency, delay, caught, repeats, extra, phrases = [], [], 0, 0, 0, 0
    for r in results:
        phrases += len(r.truth.phrases)
        matched = set()
        for when, detection in r.received:
            at = when - r.t0
            window = [i for i, (s, e) in enumerate(r.truth.phrases) if s <= at <= e + MATCH_AFTER_S]
            hit = next((i for i in window if i not in matched), None)
            if hit is None:
                repeats += bool(window)
                extra += not window
                continue
            matched.add(hit)
            end = r.truth.phrases[hit][1]
            latency.append((at - end) * 1000)
            if detection.timestamp is not None:
                delay.append(detection.timestamp - end * 1000)
        caught += len(matched)
    audio_s = sum(len(r.truth.audio) for r in results) / RATE
    return Row(server, len(results), phrases, caught, repeats, extra, np.array(latency), np.array(delay), cpu_s, audio_s,
               max(r.max_lag_s for r in results), received_s, [r.error for r in results if r.error], rss_mib)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(proc: subprocess.Popen, port: int, log: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited {proc.returncode}: {log.read_text().strip()[-500:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"server not listening after {timeout:.0f} s")


def measure(server: str, argv: list[str], port: int, name: str, truths: list[Truth], counts: list[int], log: Path) -> list[Row]:
    with log.open("w") as err:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
    try:
        wait_listening(proc, port, log)
        watch = psutil.Process(proc.pid)
        rows = []
        for n in counts:
            lines_before = len(log.read_text().splitlines())
            cpu0 = sum(watch.cpu_times()[:2])
            results = asyncio.run(run_clients(port, name, truths, n))
            time.sleep(0.5)  # the last answers and log lines
            cpu_s = sum(watch.cpu_times()[:2]) - cpu0
            new = log.read_text().splitlines()[lines_before:]
            counted = [float(m.group(1)) for ln in new if (m := re.search(r": ([\d.]+) s of audio, \d+ detection", ln))]
            received = sum(counted) if server.startswith("ours") else None
            rows.append(score(server, results, cpu_s, received, watch.memory_info().rss / 2**20))
        return rows
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def wow_python() -> tuple[Path | None, str]:
    """wyoming-openwakeword's interpreter, installing it once; (None, why) when it cannot."""
    python = WOW_VENV / "bin" / "python"
    probe = [str(python), "-c", "import numpy, tflite_runtime.interpreter as t; assert numpy.__version__ < '2'"]
    if python.exists() and subprocess.run(probe, capture_output=True).returncode == 0:
        return python, ""
    steps = [[sys.executable, "-m", "venv", str(WOW_VENV)],
             # tflite-runtime's wheels are built against numpy 1.x and fail to load beside numpy 2.
             [str(python), "-m", "pip", "install", "-q", f"wyoming-openwakeword=={WOW_VERSION}", "numpy<2"]]
    for step in steps:
        proc = subprocess.run(step, capture_output=True, text=True)
        if proc.returncode != 0:
            lines = [ln for ln in (proc.stderr + proc.stdout).splitlines() if ln.strip() and "WARNING: Location" not in ln]
            return None, f"`{' '.join(step[:4])}` failed: {lines[-1] if lines else proc.returncode}"
    return python, ""


def table(rows: list[Row]) -> None:
    print("| server | clients | phrases caught | repeats | false | latency p50 | p95 | max | in the audio (p50) "
          "| CPU per stream | CPU s per hour of audio | server CPU (one core = 100 %) | max send lag | audio received | RSS |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        lat = r.latency_ms
        latency = [f"{np.percentile(lat, q):.0f} ms" for q in (50, 95, 100)] if lat.size else ["-"] * 3
        delay = f"{np.median(r.audio_delay_ms):.0f} ms" if r.audio_delay_ms.size else "-"
        core = r.cpu_s / (r.audio_s / r.clients) * 100  # over the streaming time
        received = "not logged" if r.received_s is None else f"{r.received_s:.0f} of {r.audio_s:.0f} s"
        print(f"| {r.server} | {r.clients} | {r.caught} / {r.phrases} | {r.repeats} | {r.extra} | {' | '.join(latency)} | {delay} | "
              f"{core / r.clients:.2f} % | {r.cpu_s / (r.audio_s / 3600):.0f} | {core:.0f} % | {r.max_lag_s * 1000:.0f} ms | "
              f"{received} | {r.rss_mib:.0f} MiB |")
    for r in rows:
        if r.errors:
            print(f"\n{r.server}, {r.clients} clients: {len(r.errors)} client(s) failed, e.g. `{r.errors[0]}`")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 10, 50])
    parser.add_argument("--seconds", type=float, default=60.0, help="audio per client (default 60)")
    parser.add_argument("--no-openwakeword", action="store_true", help="only our server")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        rows: list[Row] = []
        port = free_port()
        ours = [str(BIN / "wakeword"), "serve", "--uri", f"tcp://127.0.0.1:{port}"]
        rows += measure("ours: bundled `activate`", ours, port, "activate",
                        streams("activate", args.seconds, DISTINCT_STREAMS), args.clients, Path(tmp) / "ours.log")
        note = ""
        if not args.no_openwakeword:
            python, why = wow_python()
            if python is None:
                note = f"wyoming-openwakeword {WOW_VERSION} could not be installed here: {why}"
            else:
                port = free_port()
                wow = [str(python), "-m", "wyoming_openwakeword", "--uri", f"tcp://127.0.0.1:{port}", "--preload-model", "hey_jarvis"]
                try:
                    rows += measure(f"wyoming-openwakeword {WOW_VERSION}: `hey_jarvis`", wow, port, "hey_jarvis",
                                    streams("hey jarvis", args.seconds, DISTINCT_STREAMS), args.clients, Path(tmp) / "wow.log")
                except RuntimeError as exc:
                    note = f"wyoming-openwakeword {WOW_VERSION} did not run here: {exc}"

    print(f"Each client streams {args.seconds:.0f} s of audio in real time ({CHUNK}-sample chunks every {CHUNK_S * 1000:.0f} ms) "
          f"over its own TCP connection to a server on 127.0.0.1; {len(VOICES)} espeak-ng voices at {len(SPEEDS)} speeds say "
          f"the phrase every 3-6 s over pink noise; clients reuse {DISTINCT_STREAMS} such streams in turn. The clients run in "
          "one asyncio process on the same 2 cores as the server. Latency: end of the phrase's speech to the `detection` "
          "at the client (p50, p95, max over caught phrases); repeats: further detections of a caught phrase (within 2 s of "
          "its end); false: detections away from every phrase; \"in the audio\": the detection's timestamp after the phrase "
          "end, the part of the latency the model itself takes. CPU: the server process's, over the streaming time.\n")
    table(rows)
    print("\nOurs serves the bundled \"activate\" model on \"activate\" phrases; openWakeWord its `hey_jarvis` v0.1 on "
          "\"hey jarvis\" phrases by the same voices (the recipe's own \"hey jarvis\" model takes 25+ CPU minutes to "
          "train, so the comparison is of cost and latency, not of one phrase). Caught phrases depend on each model's "
          "recall for these voices, not on the server. openWakeWord keeps each client's audio in a fixed window "
          "and logs no totals, so its received audio is not counted; its send lag still shows whether it kept up.")
    if note:
        print(f"\n{note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
