"""`wakeword install-service`: a systemd user unit that runs `wakeword listen` at login,
or, with --serve, `wakeword serve` (the Wyoming service for Home Assistant).

The unit points at this environment's own `wakeword` by absolute path, so it keeps
working whatever PATH the user manager has. `systemd/wakeword.service` and
`systemd/wakeword-serve.service` in the repository are these templates rendered for a
`pip install --user` layout.
"""

from __future__ import annotations

import argparse
import getpass
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

SERVE_UNIT_NAME = "wakeword-serve.service"

SERVE_UNIT = """\
# wakeword serve: a Wyoming wake-word service for Home Assistant, as a user service.
# Written by `wakeword install-service --serve`; remove with `wakeword install-service --serve --uninstall`.
# Connections and detections go to the journal: journalctl --user -u wakeword-serve -f

[Unit]
Description=wakeword: Wyoming wake-word service for Home Assistant

[Service]
Type=notify
NotifyAccess=main
ExecStart={exec_start}
Restart=on-failure
RestartSec=5
# READY=1 comes once the socket listens (after the models load); WATCHDOG=1 comes
# while the event loop turns, so a server that serves nobody is restarted.
TimeoutStartSec=120
WatchdogSec=30
TimeoutStopSec=5
Environment=PYTHONUNBUFFERED=1

[Install]
WantedBy=default.target
"""

# The repository's example units: `pip install --user wakeword` puts the command here.
EXAMPLE_EXEC_START = "%h/.local/bin/wakeword listen --wait-for-device"
EXAMPLE_SERVE_EXEC_START = "%h/.local/bin/wakeword serve"


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "install-service",
        help="install (or remove) a systemd user service that listens at login (or serves Home Assistant)",
        description=(
            "Write ~/.config/systemd/user/wakeword.service (honours XDG_CONFIG_HOME) running this "
            "environment's `wakeword listen` with the given model and config, and print the systemctl "
            "commands that start it. With --serve, wakeword-serve.service running `wakeword serve` instead."
        ),
        epilog=(
            "examples:\n"
            "  wakeword install-service && systemctl --user daemon-reload && systemctl --user enable --now wakeword\n"
            "  wakeword install-service --model runs/hey_jarvis/model.npz --config ~/listen.yaml\n"
            "  wakeword install-service --uninstall\n"
            "  wakeword install-service --serve --zeroconf && systemctl --user daemon-reload && systemctl --user enable --now wakeword-serve"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--model", dest="models", action="append", metavar="FILE", help="model file for the service; repeat for several (default: the bundled model)")
    p.add_argument("--config", metavar="FILE", help="listen config file for the service (see `wakeword listen --help`)")
    p.add_argument("--uninstall", action="store_true", help="remove the unit and disable it, then print the stop command")
    serve = p.add_argument_group("the Wyoming service (see `wakeword serve --help`)")
    serve.add_argument("--serve", action="store_true", help=f"install {SERVE_UNIT_NAME}, running `wakeword serve`, instead of the listener")
    serve.add_argument("--uri", help="with --serve: where the service listens (default: serve's tcp://0.0.0.0:10400)")
    serve.add_argument("--zeroconf", nargs="?", const="wakeword", metavar="NAME", help="with --serve: advertise it for Home Assistant's discovery")
    p.set_defaults(func=run)


def unit_dir() -> Path:
    config_home = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config_home) / "systemd" / "user"


def render_user_unit(exec_start: str) -> str:
    return USER_UNIT.format(exec_start=exec_start)


def render_serve_unit(exec_start: str) -> str:
    return SERVE_UNIT.format(exec_start=exec_start)


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
    if not args.serve and (args.uri or args.zeroconf):
        raise ConfigError("--uri and --zeroconf are for --serve (the listener has no socket)")
    if args.serve and args.config:
        raise ConfigError("--config is the listener's; `wakeword serve` takes its settings as flags")
    name = SERVE_UNIT_NAME if args.serve else UNIT_NAME
    path = unit_dir() / name
    if args.uninstall:
        return _uninstall(path)
    argv = [str(_wakeword_executable()), *(["serve"] if args.serve else ["listen", "--wait-for-device"])]
    for model in args.models or []:
        argv += ["--model", str(_existing(model, ModelFileError, "model file"))]
    if args.config:
        config = _existing(args.config, ConfigError, "config file")
        load_listen_config(config)  # a config the service would reject fails here, not at login
        argv += ["--config", str(config)]
    if args.uri:
        from ..wyoming_server import parse_uri  # here: it imports the engine, which `--help` need not wait for

        parse_uri(args.uri)  # a URI the service would reject fails here, not at login
        argv += ["--uri", args.uri]
    if args.zeroconf:
        argv += ["--zeroconf", args.zeroconf]
    render = render_serve_unit if args.serve else render_user_unit
    atomic_write_bytes(path, render(systemd_command_line(argv)).encode())
    print(f"wrote {path}")
    print("start it now and at every login:")
    print("  systemctl --user daemon-reload")
    print(f"  systemctl --user enable --now {name}")
    if args.serve:
        print(f"and at boot, before anyone logs in (a headless box): loginctl enable-linger {getpass.getuser()}")
    print(f"follow it: journalctl --user -u {name} -f")
    return 0


def _uninstall(path: Path) -> int:
    if not path.exists():
        print(f"nothing to remove: {path} does not exist")
        return 0
    # Removing the unit's *.wants links is what `systemctl disable` does; it refuses to
    # once the unit file is gone, so it is done here.
    try:
        for link in path.parent.glob(f"*.wants/{path.name}"):
            link.unlink()
        path.unlink()
    except OSError as exc:
        raise WakewordError(f"cannot remove {exc.filename}: {exc.strerror}") from None
    print(f"removed {path} (disabled: it no longer starts at login)")
    print("stop the running one and let systemd forget it:")
    print(f"  systemctl --user stop {path.name}")
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
