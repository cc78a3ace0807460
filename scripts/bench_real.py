"""Real people: the recipe for four crowd-sourced wake words, scored on real recordings.

For each word of ../shared/real/words (computer, smart mirror, snowboy, view glass) this
takes the path a user takes for a new phrase: `synth speak` with the default recipe
(scripts/speak_clips.sh), `synth generate` and `wakeword train` with configs/activate.yaml
and only the phrase changed (`extends:`). No real recording of a word is ever a positive
of that word. Then:

- a real-voice stream per word: every held-out recording of the word once, over real
  and generated backgrounds at 5-20 dB SNR, some through synthetic rooms and microphone
  EQ, among real speech (LibriSpeech and the other words' recordings) and the recipe's
  sound-alikes spoken by held-out voices;
- a synthetic held-out stream per word (the recipe's held-out voices, as `make bench
  quality`), so the synthetic-to-real gap is one number per word;
- real read speech alone (held-out speakers, at three levels) for false accepts.

Real recordings are split once, by speaker where INDEX.tsv knows one (LibriSpeech), else
by file (the wake words have no speaker ids): a hash of the name puts each on the `eval`
side (streams), the `calibrate` side (the audio fused thresholds are set on) or the
`train` side (what a recipe may train on: negatives, backgrounds). No two sides share a
file or a known speaker: a threshold set on audio a member trained on as a negative is
set too low (docs/levers.md 26 and 27).

Recipes (`--recipes`): `recipe` is the default recipe; `real_negatives` adds the train
side's real speech and other words as negatives, and its noise and speech as
backgrounds; `embedding` and `embedding_real_negatives` are the same two over the speech
embedding frontend (configs/embedding.yaml), and `embedding_debian_speech` adds the
real voices of two Debian packages as negatives; `fused` is `recipe` and
`embedding_real_negatives` fused into one model (`wakeword fuse`), its threshold
calibrated on two hours of the calibrate side (its real speech and other words over
its noise, made as the real stream is, without the phrase); `fused_real_negatives`
fuses `real_negatives` with it instead, and `fused_debian_speech`
`embedding_debian_speech`. `kokoro` and `embedding_kokoro` add Kokoro's neural voices
to `recipe` and `embedding_real_negatives`, and `fused_kokoro` and `fused_kokoro_both`
fuse them as `fused` does. `kokoro_game_speech`, `embedding_kokoro_game_speech` and
their pair `fused_game_speech` add a Debian game's recorded dialogue (4.6 h of actors'
connected speech, scripts/game_speech.py) as negatives. `fused_kokoro_both_gated` and
`fused_game_speech_gated` are those two pairs with the embedding member behind a gate
(`wakeword fuse --gate 0.2`): it runs only where the log-mel member's score reaches 0.2,
for a fraction of its CPU. `embedding_window_kokoro` is `embedding_kokoro` with a window head
instead of GRUs (configs/embedding_window.yaml), `fused_window_kokoro` its pair with
`kokoro`, and `fused_window_kokoro_gated` that pair behind the gate;
`embedding_window_game_speech` adds the game's dialogue to the window member and
`fused_window_game_speech` pairs it with `kokoro`. Results of earlier runs stay in
results.json and the report: a run replaces only the rows it measured, and `--report-only`
prints the report again from them. Folds train a fixed number of epochs (`--epochs`, no time cap) on
`--examples` examples, so a busy day changes the time, not the model.
Everything lands in build/real and every step resumes.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import yaml

from bench_generalization import evaluate, pct, run
from wakeword.audio import load_audio
from wakeword.detection import detect_events
from wakeword.config import DetectorConfig
from wakeword.evaluation import CATCH_WINDOW_S, Truth, best_at_false_accept_rate, event_times, false_accept_mask, moving_average, sweep
from wakeword.model import score_offline
from wakeword.modelfile import load_model
from wakeword.plots import plot_det
from wakeword.training import FINISHED

ROOT = Path(__file__).resolve().parents[1]
REAL = Path(os.environ.get("WAKEWORD_REAL", ROOT.parent / "shared" / "real"))
BUILD = ROOT / "build" / "real"
WORDS = {"computer": "computer", "smart_mirror": "smart mirror", "snowboy": "snowboy", "view_glass": "view glass"}
# Share of each kind of recording on the eval side; the calibrate and train sides halve
# the rest. Speech gets more eval: its false accepts per hour need hours, and its 63 min
# are the only real speech there is.
EVAL_SHARE = {"words": 0.5, "speech": 0.6, "noise": 0.5}
ENGINE = "real"
# Recipe name: (its base config, what it trains on beyond the default recipe's clips):
# "train_side", the train side's real speech, other words (negatives) and noise and speech
# (backgrounds); "debian_speech", the real voices of Debian's klettres-data and
# ktuberling-data (DEBIAN_SPEECH) as negatives; "kokoro", Kokoro's neural voices
# (`synth speak --engines kokoro`, KOKORO_CLIPS) as positives and negatives;
# "game_speech", the actors' dialogue of a Debian game (scripts/game_speech.py:
# 6,745 lines, 278 min of connected speech) as negatives.
RECIPES = {
    "recipe": ("activate.yaml", ()),
    "real_negatives": ("activate.yaml", ("train_side",)),
    "embedding": ("embedding.yaml", ()),
    "embedding_real_negatives": ("embedding.yaml", ("train_side",)),
    "embedding_debian_speech": ("embedding.yaml", ("train_side", "debian_speech")),
    "kokoro": ("activate.yaml", ("kokoro",)),
    "embedding_kokoro": ("embedding.yaml", ("train_side", "kokoro")),
    "kokoro_game_speech": ("activate.yaml", ("kokoro", "game_speech")),
    "embedding_kokoro_game_speech": ("embedding.yaml", ("train_side", "kokoro", "game_speech")),
    "embedding_window_kokoro": ("embedding_window.yaml", ("train_side", "kokoro")),
    "embedding_window_game_speech": ("embedding_window.yaml", ("train_side", "kokoro", "game_speech")),
}
# Kokoro clips beside the default recipe's 1,500 + 3,000: with engine_balance 0.5 about a
# fifth of the drawn phrases.
KOKORO_CLIPS = {"positives": 300, "negatives": 600}
# Letters, syllables and object words said by about 45 people in 23 languages (84 min;
# scripts/setup.sh installs them): real speech that ../shared/real does not hold.
DEBIAN_SPEECH = (Path("/usr/share/klettres"), Path("/usr/share/ktuberling/sounds"))
# Fused recipes (`wakeword fuse`): the folds of their members, scored as one model and
# calibrated at CALIBRATION_FA_PER_HOUR on a stream made as the real stream is, from the
# calibrate side: its speech and the other words' recordings (never the word's own), over
# its noise and speech and generated backgrounds at 5-20 dB SNR, some through rooms, for
# CALIBRATION_MINUTES and without the phrase. Clean clips at three levels (1.1 h) set
# thresholds that fired 9.4 times an hour on the real streams (docs/levers.md 27).
FUSED = {"fused": ("recipe", "embedding_real_negatives"), "fused_real_negatives": ("real_negatives", "embedding_real_negatives"),
         "fused_debian_speech": ("recipe", "embedding_debian_speech"), "fused_kokoro": ("kokoro", "embedding_real_negatives"),
         "fused_kokoro_both": ("kokoro", "embedding_kokoro"), "fused_game_speech": ("kokoro_game_speech", "embedding_kokoro_game_speech"),
         "fused_window_kokoro": ("kokoro", "embedding_window_kokoro"),
         "fused_window_game_speech": ("kokoro", "embedding_window_game_speech")}
# Gated pairs (`wakeword fuse --gate`, wakeword.gate): a fused recipe's members, the embedding
# run only where the log-mel member's score reaches the gate, calibrated with the gate on.
GATES = {"fused_kokoro_both_gated": ("fused_kokoro_both", 0.2), "fused_game_speech_gated": ("fused_game_speech", 0.2),
         "fused_window_kokoro_gated": ("fused_window_kokoro", 0.2)}
FUSED |= {name: FUSED[base] for name, (base, _) in GATES.items()}
# The report says what the false accepts are at the threshold that catches this share of
# people: what stands between a recipe and the recall (docs/levers.md 27 by hand).
SOURCES_RECALL = 0.8
CALIBRATION_FA_PER_HOUR = 0.5
CALIBRATION_MINUTES = 120.0
CALIBRATION_SEED = 4321  # not the real stream's: other scenes and generated backgrounds
# The DET plot's recipes (all of them would be more lines than colours): the default
# recipe, the first fused pair and the best one so far (docs/levers.md 30).
PLOTTED = ("recipe", "fused", "fused_kokoro_both")
# The real stream: the recordings as they were said (no speed or pitch change), 5-20 dB
# SNR, a positive every 12-24 s so that each word's ~200 held-out recordings fill an hour.
STREAM = {"speed": [1.0, 1.0], "pitch_semitones": [0.0, 0.0], "snr_db": [5.0, 20.0], "clipping_prob": 0.0,
          "stream_positive_every_s": [12.0, 24.0]}
SPEECH_GAINS_DB = (-10.0, 0.0, 6.0)
BUDGETS = (0.5, 1.0)


def side_of(category: str, group: str) -> str:
    h = int(hashlib.sha1(f"{category}:{group}".encode()).hexdigest()[:8], 16) / 2**32
    share = EVAL_SHARE[category]
    return "eval" if h < share else "calibrate" if h < share + (1 - share) / 2 else "train"


def split() -> dict[str, dict[str, int]]:
    """build/real/split/{eval,calibrate,train}/...: links to the recordings, with metadata
    that names their kind (made afresh, so no link survives a change of split); returns
    the count of files per side and folder."""
    counts: dict[str, dict[str, int]] = {}
    folders: dict[Path, list[dict]] = {}
    with open(REAL / "INDEX.tsv", newline="") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            path = Path(row["file"])
            category = path.parts[0]
            group = row["speaker"] or row["file"]
            side = side_of(category, group)
            voice = f"{path.parts[1] if category == 'words' else category}-{row['speaker'] or path.stem}"
            if category == "words":
                word = path.parts[1]
                # Positives only on the eval side: no recipe ever trains on a word's own recordings.
                targets = [(Path(side) / "negatives" / word, "speech")] + ([(Path(side) / "positives" / word, "positive")] if side == "eval" else [])
                text = WORDS[word]
            else:
                targets = [(Path(side) / ("negatives/speech" if category == "speech" else "noise"), "speech")]
                text = ""
            for folder, kind in targets:
                folders.setdefault(folder, []).append({"file": path.name, "engine": ENGINE, "voice": voice, "text": text,
                                                       "kind": kind, "target": str((REAL / path).resolve())})
    shutil.rmtree(BUILD / "split", ignore_errors=True)  # links and metadata only
    for folder, entries in sorted(folders.items()):
        where = BUILD / "split" / folder
        where.mkdir(parents=True)
        for e in entries:
            (where / e["file"]).symlink_to(e["target"])
        meta = "".join(json.dumps({k: v for k, v in e.items() if k != "target"}) + "\n" for e in entries)
        (where / "metadata.jsonl").write_text(meta)
        counts.setdefault(folder.parts[0], {})["/".join(folder.parts[1:])] = len(entries)
    return counts


def write_yaml(path: Path, data: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def fold_config(word: str, recipe: str, args) -> Path:
    """The fold recipe: the recipe's base config, this phrase, the fold budget."""
    return write_yaml(BUILD / word / f"{recipe}.yaml", {
        "extends": str(ROOT / "configs" / RECIPES[recipe][0]), "phrase": WORDS[word],
        "synth": {"n_examples": args.examples}, "train": {"epochs": args.epochs, "max_minutes": 0}})


def real_folders(side: str, word: str) -> tuple[Path, Path, list[Path]]:
    """A side's real speech, its noise, and the other words' recordings (never `word`'s own)."""
    where = BUILD / "split" / side
    return where / "negatives" / "speech", where / "noise", [where / "negatives" / other for other in WORDS if other != word]


def recipe_inputs(word: str, recipe: str) -> list[str]:
    clips = BUILD / word / "clips"
    inputs = ["--positives", str(clips / "positives"), "--negatives", str(clips / "negatives")]
    extras = RECIPES[recipe][1]
    if "train_side" in extras:
        speech, noise, others = real_folders("train", word)
        inputs += [arg for other in others for arg in ("--negatives", str(other))]
        inputs += ["--negatives", str(speech), "--backgrounds", str(noise), "--backgrounds", str(speech)]
    if "debian_speech" in extras:
        missing = [str(d) for d in DEBIAN_SPEECH if not d.is_dir()]
        if missing:
            sys.exit(f"bench_real: {recipe} needs {', '.join(missing)}: run scripts/setup.sh (Debian's klettres-data, ktuberling-data)")
        inputs += [arg for d in DEBIAN_SPEECH for arg in ("--negatives", str(d))]
    if "game_speech" in extras:
        lines = BUILD / "game_speech"
        run(sys.executable, str(ROOT / "scripts" / "game_speech.py"), str(lines))
        inputs += ["--negatives", str(lines)]
    if "kokoro" in extras:
        kokoro = BUILD / word / "clips_kokoro"
        for kind, count in KOKORO_CLIPS.items():
            run("synth", "speak", WORDS[word], *(["--negatives"] if kind == "negatives" else []), "--engines", "kokoro",
                "--count", str(count), "--out", str(kokoro / kind))
        inputs += ["--positives", str(kokoro / "positives"), "--negatives", str(kokoro / "negatives")]
    return inputs


def fused_fold(word: str, recipe: str, args, stream_config: Path) -> Path:
    """The fused recipe's model: its members' folds (trained when missing), fused and calibrated."""
    out = BUILD / word / recipe / "model.npz"
    if not out.exists():
        members = [train_fold(word, m, fold_config(word, m, args)) for m in FUSED[recipe]]
        calibration = calibration_stream(word, stream_config)
        gate = ["--gate", str(GATES[recipe][1])] if recipe in GATES else []
        run("wakeword", "fuse", *map(str, members), "--out", str(out), "--calibrate", str(calibration.with_suffix(".wav")),
            "--false-accepts-per-hour", str(CALIBRATION_FA_PER_HOUR), *gate)
    return out


def calibration_stream(word: str, stream_config: Path) -> Path:
    """The calibrate side as the real stream is made, without the phrase (see FUSED)."""
    prefix = BUILD / word / "stream_calibrate"
    if not prefix.with_suffix(".json").exists():
        config = write_yaml(BUILD / word / "stream_calibrate.yaml", {"extends": stream_config.name, "seed": CALIBRATION_SEED})
        speech, noise, others = real_folders("calibrate", word)
        negatives = [arg for folder in (speech, *others) for arg in ("--negatives", str(folder))]
        run("synth", "stream", "--config", str(config), *negatives, "--backgrounds", str(noise), "--backgrounds", str(speech),
            "--voices", f"{ENGINE}:*", "--minutes", f"{CALIBRATION_MINUTES:g}", "--out", str(prefix), "--quiet")
    return prefix


def train_fold(word: str, recipe: str, fold: Path) -> Path:
    """The fold's model; both steps resume, or see they are done (model.npz exists after the first epoch)."""
    where = BUILD / word / recipe
    metrics = where / "run" / "metrics.json"
    if metrics.exists() and json.loads(metrics.read_text()).get("stopped") in FINISHED and (where / "run" / "model.npz").exists():
        return where / "run" / "model.npz"
    run("synth", "generate", "--config", str(fold), *recipe_inputs(word, recipe), "--out", str(where / "data"))
    resume = ["--resume"] if (where / "run" / "checkpoint.pt").exists() else []
    run("wakeword", "train", "--config", str(fold), "--data", str(where / "data"), "--out", str(where / "run"), *resume)
    return where / "run" / "model.npz"


def real_stream(word: str, stream_config: Path) -> Path:
    prefix = BUILD / word / "stream_real"
    if prefix.with_suffix(".json").exists():
        return prefix
    positives = BUILD / "split" / "eval" / "positives" / word
    n = len(list(positives.glob("*.flac")))
    minutes = max(60.0, n * (np.mean(STREAM["stream_positive_every_s"]) + 10.0) / 60)
    heldout = yaml.safe_load((ROOT / "configs" / "activate.yaml").read_text())["synth"]["heldout_voices"]
    speech, noise, others = real_folders("eval", word)
    negatives = [arg for folder in (speech, BUILD / word / "clips" / "negatives", *others) for arg in ("--negatives", str(folder))]
    run("synth", "stream", "--config", str(stream_config), "--positives", str(positives), *negatives,
        "--backgrounds", str(noise), "--backgrounds", str(speech),
        "--voices", ",".join([f"{ENGINE}:*", *heldout]), "--each-positive-once",
        "--minutes", f"{minutes:.1f}", "--out", str(prefix), "--quiet")
    return prefix


def synthetic_stream(word: str, fold: Path) -> Path:
    prefix = BUILD / word / "stream_synthetic"
    if not prefix.with_suffix(".json").exists():
        clips = BUILD / word / "clips"
        run("synth", "stream", "--config", str(fold), "--positives", str(clips / "positives"),
            "--negatives", str(clips / "negatives"), "--minutes", "60", "--out", str(prefix), "--quiet")
    return prefix


def speech_audio() -> np.ndarray:
    """The eval side's real speech, one utterance after another with 1 s of silence."""
    folder = BUILD / "split" / "eval" / "negatives" / "speech"
    gap = np.zeros(16000, dtype=np.float32)
    parts = [piece for f in sorted(folder.glob("*.flac")) for piece in (load_audio(f, 16000), gap)]
    return np.concatenate(parts)


def speech_false_accepts(model_path: Path, speech: np.ndarray) -> tuple[int, float]:
    """Events at the model's own threshold on the speech at each of SPEECH_GAINS_DB: (count, hours)."""
    model = load_model(model_path)
    count = 0
    for gain_db in SPEECH_GAINS_DB:
        audio = np.clip(speech * np.float32(10 ** (gain_db / 20)), -1, 1)
        scores = score_offline([model], audio)
        count += len(detect_events(scores.times, scores.values[:, 0], model.phrase, model.threshold, model.config.detector))
    return count, len(SPEECH_GAINS_DB) * len(speech) / 16000 / 3600


def at_threshold(report: dict) -> str:
    return f"{pct(report['recall'])} / {report['false_accepts_per_hour']:.2f}"


def at_budget(curve: list, budget: float) -> float | None:
    best = best_at_false_accept_rate(curve, budget)
    return None if best is None else best.recall


def mean(values) -> float | None:
    """The mean of the figures a row has (a budget no threshold reaches has none)."""
    known = [v for v in values if v is not None]
    return sum(known) / len(known) if known else None


def merged_results(rows: list[dict]) -> list[dict]:
    """This run's rows over those results.json holds from earlier runs (same word and recipe: this run's), saved."""
    path = BUILD / "results.json"
    new = {(r["word"], r["recipe"]) for r in rows}
    old = [r for r in json.loads(path.read_text()) if (r["word"], r["recipe"]) not in new] if path.exists() else []
    order = {name: k for k, name in enumerate([*WORDS.values(), *RECIPES, *FUSED])}
    merged = sorted(old + rows, key=lambda r: (order.get(r["recipe"], 99), order.get(r["word"], 99)))
    for r in merged:  # JSON keys are strings
        for side in ("real", "synthetic"):
            r[side] = {float(b): v for b, v in r[side].items()}
    path.write_text(json.dumps(merged, indent=1, default=str))
    return merged


def saved_real(word: str, recipe: str) -> tuple[np.ndarray, np.ndarray, dict] | None:
    """A row's saved scores on the real stream (times, scores) and the stream's truth file, or None before it ran."""
    folder = {name: key for key, name in WORDS.items()}[word]
    scores, truth = BUILD / folder / recipe / "real.scores.npz", BUILD / folder / "stream_real.json"
    if not (scores.exists() and truth.exists()):
        return None
    saved = np.load(scores)
    return saved["times"], saved["scores"][:, 0], json.loads(truth.read_text())


def saved_curves(rows: list[dict]) -> dict[str, list]:
    """DET curves of the rows on the real streams, from the scores each evaluation saved."""
    curves = {}
    for r in rows:
        saved = saved_real(r["word"], r["recipe"])
        if saved:
            times, scores, stream = saved
            curves[f"{r['word']}, {r['recipe']}"] = sweep(times, scores, Truth.from_dict(stream), DetectorConfig())
    return curves


def false_accept_sources(word: str, recipe: str, curve: list, recall: float = SOURCES_RECALL) -> str | None:
    """What the counted false accepts on the real stream are at the highest threshold on
    `curve` that catches `recall` of its people: real speech, the other words' recordings,
    synthetic speech, or background alone."""
    saved = saved_real(word, recipe)
    if saved is None:
        return None
    enough = [r for r in curve if r.recall >= recall]
    if not enough:
        return f"never catches {pct(recall)}"
    point = max(enough, key=lambda r: r.threshold)
    times, scores, stream = saved
    detector = DetectorConfig()
    events = event_times(times, moving_average(scores, detector.smoothing_steps), point.threshold, detector)
    counts = dict.fromkeys(("real speech", "other words' recordings", "synthetic speech", "background alone"), 0)
    for t in events[false_accept_mask(events, Truth.from_dict(stream))]:
        voices = [e["voice"] for e in stream["events"] if e["start_s"] <= t <= e["end_s"] + CATCH_WINDOW_S]
        kinds = ["real speech" if v.startswith(f"{ENGINE}:speech-") else "other words' recordings" if v.startswith(f"{ENGINE}:")
                 else "synthetic speech" for v in voices]
        counts[min(kinds, key=list(counts).index) if kinds else "background alone"] += 1
    return (f"at {point.threshold:.4g} ({pct(point.recall)} caught) {point.false_accepts} false accepts in {point.hours:.2f} h: "
            + ", ".join(f"{n} {kind}" for kind, n in counts.items()))


def measure(words: list[str], recipes: list[str], args) -> tuple[list[dict], dict[str, list]]:
    """Each word's clips, streams and recipe folds (each step resumes), scored: report rows and real-stream DET curves."""
    speech = speech_audio()
    rows, curves = [], {}
    for word in words:
        print(f"bench_real: {word}", file=sys.stderr, flush=True)
        fold = fold_config(word, "recipe", args)
        stream_config = write_yaml(BUILD / word / "stream.yaml", {"extends": "recipe.yaml", "synth": STREAM})
        run(str(ROOT / "scripts" / "speak_clips.sh"), WORDS[word], str(BUILD / word / "clips"))
        real, synthetic = real_stream(word, stream_config), synthetic_stream(word, fold)
        for recipe in recipes:
            model = fused_fold(word, recipe, args, stream_config) if recipe in FUSED else train_fold(word, recipe, fold_config(word, recipe, args))
            scores_dir = BUILD / word / recipe
            real_report, real_curve = evaluate(model, real, scores_dir / "real.scores.npz")
            synth_report, synth_curve = evaluate(model, synthetic, scores_dir / "synthetic.scores.npz")
            fa, hours = speech_false_accepts(model, speech)
            curves[f"{WORDS[word]}, {recipe}"] = real_curve
            rows.append({"word": WORDS[word], "recipe": recipe, "threshold": load_model(model).threshold,
                         "real": {b: at_budget(real_curve, b) for b in BUDGETS}, "synthetic": {b: at_budget(synth_curve, b) for b in BUDGETS},
                         "real_report": real_report, "synth_report": synth_report, "speech_fa": fa, "speech_hours": hours,
                         "real_hours": Truth.load(real.with_suffix(".json")).duration_s / 3600})
    return rows, curves


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipes", default=",".join([*RECIPES, *FUSED]), help=f"comma-separated, of {', '.join([*RECIPES, *FUSED])}")
    parser.add_argument("--words", default=",".join(WORDS), help=f"comma-separated, of {', '.join(WORDS)}")
    parser.add_argument("--examples", type=int, default=4000, help="examples per fold dataset (default %(default)s)")
    parser.add_argument("--epochs", type=int, default=8, help="epochs per fold, no time cap (default %(default)s)")
    parser.add_argument("--plot", type=Path, default=ROOT / "docs" / "det_real.png")
    parser.add_argument("--report-only", action="store_true", help="print the report and plot from results.json and the saved scores; run nothing")
    args = parser.parse_args()
    if not (REAL / "INDEX.tsv").exists():
        sys.exit(f"bench_real: no real recordings at {REAL} (../shared/real beside the checkout, or WAKEWORD_REAL); "
                 "this benchmark needs them, nothing else does")
    recipes = [r for r in args.recipes.split(",") if r]
    words = [w for w in args.words.split(",") if w]
    unknown = sorted(set(recipes) - set(RECIPES) - set(FUSED)) + sorted(set(words) - set(WORDS))
    if unknown:
        sys.exit(f"bench_real: unknown recipe or word {', '.join(unknown)}")

    counts = split()
    rows, curves = ([], {}) if args.report_only else measure(words, recipes, args)
    rows = merged_results(rows)
    # The rows this run did not score are swept from the scores they saved.
    curves |= saved_curves([r for r in rows if f"{r['word']}, {r['recipe']}" not in curves])
    plotted = {name: c for name, c in curves.items() if name.rsplit(", ", 1)[1] in PLOTTED}
    if plotted:
        plot_det(args.plot, plotted, title="Real people: the default recipe and the fused pairs (fold budget)")
    else:
        print(f"bench_real: no DET plot: none of {', '.join(PLOTTED)} has been run", file=sys.stderr)

    print(f"Real recordings: `{REAL}` split once by speaker (LibriSpeech) or file (wake words, no speaker ids): "
          + "; ".join(f"{side}: " + ", ".join(f"{k} {v}" for k, v in sorted(c.items())) for side, c in sorted(counts.items())) + ".\n")
    print(f"Folds: configs/activate.yaml with the phrase, {args.examples} examples, {args.epochs} epochs (no time cap), "
          "the default recipe's clips (`scripts/speak_clips.sh`). Streams: see the script's docstring.\n")
    print("| word | recipe | real: recall at <= 0.5 / 1 FA/h | real at its threshold: recall / FA/h | real speech alone: FA/h at its threshold | "
          "sound-alikes accepted (real stream) | synthetic held-out: recall at <= 1 FA/h | gap at 1 FA/h |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        gap = None if r["real"][1.0] is None or r["synthetic"][1.0] is None else r["synthetic"][1.0] - r["real"][1.0]
        print(f"| {r['word']} | {r['recipe']} | {pct(r['real'][0.5])} / {pct(r['real'][1.0])} | {at_threshold(r['real_report'])} | "
              f"{r['speech_fa'] / r['speech_hours']:.2f} ({r['speech_fa']} in {r['speech_hours']:.1f} h) | "
              f"{pct(r['real_report']['confusable_accept_rate'])} | {pct(r['synthetic'][1.0])} | "
              f"{'n/a' if gap is None else f'{100 * gap:.1f} points'} |")
    print()
    for recipe in [*RECIPES, *FUSED]:
        mine = [r for r in rows if r["recipe"] == recipe]
        if not mine:
            continue
        print(f"- **{recipe}**, over {len(mine)} words: real recall at <= 1 FA/h {pct(mean(r['real'][1.0] for r in mine))} "
              f"(lowest {pct(min((r['real'][1.0] or 0) for r in mine))}), at <= 0.5 {pct(mean(r['real'][0.5] for r in mine))}; "
              f"at the models' thresholds {pct(mean(r['real_report']['recall'] for r in mine))} with "
              f"{mean(r['real_report']['false_accepts_per_hour'] for r in mine):.2f} FA/h; real speech alone "
              f"{sum(r['speech_fa'] for r in mine) / sum(r['speech_hours'] for r in mine):.2f} FA/h; "
              f"synthetic held-out {pct(mean(r['synthetic'][1.0] for r in mine))} at <= 1 FA/h.")
    print(f"\nThe counted false accepts on the real streams at the threshold that catches {pct(SOURCES_RECALL)} of people "
          "(sound-alikes are counted apart; an event over several kinds of audio counts as the first of them in this order):\n")
    for r in rows:
        name = f"{r['word']}, {r['recipe']}"
        sources = false_accept_sources(r["word"], r["recipe"], curves[name]) if name in curves else None
        if sources:
            print(f"- {r['word']}, {r['recipe']}: {sources}")
    print(f"\nDET curves on the real streams: `{args.plot.relative_to(ROOT) if args.plot.is_relative_to(ROOT) else args.plot}`.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
