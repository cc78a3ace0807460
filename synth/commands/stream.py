"""`synth stream`: a long evaluation recording spoken only by held-out voices, with its truth."""

from __future__ import annotations

import argparse
import sys
from . import add_input_options, load_recipe_and_inputs


EPILOG = """what it writes:
  PREFIX.wav   16-bit mono at the config's sample rate
  PREFIX.json  {"duration_s": ..., "positives": [[start, end], ...],
                "negatives": [[start, end, "confusable"|"speech"], ...],
                "voices": [...], "engines": [...], "voice_patterns": [...], "voices_from": ...,
                "events": [...], ...}
  `wakeword eval --truth PREFIX.json` scores a model on it. A positive every
  synth.stream_positive_every_s seconds, confusables and ordinary speech between them
  (synth.stream_gap_s apart), over backgrounds that change scene every 20-60 s.

voices:
  Only voices that training never saw may speak: by default synth.heldout_voices of
  the config (generate leaves them out of train and val); --voices overrides them.

examples:
  synth stream --config configs/activate.yaml --positives clips/positives \\
      --negatives clips/negatives --minutes 60 --out eval/stream
  synth stream --config configs/activate.yaml --positives clips/positives \\
      --negatives clips/negatives --voices 'festival:*' --minutes 10 --out eval/festival
  synth stream --config configs/activate.yaml --negatives my/speech --voices 'user:*' \\
      --backgrounds my/rooms --minutes 120 --out calib/no-phrase     # no positives
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "stream",
        help="write a long evaluation recording (wav + truth json) spoken by held-out voices",
        description="Write a continuous evaluation recording with positives and negatives at known times.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_input_options(p, "YAML recipe: levels, SNRs, augmentation and synth.heldout_voices",
                      positives_help="; without it the stream never says the phrase: audio to calibrate a "
                                     "threshold on (wakeword fuse --calibrate PREFIX.wav)")
    p.add_argument("--minutes", type=float, default=60.0, help="length of the recording (default: %(default)s)")
    p.add_argument("--voices", metavar="PATTERNS",
                   help="comma-separated ENGINE:VOICE glob patterns of the voices that speak (default: synth.heldout_voices)")
    p.add_argument("--each-positive-once", action="store_true",
                   help="say every positive clip exactly once, in random order (e.g. a set of real recordings); "
                        "choose --minutes long enough for all of them (about stream_positive_every_s per clip)")
    p.add_argument("--out", required=True, metavar="PREFIX", help="writes PREFIX.wav and PREFIX.json")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..stream import write_stream  # imported here so that `synth --help` stays quick

    config, inputs = load_recipe_and_inputs(args, "stream")
    patterns = [p.strip() for p in args.voices.split(",") if p.strip()] if args.voices else list(config.synth.heldout_voices)
    voices_from = "--voices" if args.voices else "synth.heldout_voices"
    truth = write_stream(config, inputs, patterns, args.minutes, args.out, voices_from, progress=not args.quiet,
                         each_positive_once=args.each_positive_once)
    kinds = [n[2] for n in truth["negatives"]]
    if args.each_positive_once and len(truth["positives"]) < truth["positive_clips"]:
        print(f"synth stream: only {len(truth['positives'])} of the {truth['positive_clips']} positive clips fit in "
              f"{args.minutes:g} min; a longer --minutes says them all", file=sys.stderr)
    print(
        f"synth stream: {truth['duration_s'] / 60:.1f} min, {len(truth['positives'])} positives, "
        f"{kinds.count('confusable')} confusables, {kinds.count('speech')} other utterances, "
        f"{len(truth['voices'])} voices ({', '.join(truth['engines'])}) -> {args.out}.wav, {args.out}.json"
    )
    return 0
