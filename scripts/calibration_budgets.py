"""Own thresholds at other calibration budgets, read on `make bench real`'s saved scores.

For each word, the fused recipe's model scores its calibration stream (build/real/WORD/
stream_calibrate.wav, as `wakeword fuse --calibrate` saw it); `calibrate_threshold` picks
the threshold of each budget there, and the real stream's saved scores
(build/real/WORD/RECIPE/real.scores.npz) say what that threshold catches and how often it
fires. Not a test: nothing is asserted (docs/levers.md 33). Run after bench_real has run
the recipe.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
from bench_real import BUILD, WORDS
from threadpoolctl import threadpool_limits

from wakeword.audio import load_audio
from wakeword.evaluation import Truth, calibrate_threshold, evaluate_scores
from wakeword.modelfile import load_model
from wakeword.scoring import StreamingScorer


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipe", default="fused_kokoro_both_gated", help="a fused recipe bench_real has run (default %(default)s)")
    parser.add_argument("--budgets", default="1,0.5,0.25", help="false accepts per hour on the calibration stream (default %(default)s)")
    args = parser.parse_args()
    budgets = [float(b) for b in args.budgets.split(",")]
    threadpool_limits(1)
    print(f"| word | {' | '.join(f'budget {b:g} FA/h: threshold, real recall / FA/h' for b in budgets)} |")
    print(f"|---|{'---|' * len(budgets)}")
    totals = {b: [] for b in budgets}
    for word, phrase in WORDS.items():
        model_path, saved = BUILD / word / args.recipe / "model.npz", BUILD / word / args.recipe / "real.scores.npz"
        if not (model_path.exists() and saved.exists()):
            sys.exit(f"calibration_budgets: {args.recipe} has not been run for {word}: scripts/bench_real.py --recipes {args.recipe}")
        model = load_model(model_path)
        audio = np.concatenate([load_audio(BUILD / word / "stream_calibrate.wav", 16000), np.zeros(16000, np.float32)])
        calibration = StreamingScorer([model]).push(audio)
        hours = len(audio) / 16000 / 3600
        real, truth = np.load(saved), Truth.load(BUILD / word / "stream_real.json")
        cells = []
        for b in budgets:
            threshold = calibrate_threshold(calibration.times, calibration.values[:, 0], hours, model.config.detector, b)
            r = evaluate_scores(real["times"], real["scores"][:, 0], truth, threshold, model.config.detector)
            totals[b].append((r.recall, r.false_accepts_per_hour))
            cells.append(f"{threshold:.4f}: {100 * r.recall:.1f} % / {r.false_accepts_per_hour:.2f}")
        print(f"| {phrase} | {' | '.join(cells)} |", flush=True)
    print(f"| **average** | {' | '.join(f'{100 * np.mean([t[0] for t in totals[b]]):.1f} % / {np.mean([t[1] for t in totals[b]]):.2f}' for b in budgets)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
