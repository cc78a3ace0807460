"""systemd's notification protocol (sd_notify), spoken directly over its socket.

`Type=notify` services tell the manager when they are ready, that they are alive
(the watchdog), what they are doing, and that they are stopping, by sending
"KEY=value" datagrams to the socket named in NOTIFY_SOCKET. Outside systemd that
variable is unset and every call here does nothing, so the daemon never needs to
know how it was started.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping

# How often to ping when the manager asks for pings but sets no WATCHDOG_USEC.
DEFAULT_WATCHDOG_INTERVAL_S = 10.0

CHILD_ENV_KEYS = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")


class Notifier:
    def __init__(self, env: Mapping[str, str] | None = None):
        env = os.environ if env is None else env
        self.address = _socket_address(env.get("NOTIFY_SOCKET", ""))
        self.watchdog_interval_s = _watchdog_interval(env) if self.address else None
        # Non-blocking: a manager that stops reading fills the queue (10 datagrams by
        # default), and a send that then waited would stall the caller's loop.
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC | socket.SOCK_NONBLOCK) if self.address else None

    @property
    def enabled(self) -> bool:
        return self._socket is not None

    def send(self, *fields: str) -> bool:
        """Send "KEY=value" fields in one datagram; False if nobody is listening.

        A manager that went away must not take the daemon with it, so failures are
        reported, never raised.
        """
        if self._socket is None:
            return False
        try:
            self._socket.sendto("\n".join(fields).encode(), self.address)
        except OSError:
            return False
        return True

    def ready(self, status: str) -> bool:
        return self.send("READY=1", f"STATUS={status}")

    def status(self, status: str) -> bool:
        return self.send(f"STATUS={status}")

    def watchdog(self) -> bool:
        return self.send("WATCHDOG=1")

    def stopping(self) -> bool:
        return self.send("STOPPING=1")

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None


def child_env(env: Mapping[str, str]) -> dict[str, str]:
    """`env` without the notification variables: they belong to this process only,
    and a child that used them would speak for the service."""
    return {k: v for k, v in env.items() if k not in CHILD_ENV_KEYS}


def _socket_address(name: str) -> str | bytes | None:
    if not name:
        return None
    if name.startswith("@"):
        # Linux abstract namespace: a leading NUL instead of a file.
        return b"\0" + name[1:].encode()
    if name.startswith("/"):
        return name
    return None


def _watchdog_interval(env: Mapping[str, str]) -> float | None:
    """Half the manager's watchdog timeout, so one late ping is not fatal; None when
    the watchdog is meant for another process."""
    pid = env.get("WATCHDOG_PID")
    if pid and pid != str(os.getpid()):
        return None
    try:
        usec = int(env.get("WATCHDOG_USEC", ""))
    except ValueError:
        return DEFAULT_WATCHDOG_INTERVAL_S
    return usec / 2e6 if usec > 0 else DEFAULT_WATCHDOG_INTERVAL_S
