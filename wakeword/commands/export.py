"""`wakeword export OLD.pt [OUT]`: rewrite an older torch model file in the format the listener reads without torch."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import ConfigError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export",
        help="convert an older torch .pt model file into a model file the torch-free listener reads",
        description="Read a model file (an older torch .pt one needs torch: wakeword[train]) and write it as a "
                    "model file (.npz) with the same weights, threshold, config and metadata.",
        epilog="example:\n  wakeword export runs/activate/model.pt            # writes runs/activate/model.npz",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("model", help="model file to convert")
    p.add_argument("out", nargs="?", help="where to write it (default: beside it, with the suffix .npz)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..modelfile import load_single_model, write_model

    out = Path(args.out) if args.out else Path(args.model).with_suffix(".npz")
    if out.resolve() == Path(args.model).resolve():
        raise ConfigError(f"{out} is the input file: name another output")
    loaded = load_single_model(args.model, "export")
    meta = loaded.metadata
    write_model(out, loaded.weights, loaded.config, loaded.threshold, meta.get("data_manifest_sha256", ""),
                meta.get("metrics", {}), meta.get("torch_version", ""))
    print(out)
    return 0
