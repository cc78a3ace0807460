"""`wakeword info MODEL`: what a model file carries."""

from __future__ import annotations

import argparse
import json


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "info",
        help="show what a model file carries (phrase, threshold, config, versions)",
        description="Print a model file's phrase, calibrated threshold, sizes, the versions that made it and its metrics. "
                    "Reads model files and the older torch .pt ones (those where torch is installed).",
        epilog="example:\n  wakeword info runs/activate/model.npz",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("model", nargs="?", help="model file (default: the bundled 'activate' model)")
    p.add_argument("--json", action="store_true", help="print everything as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..modelfile import FusedModel, bundled_model_path, load_model
    from ..scoring import ScoringPlan, members
    from ..streaming_model import count_parameters

    loaded = load_model(args.model or bundled_model_path())
    info = {
        "path": str(loaded.path),
        "phrase": loaded.phrase,
        "threshold": loaded.threshold,
        "parameters": sum(count_parameters(m.weights) for m in members(loaded)),
        "frontend": loaded.frontend,
        **{k: v for k, v in loaded.metadata.items() if k not in ("phrase", "threshold")},
        "config": loaded.config.to_dict(),
    }
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        fused = isinstance(loaded, FusedModel)
        if fused:  # what made it lives in its members
            keys = ("path", "phrase", "threshold", "parameters", "frontend", "fusion", "wakeword_version", "format_version")
        else:
            keys = ("path", "phrase", "threshold", "parameters", "frontend", "wakeword_version", "torch_version", "format_version",
                    "data_manifest_sha256")
        for key in keys:
            print(f"{key:22} {info.get(key)}")
        if fused:
            c = info.get("calibration") or {}
            print(f"{'calibration':22} " + (f"{c['hours']} h of audio at gains {c['gains_db']} dB, at most {c['false_accepts_per_hour']} FA/h"
                                             if c else "none (a given threshold, or the members' fused)"))
            g = loaded.gate
            # As the members run it: a member without GRUs needs no warm-up.
            warmups = "/".join(str(w) for w in sorted({m.warmup_steps for m in ScoringPlan([loaded]).gates if m})) if g else ""
            print(f"{'gate':22} " + (f"the slower member runs where the others reach {g.threshold:g} (warm-up {warmups}, "
                                     f"hold {g.hold_steps} steps)" if g else "none (every member runs on every step)"))
            for k, m in enumerate(loaded.members):
                print(f"{f'member {k}':22} {m.frontend}, threshold {m.threshold:.4g}, {count_parameters(m.weights)} parameters, "
                      f"data {str(m.metadata.get('data_manifest_sha256'))[:12]}")
        metrics = info.get("metrics", {})
        width = max(map(len, metrics), default=0)
        for key, value in metrics.items():
            print(f"metric {key:{width}} {value}")
    return 0
