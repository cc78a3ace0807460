"""The Wyoming wake-word service behind `wakeword serve`, on the `wyoming` package.

Home Assistant's voice pipeline (and any Wyoming satellite) connects, asks `describe`
and streams audio after a `detect`; each connection gets its own `StreamingDetector`
(its own resampler, frontend, network state and refractory timers) over the models
loaded once at start-up and shared read-only by every connection. A connection's
events are handled one at a time, so audio keeps its order, and a client that sends
faster than it is scored waits on TCP instead of losing audio.

A client's mistake (a malformed or unknown event, audio that cannot be converted, an
unknown model name, silence for longer than the idle timeout, vanishing mid-event)
ends that connection only, with one log line and, where the socket is still there, an
`error` event saying why.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import socket
import stat
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import AsyncIterator
from urllib.parse import urlparse

import numpy as np
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.error import Error
from wyoming.event import Event, async_get_stdin, async_get_stdout, async_read_event
from wyoming.info import Attribution, Describe, Info, WakeModel, WakeProgram
from wyoming.ping import Ping, Pong
from wyoming.server import AsyncEventHandler, AsyncServer
from wyoming.wake import Detect, Detection, NotDetected

from . import __version__
from .audio import to_mono_float
from .config import DetectorConfig
from .errors import ConfigError, WakewordError, first_line
from .modelfile import LoadedModel
from .notify import Notifier
from .streaming import StreamingDetector

log = logging.getLogger("wakeword.serve")

PROGRAM = "wakeword"
# The synthesizer speaks every training phrase with English voices (accents included).
LANGUAGES = ["en"]
MIN_RATE, MAX_RATE = 8000, 384000  # the rates `listen` accepts
MAX_CHANNELS = 32
# Threads that score audio off the event loop; beyond the cores they would only queue for the GIL.
SCORING_THREADS = min(4, os.cpu_count() or 1)
_PCM_TYPES = {1: np.uint8, 2: np.dtype("<i2"), 4: np.dtype("<i4")}  # 8-bit PCM is unsigned (WAV's convention)


class ClientError(Exception):
    """What a client did wrong; it ends that connection, never the server."""


@dataclass(frozen=True)
class ServeConfig:
    uri: str = "tcp://0.0.0.0:10400"
    detector: DetectorConfig | None = None  # None: the first model's own settings
    idle_timeout_s: float = 60.0  # a connection that sends nothing this long is closed; 0: never
    zeroconf_name: str | None = None  # advertise under this name; None: nothing is broadcast


@dataclass(frozen=True)
class ServedModel:
    name: str  # what `info` lists and `detect` / `detection` name
    loaded: LoadedModel
    version: str  # the wakeword that trained it


def model_name(phrase: str) -> str:
    """A phrase as an id: 'Hey Jarvis' -> 'hey_jarvis'."""
    return re.sub(r"[^a-z0-9]+", "_", phrase.lower()).strip("_") or "phrase"


class WakeService:
    """What every connection shares: the models, their `info`, the scoring threads."""

    def __init__(self, models: list[LoadedModel], config: ServeConfig):
        self.config = config
        self.detector = config.detector or models[0].config.detector
        self.models: dict[str, ServedModel] = {}
        for m in models:
            name = model_name(m.phrase)
            if name in self.models:
                raise ConfigError(
                    f"{self.models[name].loaded.path} and {m.path} both detect {m.phrase!r}: serve one of them "
                    "(a detection names its phrase, so Home Assistant could not tell them apart)"
                )
            self.models[name] = ServedModel(name, m, str(m.metadata.get("wakeword_version", __version__)))
        # Built once here so that models that cannot share a stream fail at start-up, not per client.
        probe = StreamingDetector(models, None, self.detector)
        self.thresholds = {model_name(m.phrase): probe.threshold_for(m) for m in models}
        self.executor = ThreadPoolExecutor(max_workers=SCORING_THREADS, thread_name_prefix="wakeword-score")
        self.detections = 0
        self.clients = 0

    def info(self) -> Info:
        attribution = Attribution(name=PROGRAM, url="")
        return Info(wake=[WakeProgram(
            name=PROGRAM,
            attribution=attribution,
            installed=True,
            description="wakeword: offline wake-word detection with your own trained phrases",
            version=__version__,
            models=[
                WakeModel(
                    name=s.name, attribution=attribution, installed=True, description=s.loaded.phrase,
                    version=s.version, languages=list(LANGUAGES), phrase=s.loaded.phrase,
                )
                for s in self.models.values()
            ],
        )])

    def select(self, names: list[str] | None) -> list[ServedModel]:
        """The models a `detect` names (all when it names none)."""
        if not names:
            return list(self.models.values())
        chosen: dict[str, ServedModel] = {}
        unknown = []
        for name in names:
            served = self.models.get(model_name(str(name)))  # the id, or the phrase it was made from
            if served is None:
                unknown.append(str(name))
            else:
                chosen.setdefault(served.name, served)
        if unknown:
            raise ClientError(f"detect names unknown model(s) {', '.join(unknown)} (this server has {', '.join(self.models)})")
        return list(chosen.values())

    def new_stream(self, models: list[ServedModel], fmt: PcmFormat) -> "Stream":
        return Stream(models, StreamingDetector([s.loaded for s in models], fmt.rate, self.detector), fmt)


@dataclass(frozen=True)
class PcmFormat:
    rate: int
    width: int
    channels: int

    @staticmethod
    def of(data: dict) -> "PcmFormat":
        """The format an audio-start or audio-chunk declares, checked."""
        try:
            fmt = PcmFormat(int(data["rate"]), int(data["width"]), int(data["channels"]))
        except (KeyError, TypeError, ValueError):
            raise ClientError(f"audio event without a valid rate, width and channels: {_brief(data)}") from None
        if not MIN_RATE <= fmt.rate <= MAX_RATE:
            raise ClientError(f"cannot convert audio at {fmt.rate} Hz (this server takes {MIN_RATE}-{MAX_RATE} Hz)")
        if fmt.width not in (1, 2, 3, 4):
            raise ClientError(f"cannot convert {fmt.width}-byte samples (this server takes 1 to 4 bytes)")
        if not 1 <= fmt.channels <= MAX_CHANNELS:
            raise ClientError(f"cannot convert {fmt.channels} channels (this server takes 1 to {MAX_CHANNELS})")
        return fmt

    def decode(self, payload: bytes) -> np.ndarray:
        """Little-endian PCM frames to mono float32."""
        frame = self.width * self.channels
        if len(payload) % frame:
            raise ClientError(f"audio-chunk of {len(payload)} bytes is not whole {frame}-byte frames")
        if self.width == 3:
            # 24-bit: each sample into the top three bytes of an int32, which keeps its sign.
            padded = np.zeros((len(payload) // 3, 4), dtype=np.uint8)
            padded[:, 1:] = np.frombuffer(payload, dtype=np.uint8).reshape(-1, 3)
            samples = padded.view("<i4")[:, 0]
        else:
            samples = np.frombuffer(payload, dtype=_PCM_TYPES[self.width])
        return to_mono_float(samples.reshape(-1, self.channels))


@dataclass
class Stream:
    """One audio-start ... audio-stop: fresh detector state, whatever came before."""

    models: list[ServedModel]
    detector: StreamingDetector
    fmt: PcmFormat
    start_ms: int | None = None  # the client's timestamp of the first sample
    detections: int = 0

    def name_of(self, phrase: str) -> str:
        return next(s.name for s in self.models if s.loaded.phrase == phrase)


class WakeHandler(AsyncEventHandler):
    """One client connection."""

    def __init__(self, service: WakeService, peer: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        super().__init__(reader, writer)
        self.service = service
        self.peer = peer
        self.names: list[str] | None = None
        self.stream: Stream | None = None

    async def run(self) -> None:
        """Events until the client leaves (or does something wrong, or goes quiet)."""
        self._is_running = True  # cleared by stop(), when the server shuts down
        self.service.clients += 1
        try:
            while await self._next():
                pass
        except ClientError as exc:
            log.warning("client %s: %s; connection closed", self.peer, exc)
            await self._try_write(Error(text=str(exc), code="bad-request").event())
        except (ConnectionError, asyncio.IncompleteReadError):
            log.warning("client %s: vanished mid-%s; connection closed", self.peer, "stream" if self.stream else "event")
        finally:
            self.service.clients -= 1
            self.writer.close()

    async def _next(self) -> bool:
        timeout = self.service.config.idle_timeout_s or None
        try:
            event = await asyncio.wait_for(async_read_event(self.reader), timeout)
        except asyncio.TimeoutError:
            raise ClientError(f"sent nothing for {timeout:g} s") from None
        except (ConnectionError, asyncio.IncompleteReadError):
            raise
        except Exception as exc:  # the package parses with json and dict lookups, and fails with their errors
            raise ClientError(f"malformed event ({first_line(exc)[:120]})") from None
        if not self._is_running:  # the server is stopping
            return False
        if event is None:
            if not self.reader.at_eof():
                # wyoming reads a line that is not JSON (or longer than the reader's limit) as the end.
                raise ClientError("malformed event (not a JSON header line)")
            if self.stream is not None:
                raise ConnectionError  # gone before audio-stop
            return False
        return await self.handle_event(event)

    async def handle_event(self, event: Event) -> bool:
        if not isinstance(event.data, dict):
            raise ClientError(f"malformed {_brief(event.type)} event: its data {_brief(event.data)} is not an object")
        if Describe.is_type(event.type):
            await self.write_event(self.service.info().event())
        elif Ping.is_type(event.type):
            await self.write_event(Pong(text=Ping.from_event(event).text).event())
        elif Detect.is_type(event.type):
            names = Detect.from_event(event).names
            if names is not None and not isinstance(names, list):
                raise ClientError(f"detect names must be a list, got {_brief(names)}")
            self.service.select(names)
            self.names = names
        elif AudioStart.is_type(event.type):
            self._start(PcmFormat.of(event.data), event.data.get("timestamp"))
        elif AudioChunk.is_type(event.type):
            await self._chunk(event)
        elif AudioStop.is_type(event.type):
            await self._stop()
        else:
            raise ClientError(
                f"unknown event type {_brief(event.type)} (a wake-word service takes describe, detect, audio-start, audio-chunk, audio-stop)"
            )
        return True

    def _start(self, fmt: PcmFormat, timestamp: object) -> None:
        self.stream = self.service.new_stream(self.service.select(self.names), fmt)
        self.stream.start_ms = timestamp if isinstance(timestamp, int) else None

    async def _chunk(self, event: Event) -> None:
        fmt = PcmFormat.of(event.data)
        if self.stream is None:  # audio without audio-start: a stream in the chunk's format
            self._start(fmt, event.data.get("timestamp"))
        assert self.stream is not None
        if fmt.rate != self.stream.fmt.rate:
            raise ClientError(f"audio-chunk at {fmt.rate} Hz inside a {self.stream.fmt.rate} Hz stream")
        if self.stream.start_ms is None and isinstance(event.data.get("timestamp"), int):
            self.stream.start_ms = event.data["timestamp"]
        await self._score(fmt.decode(event.payload or b""), last=False)

    async def _stop(self) -> None:
        if self.stream is None:
            raise ClientError("audio-stop without audio")
        await self._score(np.zeros(0, dtype=np.float32), last=True)
        stream, self.stream = self.stream, None
        if not stream.detections:
            await self.write_event(NotDetected().event())
        log.info("client %s: %.2f s of audio, %d detection(s)", self.peer, stream.detector.audio_time_s, stream.detections)

    async def _score(self, samples: np.ndarray, last: bool) -> None:
        stream = self.stream
        assert stream is not None
        # Scoring is CPU work: in a thread, so that the event loop keeps reading every
        # other client while this one's audio is scored.
        loop = asyncio.get_running_loop()
        result = await loop.run_in_executor(self.service.executor, stream.detector.push, samples, last)
        for e in result.events:
            stream.detections += 1
            self.service.detections += 1
            timestamp = (stream.start_ms or 0) + int(round(e.time_s * 1000))
            log.info("client %s: detected %r at %.2f s (score %.3f)", self.peer, e.phrase, e.time_s, e.score)
            await self.write_event(Detection(name=stream.name_of(e.phrase), timestamp=timestamp).event())

    async def _try_write(self, event: Event) -> None:
        try:
            await asyncio.wait_for(self.write_event(event), 1.0)
        except (ConnectionError, asyncio.TimeoutError, RuntimeError):
            pass  # the client is gone; the log line says why


def _brief(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


# --- the server ------------------------------------------------------------------


def parse_uri(uri: str) -> tuple[str, str | None, int | None]:
    """(scheme, host or socket path, port), or a ConfigError saying what a URI looks like."""
    parsed = urlparse(uri)
    try:
        port = parsed.port
    except ValueError:
        port = -1
    if parsed.scheme == "tcp" and parsed.hostname and port is not None and 0 <= port <= 65535:
        return "tcp", parsed.hostname, port
    if parsed.scheme == "unix" and parsed.path:
        return "unix", parsed.path, None
    if parsed.scheme == "stdio" and not parsed.netloc and not parsed.path:
        return "stdio", None, None
    raise ConfigError(f"--uri must be tcp://HOST:PORT, unix://PATH or stdio://, got {uri!r}")


async def serve(service: WakeService, stop: asyncio.Event, on_listening: Callable[[str], None]) -> None:
    """Serve until `stop` is set (or, on stdio, until stdin ends)."""
    scheme, where, port = parse_uri(service.config.uri)
    if scheme == "stdio":
        reader, writer = await async_get_stdin(), await async_get_stdout()
        on_listening("stdio")
        handler = asyncio.create_task(WakeHandler(service, "stdio", reader, writer).run())
        stopped = asyncio.create_task(stop.wait())
        await asyncio.wait([handler, stopped], return_when=asyncio.FIRST_COMPLETED)
        for task in (handler, stopped):
            task.cancel()
        return
    if scheme == "unix":
        _refuse_to_replace(Path(where))
    server = AsyncServer.from_uri(service.config.uri)
    try:
        await server.start(lambda reader, writer: WakeHandler(service, _peer(writer), reader, writer))
    except OSError as exc:
        # asyncio's strerror repeats the address; the system's own words suffice.
        reason = os.strerror(exc.errno) if exc.errno else first_line(exc)
        raise WakewordError(f"cannot listen on {service.config.uri}: {reason}") from None
    try:
        async with _advertised(service.config.zeroconf_name, where, port):
            on_listening(service.config.uri)
            await stop.wait()
    finally:
        await server.stop()


def _refuse_to_replace(path: Path) -> None:
    # The package removes whatever is at the path first; only an old socket may go.
    if path.exists() and not stat.S_ISSOCK(path.stat().st_mode):
        raise WakewordError(f"cannot listen on unix://{path}: a file that is not a socket is there")


def _peer(writer: asyncio.StreamWriter) -> str:
    peer = writer.get_extra_info("peername")
    if isinstance(peer, tuple):
        return f"{peer[0]}:{peer[1]}"
    return f"unix#{id(writer) % 10000:04d}"  # unix-socket peers have no address


@asynccontextmanager
async def _advertised(name: str | None, host: str | None, port: int | None) -> AsyncIterator[None]:
    """`_wyoming._tcp` on mDNS while serving, the record Home Assistant discovers;
    withdrawn (a goodbye packet) on the way out."""
    if name is None:
        yield
        return
    from zeroconf import IPVersion
    from zeroconf.asyncio import AsyncServiceInfo, AsyncZeroconf

    address = _advertised_address(host)
    info = AsyncServiceInfo(
        "_wyoming._tcp.local.", f"{name}._wyoming._tcp.local.",
        addresses=[socket.inet_aton(address)], port=port, server=f"{socket.gethostname()}.local.",
    )
    zc = AsyncZeroconf(ip_version=IPVersion.V4Only)
    try:
        # A second server of the same name on the network becomes "NAME (2)", as Home Assistant expects.
        await (await zc.async_register_service(info, allow_name_change=True))
    except Exception as exc:  # zeroconf's own errors (name in use, no multicast) have many types
        await zc.async_close()
        raise WakewordError(f"cannot advertise {name!r} with zeroconf: {first_line(exc)}") from None
    log.info("advertised as %r at %s:%d", info.name, address, port)
    try:
        yield
    finally:
        await zc.async_unregister_service(info)
        await zc.async_close()


def _advertised_address(host: str | None) -> str:
    """The address to announce: the one served on, or, for all interfaces, the one that
    routes to the mDNS group (what a neighbour on the LAN can reach)."""
    if host and host not in ("0.0.0.0", "::", ""):
        try:
            return socket.gethostbyname(host)
        except OSError as exc:
            raise WakewordError(f"cannot advertise {host}: {exc.strerror or first_line(exc)}") from None
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("224.0.0.251", 5353))
        except OSError as exc:
            raise WakewordError(f"cannot advertise: no route to the local network ({exc.strerror or first_line(exc)})") from None
        return probe.getsockname()[0]


async def watchdog(notifier: Notifier, service: WakeService) -> None:
    """WATCHDOG=1 while the event loop turns (a stuck loop serves nobody), with a STATUS."""
    interval = notifier.watchdog_interval_s or 10.0
    while True:
        notifier.watchdog()
        notifier.status(f"{service.clients} client(s), {service.detections} detection(s)")
        await asyncio.sleep(interval)
