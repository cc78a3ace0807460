"""A private PulseAudio server as a virtual microphone, for tests of the real audio path,
and `Child`, a command run against it whose output is read as it comes.

Set up as /work/shared/audio-notes.md measured: a 16 kHz mono null sink (the virtual
speaker) whose monitor, remapped, is the default source (the virtual microphone). What
`play()` sends to the speaker, a capture stream on the default input hears. A loopback
from the monitor into a second null sink keeps the sink rendering in small blocks, so
a stream opened on the microphone gets audio at once instead of 1-2 s later.

Everything lives in one folder under the test's tmp path; child processes reach the
server through `env` and nothing lands in HOME or /run.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

SINK = "wakeword_speaker"
SOURCE = "wakeword_mic"
RATE = 16000
READY_TIMEOUT_S = 10.0
TIMEOUT_S = 30.0  # generous: start-up imports torch on a shared 2-core machine
STOP_LIMIT_S = 5.0  # the code stops within 2 s; this only catches a hang
BINARIES = ("pulseaudio", "pactl", "paplay")


def _script(runtime: Path) -> str:
    return "\n".join(
        [
            f"load-module module-native-protocol-unix auth-anonymous=1 socket={runtime}/native",
            f"load-module module-null-sink sink_name={SINK} rate={RATE} channels=1 format=s16le",
            f"load-module module-remap-source source_name={SOURCE} master={SINK}.monitor",
            f"load-module module-null-sink sink_name=wakeword_drain rate={RATE} channels=1",
            f"load-module module-loopback source={SINK}.monitor sink=wakeword_drain latency_msec=20",
            f"set-default-sink {SINK}",
            f"set-default-source {SOURCE}",
            # Restarting the sink makes the loopback's small blocks take effect at once.
            f"suspend-sink {SINK} 1",
            f"suspend-sink {SINK} 0",
            "",
        ]
    )


class PulseServer:
    """One private server; `kill()` and `restart()` keep the socket path, as a real
    audio server's restart does."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.runtime = self.root / "pulse"
        self.runtime.mkdir(parents=True, exist_ok=True)
        (self.root / "config" / "pulse").mkdir(parents=True, exist_ok=True)
        # A client that finds no server must fail, never spawn the user's own daemon.
        (self.root / "config" / "pulse" / "client.conf").write_text("autospawn = no\n")
        self.script = self.root / "server.pa"
        self.script.write_text(_script(self.runtime))
        self.log = self.root / "server.log"
        self.process: subprocess.Popen | None = None
        self.env = {
            **os.environ,
            "PULSE_SERVER": f"unix:{self.runtime}/native",
            "PULSE_RUNTIME_PATH": str(self.runtime),
            "XDG_RUNTIME_DIR": str(self.root),
            "XDG_CONFIG_HOME": str(self.root / "config"),
            "PULSE_STATE_PATH": str(self.root / "state"),
            "PULSE_COOKIE": str(self.root / "cookie"),
        }

    def start(self) -> None:
        assert self.process is None, "server already running"
        self.process = subprocess.Popen(
            [
                "pulseaudio", "--system=false", "--daemonize=no", "--exit-idle-time=-1", "-n",
                "-F", str(self.script), "--use-pid-file=no", f"--log-target=file:{self.log}",
            ],
            env=self.env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                log = self.log.read_text() if self.log.exists() else ""
                self.process = None
                raise RuntimeError(f"pulseaudio exited at start-up:\n{log[-2000:]}")
            probe = subprocess.run(["pactl", "get-default-source"], env=self.env, capture_output=True, text=True)
            if probe.returncode == 0 and probe.stdout.strip() == SOURCE:
                return
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"pulseaudio did not become ready in {READY_TIMEOUT_S} s")

    def kill(self) -> None:
        """Gone at once, as when an audio server crashes: clients get no goodbye."""
        if self.process is None:
            return
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)
        self.process = None
        # The socket file stays behind after SIGKILL; the next server replaces it.
        (self.runtime / "native").unlink(missing_ok=True)

    def restart(self) -> None:
        self.kill()
        self.start()

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.kill()
        self.process = None

    def play(self, wav: str | Path) -> None:
        """Play a file on the virtual speaker (the microphone hears it); returns when done."""
        subprocess.run(["paplay", f"--device={SINK}", str(wav)], env=self.env, check=True, timeout=60)


def pulse_available() -> str | None:
    """Why the virtual microphone cannot run here, or None when it can."""
    missing = [b for b in BINARIES if shutil.which(b) is None]
    if missing:
        return f"{', '.join(missing)} not installed (apt-get install pulseaudio pulseaudio-utils libasound2-plugins)"
    return None


@pytest.fixture(scope="module")
def pulse(tmp_path_factory):
    """A running private server for the module."""
    reason = pulse_available()
    if reason:
        pytest.skip(reason)
    server = PulseServer(tmp_path_factory.mktemp("pulse"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def pulse_up(pulse):
    """The module's server, started again if a test left it down."""
    if pulse.process is None:
        pulse.start()
    return pulse


class Child:
    """A child process (`wakeword listen`, `synth record`) whose stdout and stderr are read as they come."""

    def __init__(self, argv: list[str], env: dict[str, str]):
        self.process = subprocess.Popen(
            argv, env=env, text=True,
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        self.lines: dict[str, list[str]] = {"stdout": [], "stderr": []}
        self._changed = threading.Condition()
        self._readers = [
            threading.Thread(target=self._read, args=(name, getattr(self.process, name)), daemon=True)
            for name in self.lines
        ]
        for reader in self._readers:
            reader.start()

    def _read(self, name: str, pipe) -> None:
        for line in pipe:
            with self._changed:
                self.lines[name].append(line.rstrip("\n"))
                self._changed.notify_all()

    def wait_for(self, pattern: str, stream: str = "stderr", after: int = 0, timeout: float = TIMEOUT_S) -> int:
        """Index of the first line from `after` on that matches `pattern`."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for i, line in enumerate(self.lines[stream][after:], after):
                    if re.search(pattern, line):
                        return i
                left = deadline - time.monotonic()
                if left <= 0 or (self.process.poll() is not None and not any(r.is_alive() for r in self._readers)):
                    raise AssertionError(f"no {stream} line matching {pattern!r}; log:\n{self.log()}")
                self._changed.wait(min(left, 0.2))

    def count(self, stream: str = "stdout") -> int:
        with self._changed:
            return len(self.lines[stream])

    def log(self) -> str:
        return "\n".join(self.lines["stderr"] + ["--- stdout:"] + self.lines["stdout"])

    def signal(self, sig: int) -> None:
        self.process.send_signal(sig)

    def stop(self) -> int:
        """SIGTERM; the exit status (it must exit, and quickly)."""
        self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(STOP_LIMIT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise AssertionError(f"still running {STOP_LIMIT_S} s after SIGTERM; log:\n{self.log()}") from None
        for reader in self._readers:
            reader.join(5)
        return code

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
