"""`synth generate`: labelled training examples from clip folders, as a dataset folder."""

from __future__ import annotations

import argparse
import os
import re

from wakeword.errors import ConfigError

from . import add_input_options, load_recipe_and_inputs

EPILOG = """how it works:
  Each example is clip_s seconds of background (generated noise, babble and hum, or your
  recordings) with 0..max_positives phrases and 0..max_negatives other utterances spoken
  into it at random, never overlapping, each with its own speed, pitch, room and device.
  Whole voices go to train or val (never both); synth.heldout_voices go to neither. Takes
  from synth record (engine "takes") always train, unless there are not two other voices of
  the phrase to validate on; other recordings split like any voice.
  Every knob is in the config's synth section; the flags only name paths and workers.

resuming and slicing:
  The same config, seed and clips give byte-identical files for any --workers and any
  --shard slicing. An interrupted run picks up where it stopped: run it again with the
  same arguments. --shard I/N makes only every N-th shard (I = 1..N); run the N slices
  into one --out (or copy their shards into one folder and run once more without
  --shard): the run that finds every shard present writes manifest.json.

examples:
  synth generate --config configs/activate.yaml --positives clips/positives \\
      --negatives clips/negatives --backgrounds ~/recordings/rooms --out data/activate
  synth generate --config configs/activate.yaml --positives clips/positives \\
      --negatives clips/negatives --out data/activate --shard 2/4 --workers 8
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "generate",
        help="mix clips into labelled training examples (a dataset folder for `wakeword train`)",
        description="Mix positive and negative clips into backgrounds: features, per-step labels and a manifest.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_input_options(p, "YAML recipe; its synth section sets every mixing knob")
    p.add_argument("--hard-negatives", metavar="DIR",
                   help="clip folder of mined hard negatives (synth mine): synth.hard_negative_share of negatives come from it")
    p.add_argument("--out", required=True, metavar="DATASET", help="dataset folder to write (or to resume)")
    p.add_argument("--shard", default="1/1", metavar="I/N", help="make only slice I of N of the shards (default: 1/1, all)")
    p.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)), metavar="N",
                   help="processes to mix with (default: all cores, here %(default)s)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def parse_slice(text: str) -> tuple[int, int]:
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if not match or not 1 <= int(match[1]) <= int(match[2]):
        raise ConfigError(f"--shard {text!r} is not I/N with 1 <= I <= N (e.g. 2/4)")
    return int(match[1]), int(match[2])


def run(args: argparse.Namespace) -> int:
    index, count = parse_slice(args.shard)
    if args.workers < 1:
        raise ConfigError("--workers must be at least 1")
    from ..dataset import generate  # imported here so that `synth --help` stays quick

    config, inputs = load_recipe_and_inputs(args, "generate")
    if args.hard_negatives and not config.synth.hard_negative_share:
        raise ConfigError(f"{args.config} sets synth.hard_negative_share to 0: --hard-negatives would never be drawn; set it to e.g. 0.3")
    summary = generate(config, inputs, args.out, index, count, args.workers, progress=not args.quiet)
    print(f"synth generate: {summary.line(args.out)}")
    return 0
