"""The listening daemon: microphone -> bounded queue -> engine thread -> events.

Three threads, each with one job:
- PortAudio's callback copies each block into a bounded queue and counts overflows;
  it never blocks, and drops (and counts) a block when the queue is full.
- The engine thread runs the `StreamingDetector`, reports events and proves life to
  systemd (READY after the first processed block, then WATCHDOG while audio arrives).
- The main thread supervises: signals (SIGTERM/SIGINT stop, SIGHUP reloads), stalled
  audio (a lost device is reopened with backoff, without restarting the process),
  health lines and rate-limited overflow reports.

The engine is swapped whole (reload, reopened device), never edited in place, so the
engine thread needs no lock: it picks up the new one at its next block.
"""

from __future__ import annotations

import json
import logging
import math
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from . import microphone
from .detection import Event
from .errors import DeviceError, WakewordError
from .listen_config import ListenConfig
from .modelfile import LoadedModel, load_models
from .notify import Notifier, child_env
from .streaming import StreamingDetector

log = logging.getLogger("wakeword.listen")

QUEUE_S = 5.0  # audio the queue holds before the callback starts dropping blocks
POLL_S = 0.1  # supervisor tick: stall checks and signal handling
FIRST_AUDIO_GRACE_S = 5.0  # an idle audio server may take seconds to deliver a new stream's first block
RETRY_FIRST_S, RETRY_MAX_S = 0.5, 10.0  # reopening backoff
OVERFLOW_REPORT_S = 10.0  # at most one overflow line this often
STOP_JOIN_S = 1.5  # what the engine thread gets to finish its block on exit


@dataclass
class Engine:
    """Models and detector state at one capture rate. Once handed over, only the engine
    thread touches it (it sets `start_s` and clears `announce`)."""

    detector: StreamingDetector
    announce: bool  # log "audio flowing" after its first block (a newly opened stream)
    start_s: float = 0.0  # audio time, across engines, at which this one took over

    def describe(self) -> str:
        d, models = self.detector.detector_config, self.detector.models
        thresholds = ", ".join(f"{m.phrase!r} at {self.detector.threshold_for(m):.3f}" for m in models)
        return (
            f"models {', '.join(str(m.path) for m in models)}; thresholds {thresholds}; "
            f"smoothing {d.smoothing_steps}, patience {d.patience_steps}, refractory {d.refractory_s:g} s"
        )


def load_listen_models(config: ListenConfig) -> list[LoadedModel]:
    models = load_models(config.models)
    for m in models:
        config.detector(m.config.detector).validate()
    return models


def make_engine(config: ListenConfig, models: list[LoadedModel], rate: int, announce: bool) -> Engine:
    return Engine(StreamingDetector(models, rate, config.detector(models[0].config.detector)), announce)


def chime_tone(rate: int) -> np.ndarray:
    """A short two-note chime (-12 dBFS) with soft edges, so it does not click."""
    note_s, fade_s = 0.09, 0.01
    t = np.arange(int(rate * note_s)) / rate
    envelope = np.minimum(1.0, np.minimum(t, note_s - t) / fade_s)
    notes = [np.sin(2 * np.pi * f * t) * envelope for f in (880.0, 1318.5)]
    return (0.25 * np.concatenate(notes)).astype(np.float32)


class Listener:
    def __init__(self, load_config: Callable[[], ListenConfig]):
        """`load_config` is called at start and again on every SIGHUP."""
        self._load_config = load_config
        self.notifier = Notifier()
        self.config: ListenConfig | None = None
        self._models: list[LoadedModel] = []
        self._queue: queue.Queue = queue.Queue(maxsize=1)
        self._engine: Engine | None = None
        self._stream = None
        self._device: microphone.InputDevice | None = None
        self._rate = 0
        self._wake = threading.Event()
        self._stopping = False
        self._reload_requested = False
        # Written by one thread each (callback, engine thread), read by the supervisor.
        self._last_audio = 0.0
        self.overflows = 0
        self.dropped = 0
        self.detections = 0
        self._energy = (0.0, 0)  # sum of squares and count of all samples processed
        self._ready_sent = False

    # --- signals -----------------------------------------------------------------

    def request_stop(self, *_: object) -> None:
        self._stopping = True
        self._wake.set()

    def request_reload(self, *_: object) -> None:
        self._reload_requested = True
        self._wake.set()

    # --- supervisor (main thread) ------------------------------------------------

    def run(self) -> int:
        handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
        signal.signal(signal.SIGTERM, self.request_stop)
        signal.signal(signal.SIGINT, self.request_stop)
        signal.signal(signal.SIGHUP, self.request_reload)
        worker = threading.Thread(target=self._work, name="wakeword-engine", daemon=True)
        try:
            # Loaded here, not in __init__, so a SIGTERM while loading is a clean stop.
            self.config = self._load_config()
            self._models = load_listen_models(self.config)
            self._open_first()
            if not self._stopping:
                worker.start()
                self._supervise()
            log.info("stopping after %d detection(s)", self.detections)
        finally:
            self.notifier.stopping()
            self._stopping = True  # also when start-up failed: the engine thread ends too
            if self._stream is not None:
                microphone.close_input(self._stream)
            if worker.is_alive():
                worker.join(STOP_JOIN_S)
            for sig, handler in handlers.items():
                signal.signal(sig, handler)
            self.notifier.close()
        return 0

    def _open_first(self) -> None:
        delay, reinitialize = RETRY_FIRST_S, False
        while not self._stopping:
            try:
                self._open(reinitialize)
                return
            except DeviceError as exc:
                if not self.config.wait_for_device:
                    raise
                log.info("waiting for an input device (%s); retrying in %.1f s", exc, delay)
                self.notifier.status("waiting for an input device")
            self._wake.wait(delay)
            self._wake.clear()
            delay, reinitialize = min(delay * 2, RETRY_MAX_S), True

    def _open(self, reinitialize: bool) -> None:
        """Find the configured device, pick a rate, start a stream with a fresh engine."""
        if reinitialize:
            microphone.reinitialize()
        config = self.config
        device = microphone.find_input_device(config.device)
        model_rate = self._models[0].config.features.sample_rate
        rate, channels = microphone.capture_settings(device, model_rate, config.rate)
        self._engine = make_engine(config, self._models, rate, announce=True)
        self._queue = queue.Queue(maxsize=max(2, math.ceil(QUEUE_S * 1000 / config.block_ms)))
        # The stall check counts from here: a new stream gets the longer grace.
        self._last_audio = time.monotonic() + FIRST_AUDIO_GRACE_S - config.stall_timeout_s
        self._device, self._rate = device, rate  # before the first callback can need them
        block = max(1, round(rate * config.block_ms / 1000))
        self._stream = microphone.open_input(device, rate, channels, block, self._on_audio)
        resampled = f", resampled to {model_rate} Hz" if rate != model_rate else ""
        log.info("listening on %s at %d Hz, %d channel(s)%s; %s", device.describe(), rate, channels, resampled, self._engine.describe())

    def _supervise(self) -> None:
        now = time.monotonic()
        next_health = now + self.config.health_interval_s
        next_retry, retry_delay = now, RETRY_FIRST_S
        overflow_seen, next_overflow_report = (0, 0), now
        health_mark = (now, time.process_time(), self._energy)
        while not self._stopping:
            self._wake.wait(POLL_S)
            self._wake.clear()
            if self._stopping:
                break
            if self._reload_requested:
                self._reload_requested = False
                self._reload()
            now = time.monotonic()
            if self._stream is not None and now - self._last_audio > self.config.stall_timeout_s:
                self._lost(now)
                next_retry, retry_delay = now, RETRY_FIRST_S
            if self._stream is None and now >= next_retry:
                try:
                    self._open(reinitialize=True)
                except DeviceError as exc:
                    log.info("reopening failed (%s); retrying in %.1f s", exc, retry_delay)
                    next_retry, retry_delay = now + retry_delay, min(retry_delay * 2, RETRY_MAX_S)
            counts = (self.overflows, self.dropped)
            if counts != overflow_seen and now >= next_overflow_report:
                log.warning(
                    "audio overflow: %d overflow(s), %d dropped block(s) so far (the CPU is not keeping up)", *counts
                )
                overflow_seen, next_overflow_report = counts, now + OVERFLOW_REPORT_S
            if self.config.health_interval_s and now >= next_health:
                health_mark = self._health(health_mark)
                next_health = now + self.config.health_interval_s

    def _lost(self, now: float) -> None:
        gap_ms = (now - self._last_audio) * 1000
        log.warning("audio stalled: no audio for %.0f ms (device lost?); reopening %s", gap_ms, self._device.describe())
        self.notifier.status(f"audio lost; reopening; {self.detections} detection(s)")
        closed = microphone.close_input(self._stream)
        self._stream = None
        if not closed:
            # The stuck close still holds PortAudio's lock, so a reopen here would wait for
            # ever; a fresh process (the systemd units restart on failure) starts clean.
            raise DeviceError(f"the stream of lost input device {self._device.describe()} did not close within "
                              f"{microphone.CLOSE_TIMEOUT_S:g} s: start wakeword listen again (its systemd unit does)")

    def _reload(self) -> None:
        try:
            config = self._load_config()
            models = load_listen_models(config)
            # Built now, even if a reopen replaces it, to reject models that cannot run together.
            engine = make_engine(config, models, self._rate, announce=False)
        except WakewordError as exc:
            log.error("reload rejected: %s; keeping the running configuration", exc)
            return
        stream_settings = (config.device, config.rate, config.block_ms)
        reopen = stream_settings != (self.config.device, self.config.rate, self.config.block_ms)
        self.config, self._models = config, models
        log.info("reloaded: %s", engine.describe())
        if self._stream is None:
            return  # the next reopening uses the new configuration
        if reopen:
            log.info("reopening the audio stream for the new device settings")
            microphone.close_input(self._stream)
            self._stream = None
        else:
            self._engine = engine

    def _health(self, mark: tuple[float, float, tuple[float, int]]) -> tuple[float, float, tuple[float, int]]:
        wall, cpu, energy = time.monotonic(), time.process_time(), self._energy
        squares, samples = energy[0] - mark[2][0], energy[1] - mark[2][1]
        if not samples:
            level = "no audio"
        else:
            level = f"level {10 * math.log10(squares / samples):.1f} dBFS" if squares > 0 else "digital silence"
        cpu_percent = 100 * (cpu - mark[1]) / max(wall - mark[0], 1e-9)
        log.info(
            "health: %s, %d overflow(s), %d dropped, CPU %.1f %%, %d detection(s)",
            level, self.overflows, self.dropped, cpu_percent, self.detections,
        )
        return wall, cpu, energy

    # --- PortAudio's thread ------------------------------------------------------

    def _on_audio(self, block: np.ndarray, overflowed: bool) -> None:
        self._last_audio = time.monotonic()
        if overflowed:
            self.overflows += 1
        try:
            self._queue.put_nowait(block.copy())
        except queue.Full:
            self.dropped += 1

    # --- engine thread -----------------------------------------------------------

    def _work(self) -> None:
        current: Engine | None = None
        audio_s = 0.0  # audio processed by all engines so far: event times keep rising
        next_ping = 0.0
        while not self._stopping:
            try:
                block = self._queue.get(timeout=POLL_S)
            except queue.Empty:
                continue
            engine = self._engine
            if engine is not current:
                engine.start_s, current = audio_s, engine
            result = engine.detector.push(block)
            audio_s = engine.start_s + engine.detector.audio_time_s
            mono = block[:, 0] if block.shape[1] == 1 else block.mean(axis=1)
            squares, samples = self._energy
            self._energy = (squares + float(np.dot(mono, mono)), samples + mono.size)
            if engine.announce:
                engine.announce = False
                self._flowing()
            for event in result.events:
                self._report(event, engine.start_s)
            now = time.monotonic()
            if self.notifier.watchdog_interval_s and now >= next_ping:
                self.notifier.watchdog()
                next_ping = now + self.notifier.watchdog_interval_s

    def _flowing(self) -> None:
        log.info("audio flowing from %s", self._device.describe())
        status = self._status()
        if not self._ready_sent:
            self._ready_sent = True
            self.notifier.ready(status)
        else:
            self.notifier.status(status)

    def _status(self) -> str:
        return f"listening on {self._device.describe()} at {self._rate} Hz; {self.detections} detection(s)"

    def _report(self, event: Event, offset_s: float) -> None:
        self.detections += 1
        wall = datetime.now().astimezone()
        audio_time = offset_s + event.time_s
        if self.config.json:
            line = json.dumps({**event.as_dict(), "time_s": round(audio_time, 3), "wall_time": wall.isoformat(timespec="milliseconds")})
        else:
            line = f"{wall.isoformat(timespec='milliseconds')} {event.phrase} score={event.score:.3f} audio_time={audio_time:.2f}s"
        try:
            print(line, flush=True)
        except OSError as exc:
            log.error("cannot write the event to stdout: %s", exc.strerror or exc)
        log.info("detected %r (score %.3f) at %.2f s", event.phrase, event.score, audio_time)
        self.notifier.status(self._status())
        if self.config.exec:
            env = {"WAKEWORD_PHRASE": event.phrase, "WAKEWORD_SCORE": f"{event.score:.4f}", "WAKEWORD_TIME": wall.isoformat(timespec="milliseconds")}
            threading.Thread(target=run_hook, args=(self.config.exec, env, self.config.exec_timeout_s), daemon=True).start()
        if self.config.chime:
            threading.Thread(target=play_chime, daemon=True).start()


def run_hook(command: str, event_env: dict[str, str], timeout_s: float) -> None:
    """Run `command` in a shell with the event in its environment; its output goes to
    the log. Failures and overruns are logged: a hook never stops detection."""
    try:
        proc = subprocess.Popen(
            command, shell=True, env={**child_env(os.environ), **event_env}, stdin=subprocess.DEVNULL,
            stdout=sys.stderr.fileno(), start_new_session=True,
        )
    except OSError as exc:
        log.error("exec failed: %s", exc)
        return
    try:
        code = proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        log.error("exec %r killed after %g s", command, timeout_s)
        return
    if code != 0:
        log.error("exec %r exited with status %d", command, code)


def play_chime() -> None:
    try:
        rate = microphone.default_output_rate()
        microphone.play(chime_tone(rate), rate)
    except WakewordError as exc:
        log.error("chime failed: %s", exc)
