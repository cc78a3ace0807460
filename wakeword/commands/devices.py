"""`wakeword devices`: the input devices `wakeword listen --device` can use."""

from __future__ import annotations

import argparse
import dataclasses
import json

from ..errors import DeviceError
from ..microphone import DETECT_HINT, NO_INPUT, input_devices


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "devices",
        help="list audio input devices with their default rates",
        description="List the audio input devices PortAudio sees; '*' marks the default input.",
        epilog="examples:\n  wakeword devices\n  wakeword devices --json\n  wakeword listen --device pulse   # by name, part of a name, or index",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--json", action="store_true", help="print the list as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    devices = input_devices()
    if not devices:
        raise DeviceError(f"{NO_INPUT}; {DETECT_HINT}")
    if args.json:
        print(json.dumps([dataclasses.asdict(d) for d in devices], indent=2))
        return 0
    width = max(len(d.name) for d in devices)
    for d in devices:
        mark = "*" if d.is_default else " "
        print(f"{mark} {d.index:3d}  {d.name:{width}}  {d.hostapi}, {d.channels} in, {d.default_rate} Hz")
    return 0
