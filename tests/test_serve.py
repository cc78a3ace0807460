"""`wakeword serve`: the real server in a process of its own on a real TCP port, spoken to
with the `wyoming` package's own client, as Home Assistant speaks to it.

The models are `energy_model`s (tests/detect_fixtures.py): their score follows loudness,
so noise bursts are utterances at known times. A `ping` after `audio-stop` fences a
stream: events come back in order, so every detection of the stream precedes the `pong`.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import re
import socket
import subprocess
import time
import uuid
from pathlib import Path

import numpy as np
import pytest
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.client import AsyncTcpClient, AsyncUnixClient
from wyoming.event import Event, async_read_event, write_event
from wyoming.info import Describe, Info
from wyoming.ping import Ping
from wyoming.wake import Detect, Detection, NotDetected

from detect_fixtures import BIN, burst_audio, energy_model, one_line_error, training_imports, wakeword, wakeword_python
from pulse import Child

BURSTS = [(1.0, 1.5), (4.0, 4.6), (4.9, 5.3), (8.2, 8.4)]
ONSETS = [1.0, 4.0, 8.2]  # bursts 0.3 s apart are one utterance for a 1.5 s refractory time
RECEPTIVE_FIELD_S = 0.165  # a detection comes within the first step whose field is mostly loud
IDLE_TIMEOUT_S = 2.0
READ_TIMEOUT_S = 30.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("serve")
    return {"activate": energy_model(d / "activate.npz"), "jarvis": energy_model(d / "jarvis.npz", phrase="Hey Jarvis")}


@pytest.fixture(scope="module")
def server(models, tmp_path_factory):
    """One server for the module, under a stand-in systemd notify socket."""
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify_path = tmp_path_factory.mktemp("notify") / "notify.sock"
    notify.bind(str(notify_path))
    notify.settimeout(READ_TIMEOUT_S)
    port = free_port()
    env = {**os.environ, "NOTIFY_SOCKET": str(notify_path), "WATCHDOG_USEC": "1000000"}
    child = Child([str(BIN / "wakeword"), "serve", "--uri", f"tcp://127.0.0.1:{port}",
                   "--model", str(models["activate"]), "--model", str(models["jarvis"]),
                   "--idle-timeout", str(IDLE_TIMEOUT_S)], env)
    child.port = port
    child.notify = notify
    yield child
    code = child.stop()
    notify.close()
    assert code == 0, child.log()


def pcm(audio: np.ndarray, width: int = 2) -> bytes:
    """Float audio (samples[, channels]) as little-endian PCM of `width` bytes."""
    ints = np.round(np.clip(audio, -1, 1) * (2 ** (8 * width - 1) - 1)).astype("<i4")
    if width == 2:
        return ints.astype("<i2").tobytes()
    return np.frombuffer(ints.astype("<i4").tobytes(), dtype=np.uint8).reshape(-1, 4)[:, :width].tobytes()


async def stream(client, audio: bytes, rate: int, width: int = 2, channels: int = 1, names=None,
                 start_ms: int | None = 0, chunk_s: float = 0.064, pace_s: float = 0.0) -> list[Event]:
    """detect, audio-start, chunks, audio-stop; the events the stream got."""
    await client.write_event(Detect(names=names).event())
    await client.write_event(AudioStart(rate, width, channels, timestamp=start_ms).event())
    step = int(rate * chunk_s) * width * channels
    for i in range(0, len(audio), step):
        await client.write_event(AudioChunk(rate, width, channels, audio[i : i + step]).event())
        await asyncio.sleep(pace_s)
    await client.write_event(AudioStop().event())
    await client.write_event(Ping(text="fence").event())
    events = []
    while True:
        event = await asyncio.wait_for(client.read_event(), READ_TIMEOUT_S)
        assert event is not None, "the server closed the connection"
        if event.type == "pong":
            return events
        events.append(event)


def detections(events: list[Event]) -> list[tuple[str, int]]:
    assert all(Detection.is_type(e.type) for e in events), events
    return [(Detection.from_event(e).name, Detection.from_event(e).timestamp) for e in events]


def assert_onsets(found: list[tuple[str, int]], name: str, onsets: list[float], start_ms: int = 0) -> None:
    assert [n for n, _ in found] == [name] * len(onsets), found
    for (_, timestamp), onset in zip(found, onsets):
        assert start_ms + onset * 1000 < timestamp < start_ms + (onset + RECEPTIVE_FIELD_S) * 1000, found


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 120))


def client(server) -> AsyncTcpClient:
    server.wait_for("serving")
    return AsyncTcpClient("127.0.0.1", server.port)


# --- the protocol ------------------------------------------------------------------


def test_ready_comes_once_the_port_listens_and_the_watchdog_pings(server):
    assert server.notify.recv(4096).startswith(b"READY=1\n")
    with socket.create_connection(("127.0.0.1", server.port), timeout=5):
        pass
    assert b"WATCHDOG=1" in server.notify.recv(4096)


def test_describe_lists_one_program_with_every_model(server):
    async def go():
        async with client(server) as c:
            await c.write_event(Describe().event())
            return Info.from_event(await c.read_event())

    info = run(go())
    assert [p.name for p in info.wake] == ["wakeword"]
    program = info.wake[0]
    assert program.installed and program.version and program.attribution.name == "wakeword"
    assert [(m.name, m.phrase, m.description, m.languages) for m in program.models] == [
        ("activate", "activate", "activate", ["en"]),
        ("hey_jarvis", "Hey Jarvis", "Hey Jarvis", ["en"]),
    ]
    assert all(m.version and m.installed and m.attribution.name for m in program.models)


@pytest.mark.parametrize(
    "rate, width, channels",
    [(16000, 2, 1), (48000, 2, 2), (22050, 3, 1)],
    ids=["16k-s16-mono", "48k-s16-stereo", "22k-s24-mono"],
)
def test_a_detection_per_utterance_at_its_audio_time(server, rate, width, channels):
    audio = pcm(burst_audio(rate, 10.0, BURSTS, channels=channels), width)

    async def go():
        async with client(server) as c:
            return await stream(c, audio, rate, width, channels, names=["activate"], start_ms=5000)

    assert_onsets(detections(run(go())), "activate", ONSETS, start_ms=5000)


def test_audio_without_the_phrase_gets_not_detected(server):
    audio = pcm(burst_audio(16000, 4.0, []))

    async def go():
        async with client(server) as c:
            return await stream(c, audio, 16000)

    assert [e.type for e in run(go())] == [NotDetected().event().type]


def test_detect_names_choose_the_models_that_answer(server):
    audio = pcm(burst_audio(16000, 3.0, [(1.0, 1.5)]))

    async def go():
        async with client(server) as c:
            both = await stream(c, audio, 16000)
            # The phrase is as good as its id; later streams on one connection start afresh.
            jarvis = await stream(c, audio, 16000, names=["Hey Jarvis"])
            activate = await stream(c, audio, 16000, names=["activate"])
            return both, jarvis, activate

    both, jarvis, activate = run(go())
    assert sorted(n for n, _ in detections(both)) == ["activate", "hey_jarvis"]
    assert_onsets(detections(jarvis), "hey_jarvis", [1.0])
    assert_onsets(detections(activate), "activate", [1.0])


def test_two_clients_at_once_get_their_own_answers(server):
    first = pcm(burst_audio(16000, 8.0, [(1.0, 1.4)], seed=1))
    second = pcm(burst_audio(48000, 8.0, [(2.5, 2.9), (6.0, 6.5)], seed=2, channels=2))

    async def one(audio, rate, channels):
        async with client(server) as c:
            return await stream(c, audio, rate, channels=channels, names=["activate"], pace_s=0.005)

    async def go():
        return await asyncio.gather(one(first, 16000, 1), one(second, 48000, 2))

    a, b = run(go())
    assert_onsets(detections(a), "activate", [1.0])
    assert_onsets(detections(b), "activate", [2.5, 6.0])


# --- bad input: one connection ends, the server serves on ------------------------------


async def _raw(server, data: bytes, close: bool) -> list[Event]:
    """Bytes as they are (what a broken client sends); the events that come back before the
    server closes the connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(data)
    await writer.drain()
    if close:
        writer.close()
        return []
    events = []
    while (event := await asyncio.wait_for(async_read_event(reader), READ_TIMEOUT_S)) is not None:
        events.append(event)
    writer.close()
    return events


def _events(*events: Event) -> bytes:
    """Events as the wire carries them."""
    out = io.BytesIO()
    for e in events:
        write_event(e, out)
    return out.getvalue()


START = AudioStart(16000, 2, 1).event()
CHUNK = AudioChunk(16000, 2, 1, pcm(burst_audio(16000, 0.5, []))).event()


@pytest.mark.parametrize(
    "data, close, reason",
    [
        (b"{this is not json\n", False, r"malformed event"),
        (b'{"data": {}}\n', False, r"malformed event"),
        (b'{"type": "detect", "data": [1, 2]}\n', False, r"malformed 'detect' event"),
        (_events(Event(type="transcribe", data={"text": "hi"})), False, r"unknown event type 'transcribe'"),
        (_events(Detect(names=["alexa"]).event()), False, r"unknown model\(s\) alexa"),
        (_events(AudioStart(16000, 5, 1).event()), False, r"cannot convert 5-byte samples"),
        (_events(AudioStart(100, 2, 1).event()), False, r"cannot convert audio at 100 Hz"),
        (_events(Event(type="audio-start", data={"rate": "fast", "width": 2, "channels": 1})), False, r"without a valid rate"),
        (_events(START, AudioChunk(16000, 2, 1, b"abc").event()), False, r"not whole 2-byte frames"),
        (_events(START, AudioChunk(48000, 2, 1, b"abcd").event()), False, r"at 48000 Hz inside a 16000 Hz stream"),
        (_events(AudioStop().event()), False, r"audio-stop without audio"),
        (b'{"type": "audio-chunk", "data": {"rate": 16000, "width": 2, "channels": 1}, "payload_length": 3200}\n'
         + b"\0" * 100, True, r"vanished mid-event"),
        (_events(START, CHUNK, CHUNK), True, r"vanished mid-stream"),
        (b"", False, rf"sent nothing for {IDLE_TIMEOUT_S:g} s"),
    ],
    ids=["not-json", "no-type", "data-not-object", "unknown-event", "unknown-name", "width", "rate", "format-type",
         "partial-frame", "rate-change", "stop-without-audio", "truncated-payload", "vanished-mid-stream", "idle"],
)
def test_a_bad_client_gets_one_log_line_and_the_next_is_served(server, data, close, reason):
    server.wait_for("serving")
    before = server.count("stderr")
    events = run(_raw(server, data, close))
    if not close:
        assert [e.type for e in events] == ["error"] and re.search(reason, events[0].data["text"]), events
    line = server.wait_for(r"client 127\.0\.0\.1:\d+: .*connection closed", after=before)
    assert re.search(reason, server.lines["stderr"][line]), server.log()
    assert "Traceback" not in server.log()

    audio = pcm(burst_audio(16000, 3.0, [(1.0, 1.5)]))

    async def next_client():
        async with client(server) as c:
            return await stream(c, audio, 16000, names=["activate"])

    assert_onsets(detections(run(next_client())), "activate", [1.0])  # nothing left over from the bad one
    assert len([ln for ln in server.lines["stderr"][before:] if "connection closed" in ln]) == 1, server.log()


# --- other transports, start-up failures -------------------------------------------------


def test_serve_loads_nothing_of_the_training_side():
    """The server is the listener's runtime too: the bundled model answers on stdio without torch."""
    run_ = wakeword_python("serve", "--uri", "stdio://", flags=("-X", "importtime"), stdin=_events(Describe().event()))
    assert run_.returncode == 0, run_.stderr[-2000:]
    assert json.loads(run_.stdout.splitlines()[0])["type"] == "info"
    assert training_imports(run_.stderr) == []


def test_unix_socket_and_stdio(models, tmp_path):
    path = tmp_path / "wake.sock"
    unix = Child([str(BIN / "wakeword"), "serve", "--uri", f"unix://{path}", "--model", str(models["activate"])], dict(os.environ))
    stdio = subprocess.Popen([str(BIN / "wakeword"), "serve", "--uri", "stdio://", "--model", str(models["activate"])],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        unix.wait_for("serving")
        audio = pcm(burst_audio(16000, 3.0, [(1.0, 1.5)]))

        async def go():
            async with AsyncUnixClient(path) as c:
                return await stream(c, audio, 16000)

        assert_onsets(detections(run(go())), "activate", [1.0])

        out, err = stdio.communicate(_events(Describe().event(), Ping(text="x").event()), timeout=60)
        header = json.loads(out.splitlines()[0])
        assert header["type"] == "info", out
        assert b"Traceback" not in err and stdio.returncode == 0, err
    finally:
        assert unix.stop() == 0, unix.log()
        stdio.kill()
    assert not path.exists()


def test_a_port_in_use_fails_in_one_line(models):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        message = one_line_error(wakeword("serve", "--uri", f"tcp://127.0.0.1:{port}", "--model", str(models["activate"])))
    assert message == f"wakeword: error: cannot listen on tcp://127.0.0.1:{port}: Address already in use"


@pytest.mark.parametrize(
    "args, message",
    [
        (["--model", "MISSING"], r"model file not found: MISSING"),
        (["--model", "NOT_A_MODEL"], r"NOT_A_MODEL is not a readable wakeword model"),
        (["--uri", "http://localhost:10400"], r"--uri must be tcp://HOST:PORT, unix://PATH or stdio://"),
        (["--uri", "unix:///tmp", "--zeroconf"], r"--zeroconf advertises a TCP port"),
        (["--uri", "unix://NOT_A_SOCKET"], r"cannot listen on unix://.*: a file that is not a socket is there"),
        (["--model", "ACTIVATE", "--model", "ACTIVATE"], r"both detect 'activate': serve one of them"),
    ],
    ids=["missing-model", "unreadable-model", "bad-uri", "zeroconf-not-tcp", "not-a-socket", "same-phrase-twice"],
)
def test_start_up_failures_are_one_line(models, tmp_path, args, message):
    junk = tmp_path / "junk.pt"
    junk.write_text("not a model\n")
    names = {"MISSING": str(tmp_path / "missing.pt"), "NOT_A_MODEL": str(junk), "NOT_A_SOCKET": str(junk),
             "ACTIVATE": str(models["activate"])}
    argv = [re.sub("|".join(names), lambda m: names[m.group(0)], a) for a in args]
    line = one_line_error(wakeword("serve", *argv))
    assert re.search(message.replace("MISSING", ".*missing.pt").replace("NOT_A_MODEL", ".*junk.pt"), line), line
    assert junk.read_text() == "not a model\n"  # a file in the way of a socket is left alone


def _advertised(zeroconf, seconds: float) -> set[tuple[str, int]]:
    """(name, port) of every `_wyoming._tcp` service heard on loopback within `seconds`."""
    zc = zeroconf.Zeroconf(interfaces=["127.0.0.1"])
    names: list[str] = []
    try:
        zeroconf.ServiceBrowser(zc, "_wyoming._tcp.local.", handlers=[lambda name, **_: names.append(name)])
        time.sleep(seconds)
        infos = [zc.get_service_info("_wyoming._tcp.local.", n, timeout=2000) for n in names]
    finally:
        zc.close()
    return {(i.name, i.port) for i in infos if i is not None}


def test_zeroconf_advertises_the_port_for_home_assistant_and_nothing_without_it(models, server):
    zeroconf = pytest.importorskip("zeroconf")
    server.wait_for("serving")
    assert server.port not in {p for _, p in _advertised(zeroconf, 2.0)}  # the module's server has no --zeroconf
    port, name = free_port(), f"wakeword-test-{uuid.uuid4().hex[:8]}"
    child = Child([str(BIN / "wakeword"), "serve", "--uri", f"tcp://127.0.0.1:{port}", "--model", str(models["activate"]),
                   "--zeroconf", name], dict(os.environ))
    try:
        child.wait_for("serving|error")
        if any("cannot advertise" in ln for ln in child.lines["stderr"]):
            pytest.skip(f"no multicast here: {child.log()}")
        assert (f"{name}._wyoming._tcp.local.", port) in _advertised(zeroconf, 2.0), child.log()
    finally:
        assert child.stop() == 0, child.log()
