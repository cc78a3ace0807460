"""`synth` command line: builds labelled training data and evaluation streams."""

from __future__ import annotations

import sys

from wakeword.cli import build_parser, run_cli

SUBCOMMANDS = ("speak", "record", "voices", "generate", "mine", "stream", "show")

EPILOG = """examples:
  synth speak "activate" --out clips/positives              # many voices of the phrase
  synth speak "activate" --negatives --out clips/negatives  # sound-alikes and ordinary words
  synth record "activate" --out clips/me                    # your own takes, from the microphone
  synth voices --engines flite,piper                        # the voices speak would use
  synth generate --config configs/activate.yaml --positives clips/positives --negatives clips/negatives --out data/activate
  synth mine --config configs/activate.yaml --model run/model.npz --negatives clips/negatives --out clips/hard
  synth stream --config configs/activate.yaml --minutes 60 --out eval/stream
  synth show data/activate --index 0 --out example.png
"""


def build_synth_parser():
    return build_parser(
        prog="synth",
        description="Synthesize labelled wake-word training data, offline.",
        package="synth.commands",
        names=SUBCOMMANDS,
        epilog=EPILOG,
    )


def main(argv: list[str] | None = None) -> int:
    return run_cli(build_synth_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
