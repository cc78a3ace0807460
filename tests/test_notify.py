"""sd_notify over a real datagram socket, the way systemd receives it."""

from __future__ import annotations

import os
import socket
import uuid

import pytest

from wakeword.notify import DEFAULT_WATCHDOG_INTERVAL_S, Notifier, child_env


@pytest.fixture
def receiver(tmp_path):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = tmp_path / "notify.sock"
    sock.bind(str(path))
    sock.settimeout(5)
    yield sock, str(path)
    sock.close()


def test_without_notify_socket_everything_is_a_no_op():
    notifier = Notifier(env={})
    assert not notifier.enabled
    assert notifier.watchdog_interval_s is None
    assert notifier.ready("listening") is False
    assert notifier.watchdog() is False
    notifier.close()


def test_messages_arrive_as_one_datagram_each(receiver):
    sock, path = receiver
    notifier = Notifier(env={"NOTIFY_SOCKET": path})
    assert notifier.ready("listening on #1 'pulse'")
    assert sock.recv(4096) == b"READY=1\nSTATUS=listening on #1 'pulse'"
    assert notifier.watchdog()
    assert sock.recv(4096) == b"WATCHDOG=1"
    assert notifier.status("3 detection(s)")
    assert sock.recv(4096) == b"STATUS=3 detection(s)"
    assert notifier.stopping()
    assert sock.recv(4096) == b"STOPPING=1"
    notifier.close()


def test_abstract_socket_names_start_with_at():
    name = f"wakeword-test-{uuid.uuid4().hex}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(b"\0" + name.encode())
    sock.settimeout(5)
    try:
        notifier = Notifier(env={"NOTIFY_SOCKET": f"@{name}"})
        assert notifier.send("READY=1")
        assert sock.recv(4096) == b"READY=1"
    finally:
        sock.close()


def test_a_manager_that_went_away_is_not_fatal(tmp_path):
    notifier = Notifier(env={"NOTIFY_SOCKET": str(tmp_path / "gone.sock")})
    assert notifier.enabled
    assert notifier.watchdog() is False


def test_a_manager_that_stops_reading_never_blocks_the_sender(receiver):
    _, path = receiver
    notifier = Notifier(env={"NOTIFY_SOCKET": path})
    sent = [notifier.watchdog() for _ in range(1000)]  # far past the socket's queue
    assert sent[0] and not sent[-1]
    notifier.close()


@pytest.mark.parametrize(
    "env, interval",
    [
        ({"WATCHDOG_USEC": "3000000"}, 1.5),
        ({"WATCHDOG_USEC": "3000000", "WATCHDOG_PID": str(os.getpid())}, 1.5),
        ({"WATCHDOG_USEC": "3000000", "WATCHDOG_PID": "1"}, None),  # meant for another process
        ({}, DEFAULT_WATCHDOG_INTERVAL_S),
        ({"WATCHDOG_USEC": "soon"}, DEFAULT_WATCHDOG_INTERVAL_S),
    ],
)
def test_watchdog_interval_is_half_the_managers_timeout(receiver, env, interval):
    _, path = receiver
    assert Notifier(env={"NOTIFY_SOCKET": path, **env}).watchdog_interval_s == interval


def test_children_do_not_inherit_the_notification_variables():
    env = {"NOTIFY_SOCKET": "@x", "WATCHDOG_USEC": "1", "WATCHDOG_PID": "2", "PATH": "/bin"}
    assert child_env(env) == {"PATH": "/bin"}
