"""`wakeword eval`: event-level quality of a model on a long stream with known answers.

The stream goes through the same engine as `wakeword detect` and the listener, so the
figures at the operating threshold are those a user would see. The threshold sweep
(DET curve) reruns only the decision logic over the saved scores.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
from typing import Any

import numpy as np

from ..audio import open_audio_stream
from ..errors import DataError
from ..evaluation import EvalResult, Truth, best_at_false_accept_rate, match_events, sweep
from ..plots import plot_det
from .detect import add_detector_options, detector_config, save_scores, stream_through

# Recall is reported at these false-accept budgets (per hour of audio).
BUDGETS_PER_HOUR = (0.5, 1.0)
# Audio and truth of one stream may differ by rounding, not by more.
_DURATION_TOLERANCE_S = 1.0

EPILOG = """what is counted (see wakeword/evaluation.py):
  a positive is caught by an event in [phrase start, phrase end + 1 s]; an event in a
  confusable word's window (and no positive's) is a confusable accept; every other
  event is a false accept. Latency: phrase end -> first event that catches it.

examples:
  wakeword eval --model runs/activate/model.npz --audio stream.wav --truth stream.json
  wakeword eval --model runs/activate/model.npz --audio stream.wav --truth stream.json --plot det.png --json
  wakeword eval --audio stream.wav --truth stream.json --threshold 0.7 --patience 2
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "eval",
        help="measure recall, false accepts per hour, latency and a DET curve on a stream with known answers",
        description=(
            "Stream a long audio file through the detection engine and compare its events with the truth file "
            "written by `synth stream`. Prints the figures at the model's threshold (or --threshold) and the "
            f"recall reachable at {' and '.join(map(str, BUDGETS_PER_HOUR))} false accepts per hour over a "
            "threshold sweep."
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--model", metavar="M", help="model file (default: the bundled 'activate' model)")
    p.add_argument("--audio", required=True, metavar="STREAM.wav", help="the long audio stream (any format and rate)")
    p.add_argument("--truth", required=True, metavar="STREAM.json", help="its truth file: phrase and confusable times")
    p.add_argument("--json", action="store_true", help="print one JSON object (for scripts) instead of the table")
    p.add_argument("--plot", metavar="DET.png", help="write the DET curve (false reject rate vs false accepts per hour)")
    p.add_argument("--scores", metavar="OUT.npz", help="also save the scores, as `wakeword detect --scores` does")
    add_detector_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..modelfile import load_models
    from ..streaming import StreamingDetector, use_one_thread

    use_one_thread()
    (model,) = load_models([args.model] if args.model else None)
    truth = Truth.load(args.truth)
    detector = detector_config(args, model.config.detector)
    stream = open_audio_stream(args.audio)
    duration = stream.frames / stream.sample_rate
    if abs(duration - truth.duration_s) > _DURATION_TOLERANCE_S:
        raise DataError(
            f"{args.audio} lasts {duration:.1f} s but {args.truth} describes {truth.duration_s:.1f} s: "
            "pass the audio and the truth file of the same stream"
        )
    engine = StreamingDetector([model], stream.sample_rate, detector)
    events = []
    scores = stream_through(engine, stream, events.append, keep_scores=True)
    threshold = engine.threshold_for(model)
    result = match_events(np.array([e.time_s for e in events]), truth, threshold)
    curve = sweep(scores.times, scores.values[:, 0], truth, detector)
    budgets = {budget: best_at_false_accept_rate(curve, budget) for budget in BUDGETS_PER_HOUR}
    if args.scores:
        save_scores(args.scores, scores, [model])
    if args.plot:
        points = {f"threshold {threshold:.4g}": result}
        points.update({f"best at {b:g} FA/h: {r.threshold:.4g}": r for b, r in budgets.items() if r is not None})
        plot_det(args.plot, {model.phrase: curve}, points, title=f"{model.phrase}: {args.audio}")
    report = {
        "model": str(model.path),
        "phrase": model.phrase,
        "audio": args.audio,
        "truth": args.truth,
        "detector": {**dataclasses.asdict(detector), "threshold": threshold},
        "events": len(events),
        **result.summary(),
        "at_false_accepts_per_hour": [_budget_entry(b, r) for b, r in budgets.items()],
        "det": [_det_entry(r) for r in curve],
    }
    if args.json:
        print(json.dumps(_json_safe(report)))
    else:
        _print_table(report, args.plot)
    return 0


def _budget_entry(budget: float, result: EvalResult | None) -> dict[str, Any]:
    if result is None:
        return {"budget_per_hour": budget, "threshold": None, "recall": None, "false_accepts_per_hour": None}
    return {
        "budget_per_hour": budget,
        "threshold": result.threshold,
        "recall": result.recall,
        "false_accepts_per_hour": result.false_accepts_per_hour,
    }


def _det_entry(result: EvalResult) -> dict[str, Any]:
    return {
        "threshold": result.threshold,
        "false_reject_rate": result.false_reject_rate,
        "false_accepts_per_hour": result.false_accepts_per_hour,
        "false_accepts": result.false_accepts,
        "caught": result.caught,
    }


def _json_safe(value: Any) -> Any:
    """NaN (no positives, no confusables) is not JSON: it becomes null."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    return value


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} s"


def _print_table(r: dict[str, Any], plot: str | None) -> None:
    d = r["detector"]
    rows = [
        ("model", f"{r['model']} ({r['phrase']!r})"),
        ("audio", f"{r['audio']}: {r['hours']:.2f} h, {r['positives']} phrases, {r['confusables']} confusables"),
        ("detector", f"threshold {d['threshold']:.3g}, patience {d['patience_steps']}, smoothing {d['smoothing_steps']}, refractory {d['refractory_s']:g} s"),
        ("recall", f"{r['recall']:.3f} ({r['caught']}/{r['positives']} caught)"),
        ("false reject rate", f"{r['false_reject_rate']:.3f}"),
        ("false accepts", f"{r['false_accepts_per_hour']:.2f} per hour ({r['false_accepts']} in {r['hours']:.2f} h)"),
        ("confusable accepts", f"{r['confusable_accept_rate']:.3f} ({r['confusables_accepted']}/{r['confusables']})"),
        ("latency", f"median {_seconds(r['latency_median_s'])}, p95 {_seconds(r['latency_p95_s'])} (phrase end -> event)"),
        ("events", str(r["events"])),
    ]
    for entry in r["at_false_accepts_per_hour"]:
        at = f"at {entry['budget_per_hour']:g} FA/h"
        if entry["recall"] is None:
            rows.append((at, "not reached by any threshold swept"))
        else:
            rows.append((at, f"recall {entry['recall']:.3f} at threshold {entry['threshold']:.4g} ({entry['false_accepts_per_hour']:.2f} FA/h)"))
    if plot:
        rows.append(("DET curve", plot))
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")
