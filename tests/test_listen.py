"""`wakeword listen` on a real audio path: PortAudio -> ALSA -> a private PulseAudio server.

Plumbing tests use a model whose score is exactly 0.5 whatever it hears (its head's
weights are zero), so `--threshold 0.4` makes an event certain once per engine (the
score never falls to re-arm) and 0.6 makes one impossible. The phrase tests need the
bundled model, which really detects "activate".
"""

from __future__ import annotations

import dataclasses
import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import numpy as np
import pytest
import torch

from detect_fixtures import spoken_wav, training_imports
from pulse import STOP_LIMIT_S, TIMEOUT_S, Child, PulseServer, pulse, pulse_available, pulse_up  # noqa: F401 (fixtures)
from wakeword import microphone
from wakeword.cli import build_parser, main
from wakeword.config import load_config
from wakeword.daemon import Listener as Daemon, chime_tone
from wakeword.listen_config import FIELDS, ListenConfig, load_listen_config
from wakeword.model import WakewordModel, save_model
from wakeword.modelfile import bundled_model_path

ROOT = Path(__file__).resolve().parents[1]
WAKEWORD = Path(sys.executable).parent / "wakeword"


def _half_model(path: Path, phrase: str) -> Path:
    """A model for `phrase` that scores exactly 0.5 on any audio."""
    config = dataclasses.replace(load_config(ROOT / "configs" / "tiny.yaml"), phrase=phrase)
    model = WakewordModel(config.features.n_mels, config.model)
    with torch.no_grad():
        model.head.weight.zero_()
        model.head.bias.zero_()
    save_model(path, model, config, threshold=0.5)
    return path


@pytest.fixture(scope="module")
def half_model(tmp_path_factory) -> Path:
    return _half_model(tmp_path_factory.mktemp("models") / "half.npz", "activate")


@pytest.fixture
def listen():
    started: list[Child] = []

    def start(args: list[str], env: dict[str, str]) -> Child:
        started.append(Child([str(WAKEWORD), "listen", *args], env))
        return started[-1]

    yield start
    for listener in started:
        listener.kill()


# --- events, actions, resampling -------------------------------------------------


def test_events_of_two_models_reach_stdout_exec_and_chime_at_a_resampled_rate(pulse_up, half_model, listen, tmp_path):
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    jarvis = _half_model(tmp_path / "jarvis.npz", "jarvis")
    listener = listen(
        [
            "--model", str(half_model), "--model", str(jarvis), "--threshold", "0.4", "--json", "--rate", "44100", "--chime",
            # One file per event, complete before it appears (hooks run concurrently).
            "--exec", f"env | grep ^WAKEWORD_ > {hooks}/$WAKEWORD_PHRASE.tmp && mv {hooks}/$WAKEWORD_PHRASE.tmp {hooks}/$WAKEWORD_PHRASE.env",
            "--health-interval", "0.5",
        ],
        pulse_up.env,
    )
    start = listener.lines["stderr"][listener.wait_for(r"listening on")]
    assert "44100 Hz" in start and "resampled to 16000 Hz" in start
    assert "'activate' at 0.400, 'jarvis' at 0.400" in start
    first = listener.wait_for(r"^\{", "stdout")
    second = json.loads(listener.lines["stdout"][listener.wait_for(r"^\{", "stdout", after=first + 1)])
    event = json.loads(listener.lines["stdout"][first])
    assert {event["phrase"], second["phrase"]} == {"activate", "jarvis"}
    assert event["score"] == pytest.approx(0.5)
    assert event["time_s"] > 0
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d", event["wall_time"])

    deadline = time.monotonic() + TIMEOUT_S
    while len(list(hooks.glob("*.env"))) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    for phrase in ("activate", "jarvis"):
        hook_env = dict(line.split("=", 1) for line in (hooks / f"{phrase}.env").read_text().splitlines())
        assert hook_env["WAKEWORD_PHRASE"] == phrase
        assert float(hook_env["WAKEWORD_SCORE"]) == pytest.approx(0.5)
        assert hook_env["WAKEWORD_TIME"].startswith(event["wall_time"][:10])

    # The chime plays on the virtual speaker, which the virtual microphone hears.
    health = listener.wait_for(r"health: level -\d+\.\d dBFS, 0 overflow\(s\), 0 dropped, CPU \d+\.\d %")
    assert "chime failed" not in listener.log()
    assert "detection(s)" in listener.lines["stderr"][health]
    assert listener.stop() == 0
    assert "stopping after 2 detection(s)" in listener.log()


@pytest.mark.parametrize(
    "hook, logged",
    [("exit 3", r"exec 'exit 3' exited with status 3"), ("sleep 30", r"exec 'sleep 30' killed after 0\.5 s")],
)
def test_a_failing_hook_is_logged_and_detection_goes_on(pulse_up, half_model, listen, hook, logged):
    listener = listen(["--model", str(half_model), "--threshold", "0.4", "--exec", hook, "--exec-timeout", "0.5"], pulse_up.env)
    listener.wait_for(r"activate score=0\.500 audio_time=", "stdout")
    listener.wait_for(logged)
    assert listener.process.poll() is None
    assert listener.stop() == 0


def test_the_callback_copies_blocks_and_counts_what_it_cannot_queue():
    daemon = Daemon(ListenConfig)
    daemon._queue = queue.Queue(maxsize=1)
    block = np.ones((4, 1), dtype=np.float32)
    daemon._on_audio(block, False)
    block[:] = 0  # PortAudio reuses its buffer for the next block
    daemon._on_audio(block, True)
    assert (daemon.overflows, daemon.dropped) == (1, 1)
    assert np.all(daemon._queue.get_nowait() == 1)


def test_the_chime_is_short_quiet_and_starts_and_ends_softly():
    tone = chime_tone(48000)
    assert 0.1 < tone.size / 48000 < 0.5
    assert np.abs(tone).max() <= 0.25
    assert max(abs(tone[0]), abs(tone[-1])) < 0.01


# --- signals and reload ----------------------------------------------------------


def _write_config(path: Path, text: str) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def test_sighup_reloads_a_good_config_and_rejects_a_bad_one(pulse_up, half_model, listen, tmp_path):
    config = tmp_path / "listen.yaml"
    _write_config(config, f"listen:\n  models: [{half_model.name}]\n  threshold: 0.6\n  health_interval_s: 0.3\n")
    (tmp_path / half_model.name).write_bytes(half_model.read_bytes())  # models are found beside the config
    listener = listen(["--config", str(config), "--refractory", "3"], pulse_up.env)
    listener.wait_for(r"audio flowing")

    _write_config(config, "listen:\n  threshold: high\n")
    listener.signal(signal.SIGHUP)
    rejected = listener.wait_for(r"reload rejected: .*listen\.threshold must be a number.*keeping the running configuration")
    listener.wait_for(r"health: (level|digital silence)", after=rejected + 1)  # still running, still processing audio
    assert listener.process.poll() is None
    assert listener.count("stdout") == 0  # the old threshold (0.6) is still in force

    _write_config(config, f"listen:\n  models: [{half_model.name}]\n  threshold: 0.4\n")
    listener.signal(signal.SIGHUP)
    reloaded = listener.lines["stderr"][listener.wait_for(r"reloaded: ")]
    assert "'activate' at 0.400" in reloaded and "refractory 3 s" in reloaded  # flags still win
    listener.wait_for(r"activate score=0\.500", "stdout")
    assert "audio stalled" not in listener.log()  # the stream was never closed
    assert listener.stop() == 0


def test_a_device_chosen_by_name_and_sigint_stops_cleanly(pulse_up, half_model, listen):
    listener = listen(["--model", str(half_model), "--threshold", "0.6", "--device", "PULSE"], pulse_up.env)
    listener.wait_for(r"listening on #\d+ 'pulse' at 16000 Hz")
    listener.wait_for(r"audio flowing")
    listener.signal(signal.SIGINT)
    assert listener.process.wait(STOP_LIMIT_S) == 0
    assert "Traceback" not in listener.log()


# --- a lost device ---------------------------------------------------------------


def test_a_restarted_audio_server_is_reopened_without_restarting(pulse_up, half_model, listen):
    listener = listen(["--model", str(half_model), "--threshold", "0.4", "--json", "--stall-timeout", "0.5"], pulse_up.env)
    first = json.loads(listener.lines["stdout"][listener.wait_for(r"^\{", "stdout")])
    flowing = listener.wait_for(r"audio flowing")

    pulse_up.kill()
    lost = listener.wait_for(r"audio stalled: no audio for \d+ ms")
    pulse_up.start()
    listener.wait_for(r"audio flowing", after=max(flowing, lost) + 1)
    second = json.loads(listener.lines["stdout"][listener.wait_for(r"^\{", "stdout", after=1)])
    assert second["time_s"] > first["time_s"]  # audio time runs on across the gap
    assert listener.process.poll() is None
    assert listener.stop() == 0


# --- systemd notifications -------------------------------------------------------


def _datagrams(sock: socket.socket, until: str, timeout: float = TIMEOUT_S) -> list[str]:
    """Messages received until one containing `until` (inclusive)."""
    got: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            got.append(sock.recv(4096).decode())
        except TimeoutError:
            break
        if until in got[-1]:
            return got
    raise AssertionError(f"no notification with {until!r} in {timeout} s; got {got}")


def _pending(sock: socket.socket) -> list[str]:
    sock.setblocking(False)
    got = []
    try:
        while True:
            got.append(sock.recv(4096).decode())
    except BlockingIOError:
        return got
    finally:
        sock.setblocking(True)


def test_notify_ready_only_once_audio_flows_then_watchdog_status_stopping(half_model, listen, tmp_path):
    reason = pulse_available()
    if reason:
        pytest.skip(reason)
    server = PulseServer(tmp_path / "late")  # not started yet: no device at first
    name = f"wakeword-test-{uuid.uuid4().hex}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(b"\0" + name.encode())
    env = {**server.env, "NOTIFY_SOCKET": f"@{name}", "WATCHDOG_USEC": "200000"}
    try:
        listener = listen(["--model", str(half_model), "--threshold", "0.4", "--wait-for-device"], env)
        listener.wait_for(r"waiting for an input device")
        time.sleep(1.0)  # model loaded, process alive, no audio: nothing may say READY
        early = _pending(sock)
        assert not any("READY=1" in m or "WATCHDOG=1" in m for m in early), early
        assert any("STATUS=waiting for an input device" in m for m in early), early

        server.start()
        messages = _datagrams(sock, "READY=1")
        listener.wait_for(r"audio flowing")  # written before READY was sent; our reader may lag
        assert not any("WATCHDOG=1" in m for m in messages[:-1])
        assert re.search(r"STATUS=listening on .* at 16000 Hz; \d+ detection", messages[-1])

        later = _datagrams(sock, "detection(s)")
        later += _datagrams(sock, "WATCHDOG=1") + _datagrams(sock, "WATCHDOG=1") + _datagrams(sock, "WATCHDOG=1")
        assert sum(m == "WATCHDOG=1" for m in later) >= 3
        assert any(re.fullmatch(r"STATUS=listening on .*; 1 detection\(s\)", m) for m in later), later

        assert listener.stop() == 0
        assert any("STOPPING=1" in m for m in _pending(sock))
    finally:
        server.stop()
        sock.close()


# --- no device -------------------------------------------------------------------


def test_no_audio_server_is_one_line_naming_the_way_out(half_model, tmp_path):
    env = PulseServer(tmp_path).env  # a server that was never started: a dead socket
    proc = subprocess.run([str(WAKEWORD), "listen", "--model", str(half_model)], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 5, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "no audio input device" in lines[0]
    assert "`wakeword devices`" in lines[0] and "`wakeword detect FILE`" in lines[0]
    assert proc.stdout == ""

    devices = subprocess.run([str(WAKEWORD), "devices"], env=env, capture_output=True, text=True, timeout=60)
    assert devices.returncode == 5
    assert len(devices.stderr.strip().splitlines()) == 1 and "`wakeword detect FILE`" in devices.stderr


def test_a_missing_portaudio_is_one_line_naming_the_package(half_model):
    libraries = sorted({p.resolve() for p in [*Path("/usr/lib").glob("*/libportaudio.so.2"), Path("/usr/lib/libportaudio.so.2")] if p.exists()})
    if not libraries or subprocess.run(["unshare", "-m", "true"], capture_output=True).returncode != 0:
        pytest.skip("needs libportaudio2 and a private mount namespace (unshare -m, as root) to hide it")
    # Hidden from this one process only: the library file reads as empty.
    hide = " && ".join(f"mount --bind /dev/null {lib}" for lib in libraries)
    script = f"{hide} && exec {WAKEWORD} listen --model {half_model}"
    proc = subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 6, proc.stderr
    assert proc.stderr == "wakeword: error: PortAudio library not found: install libportaudio2 (sudo apt-get install libportaudio2)\n"


def test_devices_lists_the_virtual_microphone(pulse_up):
    proc = subprocess.run([str(WAKEWORD), "devices", "--json"], env=pulse_up.env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    devices = json.loads(proc.stdout)
    assert "pulse" in [d["name"] for d in devices]
    assert sum(d["is_default"] for d in devices) == 1
    assert all(d["channels"] > 0 and d["default_rate"] >= 8000 for d in devices)

    table = subprocess.run([str(WAKEWORD), "devices"], env=pulse_up.env, capture_output=True, text=True, timeout=60)
    assert re.search(r"^\*\s+\d+\s+\S", table.stdout, re.M)
    assert re.search(r"\bpulse\b.*Hz", table.stdout)


def test_an_unknown_device_name_is_one_line(pulse_up, half_model):
    proc = subprocess.run(
        [str(WAKEWORD), "listen", "--model", str(half_model), "--device", "no-such-mic"],
        env=pulse_up.env, capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 5
    assert proc.stderr.strip() == "wakeword: error: no input device matches 'no-such-mic': see `wakeword devices`"


# --- the phrase, with the bundled model ------------------------------------------

needs_bundled_model = pytest.mark.skipif(
    not bundled_model_path().exists(), reason=f"bundled model {bundled_model_path()} not trained yet (make model)"
)


@needs_bundled_model
def test_the_bundled_model_hears_the_phrase_and_only_the_phrase(pulse_up, listen, tmp_path):
    negative = spoken_wav(tmp_path, "the weather is nice today, let us go for a walk", "negative")
    positive = spoken_wav(tmp_path, "activate", "positive")
    listener = listen(["--json", "--health-interval", "0.5"], pulse_up.env)
    flowing = listener.wait_for(r"audio flowing")

    pulse_up.play(negative)
    after = listener.wait_for(r"health: ", after=flowing + 1)
    listener.wait_for(r"health: ", after=after + 1)  # past any late event
    assert listener.count("stdout") == 0, listener.log()

    pulse_up.play(positive)
    event = json.loads(listener.lines["stdout"][listener.wait_for(r"^\{", "stdout", timeout=10)])
    assert event["phrase"] == "activate"
    assert listener.stop() == 0


@needs_bundled_model
def test_the_listener_hears_the_phrase_without_loading_the_training_side(pulse_up, tmp_path):
    """torch, librosa, numba, scipy, matplotlib: none of them in the listener's process (`-X importtime` logs every import)."""
    positive = spoken_wav(tmp_path, "activate", "positive")
    listener = Child([sys.executable, "-X", "importtime", "-m", "wakeword.cli", "listen", "--json"], pulse_up.env)
    try:
        listener.wait_for(r"audio flowing")
        pulse_up.play(positive)
        listener.wait_for(r'"phrase": "activate"', "stdout", timeout=10)
        assert listener.stop() == 0
    finally:
        listener.kill()
    assert training_imports("\n".join(listener.lines["stderr"])) == []


@needs_bundled_model
def test_the_bundled_model_hears_the_phrase_after_the_server_restarts(pulse_up, listen, tmp_path):
    positive = spoken_wav(tmp_path, "activate", "positive")
    listener = listen(["--json", "--stall-timeout", "0.5"], pulse_up.env)
    flowing = listener.wait_for(r"audio flowing")
    pulse_up.restart()
    listener.wait_for(r"audio stalled")
    listener.wait_for(r"audio flowing", after=flowing + 1)
    pulse_up.play(positive)
    listener.wait_for(r'"phrase": "activate"', "stdout", timeout=10)
    assert listener.stop() == 0


# --- configuration ---------------------------------------------------------------


def test_every_listen_setting_has_a_flag():
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    dests = {a.dest for a in sub.choices["listen"]._actions}
    assert set(FIELDS) <= dests


def test_print_config_lays_flags_over_the_file_and_reads_back(tmp_path, capsys):
    config = tmp_path / "listen.yaml"
    config.write_text("listen:\n  device: 3\n  models: [m.npz]\n  threshold: 0.6\n  chime: true\n")
    assert main(["listen", "--config", str(config), "--threshold", "0.7", "--no-chime", "--print-config"]) == 0
    printed = tmp_path / "printed.yaml"
    printed.write_text(capsys.readouterr().out)
    effective = load_listen_config(printed)
    assert effective == ListenConfig(device="3", models=(str(tmp_path / "m.npz"),), threshold=0.7, chime=False)


@pytest.mark.parametrize(
    "text, message",
    [
        ("listen:\n  thresold: 0.5\n", "listen: unknown key(s) thresold; allowed:"),
        ("listen:\n  threshold: 1.5\n", "listen.threshold must be in (0, 1)"),
        ("listen:\n  patience_steps: 0\n", "listen.patience_steps must be >= 1"),
        ("listen:\n  models: activate.npz\n", "listen.models must be a list"),
        ("listen:\n  json: yes please\n", "listen.json must be true or false"),
        ("threshold: 0.5\n", "expected one top-level key 'listen:'"),
        ("listen: [1, 2]\n", "listen must be a mapping"),
        ("listen:\n  device: [\n", "is not valid YAML at line"),
    ],
)
def test_a_bad_config_is_one_precise_line(tmp_path, capsys, text, message):
    config = tmp_path / "bad.yaml"
    config.write_text(text)
    assert main(["listen", "--config", str(config), "--print-config"]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_a_bad_flag_value_is_one_line(capsys):
    assert main(["listen", "--threshold", "0", "--print-config"]) == 2
    assert capsys.readouterr().err.strip() == "wakeword: error: listen.threshold must be in (0, 1)"


def test_a_close_that_never_returns_is_abandoned_and_says_so():
    """PortAudio's abort() can wait for ever on an ALSA thread looping on a dead audio
    server (seen when the server dies as a stream starts; not reproducible on demand)."""
    release = threading.Event()

    class Stuck:
        def abort(self, ignore_errors: bool) -> None:
            release.wait()

        def close(self, ignore_errors: bool) -> None:
            pass

    class Closes(Stuck):
        def abort(self, ignore_errors: bool) -> None:
            pass

    try:
        assert microphone.close_input(Stuck(), timeout_s=0.2) is False
    finally:
        release.set()
    assert microphone.close_input(Closes()) is True
