"""`wakeword fuse A.npz B.npz --out PAIR.npz`: models of one phrase on different frontends, as one."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import ConfigError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "fuse",
        help="fuse models of one phrase (e.g. a log-mel and a speech-embedding one) into one model file",
        description="Write one model file that runs every given model on its own frontend and scores the mean of "
                    "their log-odds on the slowest one's time line: models that err on different things make a better "
                    "detector together (docs/levers.md 26, 27). The fused threshold is calibrated on audio that holds "
                    "no phrase (--calibrate: the lowest threshold with at most --false-accepts-per-hour there), "
                    "or given (--threshold); without either it is the members' thresholds fused by the same rule.",
        epilog="example:\n  wakeword fuse runs/mel/model.npz runs/embedding/model.npz --out pair.npz \\\n"
               "      --calibrate recordings/tv-evening.flac --false-accepts-per-hour 0.5",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("models", nargs="+", metavar="MODEL", help="two or more model files of one phrase")
    p.add_argument("--out", required=True, type=Path, help="the fused model file to write")
    how = p.add_mutually_exclusive_group()
    how.add_argument("--threshold", type=float, metavar="P", help="the fused threshold, in (0, 1)")
    how.add_argument("--calibrate", nargs="+", type=Path, metavar="AUDIO",
                     help="audio files without the phrase (speech, TV, the room), none of which a member trained "
                          "on: a member scores its own training negatives low, so they set the threshold too low")
    p.add_argument("--false-accepts-per-hour", type=float, default=0.5, metavar="R",
                   help="false accepts per hour --calibrate allows (default %(default)s)")
    p.add_argument("--gains-db", default="0", metavar="DB,...",
                   help="play the calibration audio at each of these gains, e.g. --gains-db=-10,0,6: people speak "
                        "nearer and farther than any one recording (default %(default)s)")
    p.add_argument("--gate", type=float, metavar="P",
                   help="run the slower member (the speech embedding) only where the others' score reaches P, and "
                        "score 0 elsewhere: a fraction of its CPU, for the same detections at a high threshold "
                        "(e.g. --gate 0.2; docs/levers.md 32). Calibrate with the gate on, as here")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from ..audio import load_audio
    from ..evaluation import calibrate_threshold
    from ..gate import Gate
    from ..modelfile import FusedModel, load_single_model, write_fused_model
    from ..scoring import ScoringPlan, StreamingScorer, fuse_scores

    if args.threshold is not None and not 0 < args.threshold < 1:
        raise ConfigError(f"--threshold must be in (0, 1), not {args.threshold:g}")
    if args.false_accepts_per_hour <= 0:
        raise ConfigError("--false-accepts-per-hour must be positive")
    try:
        gains_db = [float(g) for g in args.gains_db.split(",")]
    except ValueError:
        raise ConfigError(f"--gains-db must be comma-separated numbers, not {args.gains_db!r}") from None
    gate = None if args.gate is None else Gate(args.gate)
    members = [load_single_model(p, "fusing") for p in args.models]
    try:
        fused = FusedModel(members, float(fuse_scores(np.array([[m.threshold for m in members]]))[0]), gate=gate)
    except ValueError as exc:
        raise ConfigError(f"cannot fuse {', '.join(args.models)}: {exc}") from None
    ScoringPlan([fused])  # a gate that cannot run fails here, before any calibration or writing
    calibration = {}
    if args.threshold is not None:
        fused.threshold = args.threshold
    elif args.calibrate:
        rate = fused.config.features.sample_rate
        gap = np.zeros(rate, dtype=np.float32)  # a second between files, so no event spans two
        once = np.concatenate([part for f in args.calibrate for part in (load_audio(f, rate), gap)])
        audio = np.concatenate([np.clip(once * np.float32(10 ** (g / 20)), -1, 1) for g in gains_db])
        scores = StreamingScorer([fused]).push(audio)
        hours = len(audio) / rate / 3600
        fused.threshold = calibrate_threshold(scores.times, scores.values[:, 0], hours, fused.config.detector, args.false_accepts_per_hour)
        calibration = {"files": [str(f) for f in args.calibrate], "gains_db": gains_db, "hours": round(hours, 4),
                       "false_accepts_per_hour": args.false_accepts_per_hour}
    write_fused_model(args.out, args.models, fused.threshold, calibration, gate)
    print(f"{args.out}: {fused.phrase!r} from {len(members)} models ({fused.frontend}), threshold {fused.threshold:.4g}"
          + (f", gated at {gate.threshold:g}" if gate else "")
          + (f", calibrated on {calibration['hours']:.2f} h" if calibration else "" if args.threshold is not None
             else " (the members' thresholds fused: uncalibrated, see --calibrate)"))
    return 0
