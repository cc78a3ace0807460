"""One module per `synth` subcommand; the options and loading that several share."""

from __future__ import annotations

import argparse
import sys


def add_input_options(p: argparse.ArgumentParser, recipe_help: str, positives_help: str = "") -> None:
    """--config and the clip, background and room folders that `generate` and `stream` mix;
    with `positives_help` (what leaving --positives out means) they are optional."""
    p.add_argument("--config", required=True, help=recipe_help)
    p.add_argument("--positives", required=not positives_help, action="append", default=[], metavar="DIR",
                   help="clip folder of the phrase (synth speak PHRASE, synth record PHRASE); repeatable" + positives_help)
    p.add_argument("--negatives", required=True, action="append", metavar="DIR",
                   help="clip folder of confusables and other speech (synth speak --negatives, synth record --negatives); repeatable")
    p.add_argument("--backgrounds", action="append", default=[], metavar="DIR",
                   help="folder of real background recordings, any format and length (repeatable; default: generated only)")
    p.add_argument("--impulse-responses", metavar="DIR", help="folder of measured room impulse responses, used beside synthetic rooms")


def load_recipe_and_inputs(args: argparse.Namespace, command: str):
    """The config and every input folder, with each skipped file reported on stderr."""
    # Imported here so that `synth --help` does not wait for torch and scipy.
    from wakeword.config import load_config

    from ..dataset import load_inputs

    config = load_config(args.config)
    inputs = load_inputs(config.features.sample_rate, args.positives, args.negatives, args.backgrounds, args.impulse_responses,
                         getattr(args, "hard_negatives", None))
    for message in inputs.skipped:
        print(f"synth {command}: {message}", file=sys.stderr)
    return config, inputs
