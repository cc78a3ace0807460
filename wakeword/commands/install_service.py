"""`wakeword install-service`: a systemd user unit that runs `wakeword listen` at login.

The unit points at this environment's own `wakeword` by absolute path, so it keeps
working whatever PATH the user manager has. `systemd/wakeword.service` in the
repository is this template rendered for a `pip install --user` layout.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

from ..errors import ConfigError, ModelFileError, WakewordError
from ..fileio import atomic_write_bytes
from ..listen_config import load_listen_config

UNIT_NAME = "wakeword.service"

USER_UNIT = """\
# wakeword: offline wake-word detection on the default microphone, as a user service.
# Written by `wakeword install-service`; remove with `wakeword install-service --uninstall`.
# Detections go to the journal: journalctl --user -u wakeword -f

[Unit]
Description=wakeword: offline wake-word listener
# The user's audio server, whichever runs; --wait-for-device covers a late one.
After=pipewire-pulse.service pulseaudio.service

[Service]
Type=notify
NotifyAccess=main
ExecStart={exec_start}
ExecReload=/bin/kill -HUP $MAINPID
Restart=on-failure
RestartSec=5
# READY=1 comes once audio flows, which may wait for a device; WATCHDOG=1 comes
# while audio keeps flowing (a short outage is bridged in-process, a long one restarts).
TimeoutStartSec=infinity
WatchdogSec=30
TimeoutStopSec=5
Environment=PYTHONUNBUFFERED=1

[Install]
WantedBy=default.target
"""

# The repository's example unit: `pip install --user wakeword` puts the command here.
EXAMPLE_EXEC_START = "%h/.local/bin/wakeword listen --wait-for-device"


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "install-service",
        help="install (or remove) a systemd user service that listens at login",
        description=(
            "Write ~/.config/systemd/user/wakeword.service (honours XDG_CONFIG_HOME) running this "
            "environment's `wakeword listen` with the given model and config, and print the systemctl "
            "commands that start it."
        ),
        epilog=(
            "examples:\n"
            "  wakeword install-service && systemctl --user daemon-reload && systemctl --user enable --now wakeword\n"
            "  wakeword install-service --model runs/hey_jarvis/model.npz --config ~/listen.yaml\n"
            "  wakeword install-service --uninstall"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--model", dest="models", action="append", metavar="FILE", help="model file for the service; repeat for several (default: the bundled model)")
    p.add_argument("--config", metavar="FILE", help="listen config file for the service (see `wakeword listen --help`)")
    p.add_argument("--uninstall", action="store_true", help="remove the unit and disable it, then print the stop command")
    p.set_defaults(func=run)


def unit_dir() -> Path:
    config_home = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config_home) / "systemd" / "user"


def render_user_unit(exec_start: str) -> str:
    return USER_UNIT.format(exec_start=exec_start)


def systemd_command_line(argv: list[str]) -> str:
    """argv as an ExecStart= value: quoted where needed, '%' and '$' escaped so systemd
    passes them through literally."""
    def quote(arg: str) -> str:
        arg = arg.replace("%", "%%").replace("$", "$$")
        if re.fullmatch(r"[\w@%+=:,./-]+", arg):
            return arg
        return '"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"'

    return " ".join(quote(a) for a in argv)


def run(args: argparse.Namespace) -> int:
    path = unit_dir() / UNIT_NAME
    if args.uninstall:
        return _uninstall(path)
    argv = [str(_wakeword_executable()), "listen", "--wait-for-device"]
    for model in args.models or []:
        argv += ["--model", str(_existing(model, ModelFileError, "model file"))]
    if args.config:
        config = _existing(args.config, ConfigError, "config file")
        load_listen_config(config)  # a config the service would reject fails here, not at login
        argv += ["--config", str(config)]
    atomic_write_bytes(path, render_user_unit(systemd_command_line(argv)).encode())
    print(f"wrote {path}")
    print("start it now and at every login:")
    print("  systemctl --user daemon-reload")
    print(f"  systemctl --user enable --now {UNIT_NAME}")
    print(f"follow it: journalctl --user -u {UNIT_NAME} -f")
    return 0


def _uninstall(path: Path) -> int:
    if not path.exists():
        print(f"nothing to remove: {path} does not exist")
        return 0
    # Removing the unit's *.wants links is what `systemctl disable` does; it refuses to
    # once the unit file is gone, so it is done here.
    try:
        for link in path.parent.glob(f"*.wants/{UNIT_NAME}"):
            link.unlink()
        path.unlink()
    except OSError as exc:
        raise WakewordError(f"cannot remove {exc.filename}: {exc.strerror}") from None
    print(f"removed {path} (disabled: it no longer starts at login)")
    print("stop the running one and let systemd forget it:")
    print(f"  systemctl --user stop {UNIT_NAME}")
    print("  systemctl --user daemon-reload")
    return 0


def _wakeword_executable() -> Path:
    # Beside this interpreter: the venv's own entry point, not whichever is first on PATH.
    exe = Path(sys.executable).parent / "wakeword"
    if not exe.is_file():
        raise WakewordError(f"no `wakeword` command beside {sys.executable}: install wakeword into this environment (pip install -e .)")
    return exe


def _existing(path: str, error: type[WakewordError], what: str) -> Path:
    resolved = Path(path).expanduser().resolve()
    if not resolved.is_file():
        raise error(f"{what} not found: {path}")
    return resolved
