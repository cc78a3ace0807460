"""`wakeword` command line: parses and wires; the work lives in the library modules.

Each subcommand is a module in `wakeword.commands` with `add_parser(subparsers)` and
`run(args) -> int`. Errors a user can cause are `WakewordError`s: printed as one line.
A command module imports what needs torch inside `run`: building the parser imports every
command, and `--help` should not wait seconds for torch. A base install (`pip install
wakeword`) is the listener alone; a command that reaches for what only `wakeword[train]`
brings says so in one line.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from . import __version__
from .errors import ExtraMissingError, WakewordError

# Top-level packages that only the `train` extra installs (training, synthesis, evaluation plots).
TRAIN_EXTRA = ("torch", "scipy", "matplotlib")

SUBCOMMANDS = ("listen", "serve", "detect", "eval", "train", "devices", "install_service", "info", "export", "fuse")

EPILOG = """examples:
  wakeword listen                                   # bundled "activate" model, default microphone
  wakeword serve                                    # a Wyoming wake-word service for Home Assistant
  wakeword detect recording.wav                     # events in a file
  arecord -f S16_LE -r 16000 -c 1 | wakeword detect -
  wakeword train --config configs/activate.yaml --data data/activate --out runs/activate
  wakeword eval --model runs/activate/model.npz --audio stream.wav --truth stream.json
"""


def build_parser(prog: str = "wakeword", description: str = "Offline wake-word detection for Linux.",
                 package: str = "wakeword.commands", names=SUBCOMMANDS, epilog: str = EPILOG) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog, description=description, epilog=epilog, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in names:
        module = importlib.import_module(f"{package}.{name}")
        module.add_parser(sub)
    return parser


def run_cli(parser: argparse.ArgumentParser, argv: list[str] | None) -> int:
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except ModuleNotFoundError as exc:
        if exc.name not in TRAIN_EXTRA:
            raise
        return _fail(parser, ExtraMissingError(
            f"{parser.prog} {args.command} needs {exc.name}, which this install lacks: pip install 'wakeword[train]'"))
    except WakewordError as exc:
        return _fail(parser, exc)
    except KeyboardInterrupt:
        print(f"{parser.prog}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


def _fail(parser: argparse.ArgumentParser, exc: WakewordError) -> int:
    print(f"{parser.prog}: error: {exc}", file=sys.stderr)
    return exc.exit_code


def main(argv: list[str] | None = None) -> int:
    return run_cli(build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
