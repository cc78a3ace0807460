"""`wakeword listen`: detect the phrase on a live microphone until stopped."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from ..listen_config import FIELDS, ListenConfig, load_listen_config

EPILOG = """examples:
  wakeword listen                                   # bundled "activate" model, default microphone
  wakeword listen --model runs/hey_jarvis/model.npz --json --exec 'notify-send "$WAKEWORD_PHRASE"'
  wakeword listen --device pulse --threshold 0.7 --chime
  wakeword listen --config listen.yaml --print-config

config file (flags win over it; model paths are relative to the file; every key: --print-config):
  listen:
    device: pulse            # name, part of a name, or index (see `wakeword devices`)
    models: [activate.npz]    # empty: the bundled "activate" model
    threshold: 0.6           # unset: each model's calibrated threshold
    patience_steps: 2
    refractory_s: 2.0
    exec: 'logger "heard $WAKEWORD_PHRASE"'
    chime: true
    json: true

signals: SIGTERM/SIGINT stop; SIGHUP reloads the config file and the models without
closing the audio stream (a bad config is rejected and the running one kept).
Under systemd (Type=notify) it reports READY once audio flows, WATCHDOG while it
keeps flowing, and the number of detections as STATUS.
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "listen",
        help="detect the wake phrase on a live microphone",
        description=(
            "Listen to an input device and print one line per detection (stdout, flushed at once). "
            "Logs (start-up summary, device problems, health) go to stderr. A device that disappears "
            "is reopened when it returns, without restarting."
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--config", metavar="FILE", help="YAML file with a 'listen:' section (see below); re-read on SIGHUP")
    p.add_argument("--device", metavar="NAME|INDEX", help="input device: index, name or part of a name (default: the system's default input)")
    p.add_argument("--rate", type=int, metavar="HZ", help="capture rate (default: the model's rate if the device takes it, else the device's own; the engine resamples)")
    p.add_argument("--model", dest="models", action="append", metavar="FILE", help="model file; repeat for several phrases (default: the bundled 'activate' model)")
    p.add_argument("--threshold", type=float, help="detection threshold in (0, 1) for every model (default: each model's calibrated threshold)")
    p.add_argument("--smoothing", dest="smoothing_steps", type=int, metavar="STEPS", help="average the score over this many steps (default: the model's)")
    p.add_argument("--patience", dest="patience_steps", type=int, metavar="STEPS", help="consecutive steps above the threshold needed to fire (default: the model's)")
    p.add_argument("--refractory", dest="refractory_s", type=float, metavar="SECONDS", help="least time between two events of one phrase (default: the model's)")
    p.add_argument("--exec", metavar="CMD", help="shell command run on each detection, without blocking detection; "
                   "it gets WAKEWORD_PHRASE, WAKEWORD_SCORE, WAKEWORD_TIME (ISO 8601) in its environment")
    p.add_argument("--exec-timeout", dest="exec_timeout_s", type=float, metavar="SECONDS", help=f"kill --exec after this long (default {ListenConfig.exec_timeout_s:g})")
    p.add_argument("--chime", action=argparse.BooleanOptionalAction, help="play a short tone on the default output on each detection")
    p.add_argument("--json", action=argparse.BooleanOptionalAction, help="print events as JSON lines: phrase, score, time_s (audio time), wall_time")
    p.add_argument("--health-interval", dest="health_interval_s", type=float, metavar="SECONDS",
                   help=f"log a health line (level dBFS, overflows, CPU %%) this often; 0: never (default {ListenConfig.health_interval_s:g})")
    p.add_argument("--wait-for-device", action=argparse.BooleanOptionalAction, help="if no input device is there, wait for one (retrying with backoff) instead of exiting")
    p.add_argument("--stall-timeout", dest="stall_timeout_s", type=float, metavar="SECONDS",
                   help=f"no audio for this long means the device is lost: reopen it (default {ListenConfig.stall_timeout_s:g})")
    p.add_argument("--block-ms", type=float, metavar="MS", help=f"audio block size (default {ListenConfig.block_ms:g})")
    p.add_argument("--print-config", action="store_true", help="print the effective configuration (file + flags) as YAML and exit")
    p.set_defaults(func=run)


def config_loader(args: argparse.Namespace):
    """Reads the file (again, on every reload) and lays the flags over it."""
    overrides = {name: getattr(args, name) for name in FIELDS}
    return lambda: load_listen_config(args.config, overrides)


def run(args: argparse.Namespace) -> int:
    load = config_loader(args)
    if args.print_config:
        sys.stdout.write(load().to_yaml())
        return 0
    from ..daemon import Listener
    from ..streaming import use_one_thread

    use_one_thread()
    setup_logging()
    code = Listener(load).run()
    # A stop must be quick (systemd's TimeoutStopSec) and interpreter teardown has nothing
    # left to do (it took over a second when the listener still loaded torch): everything
    # is closed and flushed, so leave now.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def setup_logging() -> None:
    # journald stamps every line itself; elsewhere a time helps.
    under_systemd = "JOURNAL_STREAM" in os.environ or "INVOCATION_ID" in os.environ
    logging.basicConfig(
        stream=sys.stderr, level=logging.INFO,
        format="%(message)s" if under_systemd else "%(asctime)s %(message)s", datefmt="%H:%M:%S",
    )
