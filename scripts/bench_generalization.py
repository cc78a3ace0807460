"""Generalization to unheard voices and levels, as markdown for docs/benchmarks.md.

- levels: held-out voices speaking at fixed levels from -15 to -55 dBFS over one
  background fixed at -60 dBFS (a quiet room); recall per level at the model's threshold.
- loeo: leave one engine family out. For each family, train the recipe on data with no
  voice of that family, then evaluate on a stream spoken only by that family. Slow:
  one dataset and one training per family (`--train-minutes` each) that the clips hold,
  and one more shared by all the families they lack.

The folds train on the clips of `make model` (build/activate/clips). The streams never
come from them: espeak-ng's, festival's and flite's are made from build/stream-clips,
spoken once with the default recipe's plan fixed below; a family that folder lacks
(piper, rhvoice, pico, mbrola, openjtalk) speaks its own stream clips. Every step resumes.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import yaml

from synth.clips import read_metadata
from synth.tts import ENGINES
from wakeword.evaluation import Truth, best_at_false_accept_rate, sweep
from wakeword.modelfile import bundled_model_path, load_model
from wakeword.plots import plot_det

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
BACKGROUND_DBFS = -60.0
LEVELS = (-15, -20, -25, -30, -35, -40, -45, -50, -55)
# The held-out streams' own clips: `speak_clips.sh`'s default plan, written out here so
# that a recipe speaking other clips (more sound-alikes, other engines) cannot change the
# yardstick it is measured with (docs/levers.md, 16).
STREAM_CLIPS = ROOT / "build" / "stream-clips"
STREAM_EXCLUDED = ("piper", "rhvoice", "pico", "mbrola", "openjtalk", "kokoro")
STREAM_PLAN = {"positives": ["--count", "1500"],
               "negatives": ["--negatives", "--count", "3000", "--words", "300", "--sound-alikes", "40"]}


def run(*cmd: str, env: dict[str, str] | None = None) -> str:
    """A venv command (or a script path) from the repository root; its stdout, or exit with its stderr."""
    program = cmd[0] if "/" in cmd[0] else str(BIN / cmd[0])
    proc = subprocess.run([program, *cmd[1:]], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, **env} if env else None)
    if proc.returncode != 0:
        sys.exit(f"bench_generalization: `{' '.join(cmd)}` failed: {proc.stderr.strip()[-800:]}")
    return proc.stdout


def variant(base: Path, out: Path, train: dict | None = None, **synth) -> Path:
    data = yaml.safe_load(base.read_text())
    data.setdefault("synth", {}).update(synth)
    data.setdefault("train", {}).update(train or {})
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(yaml.safe_dump(data, sort_keys=False))
    return out


def stream_clips(phrase: str) -> Path:
    """STREAM_CLIPS, spoken by every engine but STREAM_EXCLUDED (resumes)."""
    excluded = ",".join(f"{engine}:*" for engine in STREAM_EXCLUDED)
    for kind, plan in STREAM_PLAN.items():
        run("synth", "speak", phrase, *plan, "--exclude-voices", excluded, "--out", str(STREAM_CLIPS / kind))
    return STREAM_CLIPS


def stream(config: Path, prefix: Path, minutes: float, voices: str | None = None, clips: Path | None = None) -> None:
    """A `synth stream` recording at `prefix` unless one is there; from `clips` or else STREAM_CLIPS."""
    if prefix.with_suffix(".json").exists():
        return
    clips = clips or stream_clips(yaml.safe_load(config.read_text())["phrase"])
    extra = ["--voices", voices] if voices else []
    run("synth", "stream", "--config", str(config), "--positives", str(clips / "positives"),
        "--negatives", str(clips / "negatives"), "--minutes", str(minutes), "--out", str(prefix), "--quiet", *extra)


def speak_engine(phrase: str, engine: str, clips: Path) -> None:
    """Phrases and negatives spoken by one engine only, into clips/{positives,negatives}."""
    # 140: every distinct rendition of the phrase by piper's one voice.
    for kind, extra in (("positives", ["--count", "140"]), ("negatives", ["--negatives", "--count", "1000"])):
        run("synth", "speak", phrase, *extra, "--engines", engine, "--out", str(clips / kind))


def engines_in(clips: Path) -> set[str]:
    return {entry.get("engine") for entry in read_metadata(clips / "positives", strict=False).values()}


def fold_model(args, heldout: list[str], where: Path) -> Path:
    """The recipe trained at the fold budget without the `heldout` voices, in `where` (resumes)."""
    config = variant(args.config, where / "config.yaml", train={"max_minutes": args.train_minutes},
                     heldout_voices=heldout, n_examples=args.examples)
    two_stage = yaml.safe_load(config.read_text())["train"].get("finetune_epochs")
    # The recipe's own steps (both stages when it has a second), on the shared clips. Each
    # step resumes or sees it is done, so a fold cut off anywhere (even between writing
    # model.npz and its checkpoint) is finished rather than scored half-trained.
    run(str(ROOT / "scripts" / "make_model.sh"), str(config), str(where), env={"CLIPS": str(args.clips)})
    return where / ("run-hard" if two_stage else "run") / "model.npz"


def evaluate(model: Path, prefix: Path, scores_path: Path | None = None) -> tuple[dict, list]:
    """`wakeword eval` of `model` on the stream at `prefix` (scores kept beside it unless
    `scores_path` says where): its report and DET curve."""
    scores_path = scores_path or prefix.with_suffix(".scores.npz")
    report = json.loads(run("wakeword", "eval", "--model", str(model), "--audio", str(prefix.with_suffix(".wav")),
                            "--truth", str(prefix.with_suffix(".json")), "--json", "--scores", str(scores_path)))
    saved = np.load(scores_path)
    truth = Truth.load(prefix.with_suffix(".json"))
    curve = sweep(saved["times"], saved["scores"][:, 0], truth, load_model(model).config.detector)
    return report, curve


def pct(x) -> str:
    return "n/a" if x is None or x != x else f"{100 * x:.1f} %"


def levels(args) -> None:
    out = args.build / "levels"
    print(f"Model `{args.model.relative_to(ROOT) if args.model.is_relative_to(ROOT) else args.model}`; "
          f"background fixed at {BACKGROUND_DBFS:g} dBFS; {args.level_minutes:g} min per level, held-out voices only.\n")
    print("| speech level | SNR | recall | false accepts/hour |\n|---|---|---|---|")
    recalls = {}
    for level in LEVELS:
        config = variant(args.config, out / f"{level}.yaml", speech_dbfs=[level, level],
                         snr_db=[level - BACKGROUND_DBFS] * 2, level_spread_db=0.0)
        prefix = out / f"stream{level}_{args.level_minutes:g}min"
        stream(config, prefix, args.level_minutes)
        report, _ = evaluate(args.model, prefix)
        recalls[level] = report["recall"]
        print(f"| {level} dBFS | {level - BACKGROUND_DBFS:g} dB | {pct(report['recall'])} | {report['false_accepts_per_hour']:.1f} |")
    band = [recalls[l] for l in LEVELS if -50 <= l <= -20]
    print(f"\nRecall spread over -20..-50 dBFS: {100 * (max(band) - min(band)):.1f} points.")


def loeo(args) -> None:
    families = args.families.split(",")
    rows, curves = [], {}
    heard = engines_in(args.clips)
    shared = None  # the one model of every family the clips lack
    for family in families:
        where = args.build / "loeo" / family
        # Leaving out a family the clips lack leaves out nothing: every such fold is one
        # and the same training, run once.
        if family in heard:
            model = fold_model(args, [f"{family}:*"], where)
        else:
            shared = shared or fold_model(args, [], args.build / "loeo" / "none-left-out")
            model = shared
        prefix = where / f"stream_{args.stream_minutes:g}min"
        if not prefix.with_suffix(".json").exists():
            clips = None
            if family in STREAM_EXCLUDED:  # minutes of speech, so only when its stream is missing
                clips = where / "clips"
                speak_engine(yaml.safe_load(args.config.read_text())["phrase"], family, clips)
            stream(args.config, prefix, args.stream_minutes, voices=f"{family}:*", clips=clips)
        report, curve = evaluate(model, prefix)
        at = {b: best_at_false_accept_rate(curve, b) for b in (0.5, 1.0)}
        trained = load_model(model).metadata["metrics"]  # older model files lack these two
        epochs = f"{trained['epochs_trained']} in {trained['train_minutes']:.1f} min" if "epochs_trained" in trained else "n/a"
        rows.append((family, report, at, epochs))
        curves[f"without {family}"] = curve
    args.plot.parent.mkdir(parents=True, exist_ok=True)
    plot_det(args.plot, curves, title="leave one engine family out")
    absent = [f for f in families if f not in heard]
    print(f"Each family: {args.examples} ten-second examples without it, training capped at {args.train_minutes:g} min (the schedule shortens to fit it on a slow host), "
          f"evaluated on a {args.stream_minutes:g} min stream spoken only by it."
          + (f" The clips hold no voice of {', '.join(absent)}: one model, trained on them all, serves those folds." if absent else "")
          + "\n")
    print("| held-out family | recall @ 0.5 FA/h | recall @ 1 FA/h | confusables accepted | recall / FA/h at model threshold | epochs trained |")
    print("|---|---|---|---|---|---|")
    for family, report, at, trained in rows:
        r05, r1 = (at[b].recall if at[b] else None for b in (0.5, 1.0))
        print(f"| {family} | {pct(r05)} | {pct(r1)} | {pct(report['confusable_accept_rate'])} | "
              f"{pct(report['recall'])} / {report['false_accepts_per_hour']:.1f} | {trained} |")
    mean = lambda b: np.mean([at[b].recall if at[b] else 0.0 for _, _, at, _ in rows])  # noqa: E731
    print(f"| **average** | {pct(mean(0.5))} | {pct(mean(1.0))} | | | |")
    print(f"\nDET curves: ![LOEO]({args.plot.name})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sections", nargs="*", default=["levels", "loeo"], help="levels, loeo (default: both)")
    parser.add_argument("--model", type=Path, default=bundled_model_path(), help="model for the level sweep")
    parser.add_argument("--config", type=Path, default=ROOT / "configs" / "activate.yaml")
    parser.add_argument("--clips", type=Path, default=ROOT / "build" / "activate" / "clips",
                        help="clips the folds train on (default: those of make model)")
    parser.add_argument("--build", type=Path, default=ROOT / "build" / "generalization")
    parser.add_argument("--level-minutes", type=float, default=40.0, help="per level: about 70 phrases in 40 min")
    parser.add_argument("--families", default=",".join(name for name, engine in ENGINES.items() if engine.installed()),
                        help="comma-separated engine families (default: every installed engine)")
    parser.add_argument("--examples", type=int, default=4000)
    parser.add_argument("--train-minutes", type=float, default=9.0)
    # At 60 min, 1 FA/h allows a single false accept: one fold's model read 65 and 83 %
    # on two such streams of the same five flite voices (docs/levers.md, 10).
    parser.add_argument("--stream-minutes", type=float, default=120.0, help="120 min: two false accepts are 1 FA/h")
    # In the build folder by default, so an experiment's run cannot overwrite the picture
    # docs/benchmarks.md shows (`make bench` asks for that one by name).
    parser.add_argument("--plot", type=Path, help="DET curves of the folds (default: BUILD/det_loeo.png)")
    args = parser.parse_args()
    args.plot = args.plot or args.build / "det_loeo.png"
    if "loeo" in args.sections and not (args.clips / "positives").is_dir():
        print(f"Skipped: no clips to train the folds on in `{args.clips}`; run `make model` first.")
        return 0
    for section in args.sections:
        print(f"### {'Speech level sweep' if section == 'levels' else 'Leave one engine family out'}\n")
        {"levels": levels, "loeo": loeo}[section](args)
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
