"""Lever 25: the recipe (with real negatives) over openWakeWord's frozen speech embedding,
on bench_real's words, splits and streams. Uses bench_real's folders; not in the code base."""
import argparse, json, os, subprocess, sys
from pathlib import Path
HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
sys.path.insert(0, str(ROOT / "scripts")); sys.path.insert(0, str(HERE))
import embfeat  # noqa: F401  (patches FeatureExtractor in this process)
import numpy as np
import bench_real as B
from bench_generalization import pct
from wakeword.evaluation import Truth, sweep
from wakeword.modelfile import load_model

PY = sys.executable
EMB = {"features": {"window_ms": 782, "hop_ms": 80, "n_fft": 12512, "n_mels": 96, "normalization": "log"},
       "model": {"conv_kernel": 3, "conv_stride": 1},
       "train": {"vocal_tract_warp": [1.0, 1.0], "time_mask_width": 3}}


def run(*cmd):
    proc = subprocess.run([PY, str(HERE / "run.py"), *cmd], cwd=ROOT, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"bench_emb: {' '.join(cmd)} failed: {proc.stderr[-800:]}")
    return proc.stdout


def evaluate(model, prefix, scores):
    """In this process: `wakeword eval` streams through FeatureStream, which the patch does not reach."""
    from wakeword.audio import load_audio
    from wakeword.evaluation import evaluate_scores
    from wakeword.model import score_offline
    m = load_model(model)
    s = score_offline([m], load_audio(prefix.with_suffix(".wav"), 16000))
    np.savez(scores, times=s.times, scores=s.values)
    truth = Truth.load(prefix.with_suffix(".json"))
    at = evaluate_scores(s.times, s.values[:, 0], truth, m.threshold, m.config.detector)
    report = {"recall": at.recall, "false_accepts_per_hour": at.false_accepts_per_hour, "confusable_accept_rate": at.confusable_accept_rate}
    return report, sweep(s.times, s.values[:, 0], truth, m.config.detector)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--words", default=",".join(B.WORDS))
    p.add_argument("--recipe", default="real_negatives", choices=B.RECIPES)
    p.add_argument("--examples", type=int, default=4000)
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--name", default="emb_real_negatives")
    a = p.parse_args()
    speech = B.speech_audio()
    rows = []
    for word in a.words.split(","):
        where = B.BUILD / word / a.name
        cfg = B.write_yaml(where / "recipe.yaml", {"extends": "../recipe.yaml", "synth": {"n_examples": a.examples},
                                                   "train": {**EMB["train"], "epochs": a.epochs}, "features": EMB["features"], "model": EMB["model"]})
        run("synth", "generate", "--config", str(cfg), *B.recipe_inputs(word, a.recipe), "--out", str(where / "data"))
        resume = ["--resume"] if (where / "run" / "checkpoint.pt").exists() else []
        run("wakeword", "train", "--config", str(cfg), "--data", str(where / "data"), "--out", str(where / "run"), *resume)
        model = where / "run" / "model.pt"
        real, synthetic = B.BUILD / word / "stream_real", B.BUILD / word / "stream_synthetic"
        rr, rc = evaluate(model, real, where / "real.scores.npz")
        sr, sc = evaluate(model, synthetic, where / "synthetic.scores.npz")
        fa, hours = B.speech_false_accepts(model, speech)
        row = {"word": word, "recipe": a.name, "real": {b: B.at_budget(rc, b) for b in B.BUDGETS},
               "synthetic": {b: B.at_budget(sc, b) for b in B.BUDGETS}, "real_at_threshold": [rr["recall"], rr["false_accepts_per_hour"]],
               "confusables": rr["confusable_accept_rate"], "speech_fa_per_h": fa / hours, "threshold": load_model(model).threshold}
        rows.append(row)
        print(json.dumps(row), flush=True)
    (B.BUILD / f"results_{a.name}.json").write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
