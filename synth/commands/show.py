"""`synth show DATASET --index N --out PNG`: look at one training example."""

from __future__ import annotations

import argparse



def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "show",
        help="draw one dataset example (features, inserted clips, labels) as a PNG",
        description="Draw an example's spectrogram with its clips as labelled spans "
        "(green: phrase, red: confusable, orange: other speech) and its label timeline underneath.",
        epilog="example:\n  synth show data/activate --index 0 --out example.png",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("dataset", help="dataset folder written by `synth generate`")
    p.add_argument("--index", type=int, default=0, help="example id, as in the manifest (default: %(default)s)")
    p.add_argument("--out", required=True, metavar="PNG", help="image file to write")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..show import plot_example  # here, so that `synth --help` does not wait for matplotlib and torch

    record = plot_example(args.dataset, args.index, args.out)
    clips = ", ".join(f"{c['kind']} {c['start_s']:.2f}-{c['end_s']:.2f} s" for c in record["clips"]) or "no clips"
    print(f"synth show: example {args.index} ({record['split']}): {clips} -> {args.out}")
    return 0
