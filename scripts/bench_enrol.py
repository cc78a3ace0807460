"""Enrolment: what 20 takes of one voice do for that voice, as markdown for docs/benchmarks.md.

For each simulated user (a voice of a kind the bundled model hears poorly and no recipe
trains on) this speaks the takes a person would give `synth record` (20 of the phrase,
10 sound-alikes, 10 everyday words) and a 120 min `synth stream` of that voice alone
whose renditions are never one of the takes, then runs `scripts/enrol.sh` exactly as
`make enrol` does (the takes are already there, so its recording steps have nothing to
do) and scores the bundled and the enrolled model on the voice's stream, and the
enrolled one on the bundled model's held-out stream (other voices; bench_quality.py
makes it). Every step resumes.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

from bench_generalization import evaluate, pct, run, stream
from synth.clips import read_metadata, write_metadata
from wakeword.evaluation import best_at_false_accept_rate
from wakeword.modelfile import bundled_model_path, load_model

ROOT = Path(__file__).resolve().parents[1]
SPEAKER = "bench"
# Kinds of synthesis the bundled model catches least (docs/levers.md, 21 and 11).
VOICES = ("openjtalk:nitech_jp_atr503_m001+a55", "mbrola:en1")
TAKES = {"positive": 20, "confusable": 10, "speech": 10}


def rendition(entry: dict) -> tuple:
    return entry["voice"], entry["text"], entry.get("rate"), entry.get("pitch"), entry.get("word_gap")


def speak(phrase: str, voice: str, out: Path, count: int, seed: int, negatives: bool) -> dict[str, dict]:
    run("synth", "speak", phrase, "--voices", voice, "--count", str(count), "--seed", str(seed), "--out", str(out),
        *(["--negatives"] if negatives else []))
    return read_metadata(out)


def takes(phrase: str, voice: str, where: Path) -> set[tuple]:
    """The takes, as `synth record` writes them, in where/takes and where/takes-negatives; their renditions."""
    chosen = []
    for negatives, folder in ((False, "takes"), (True, "takes-negatives")):
        said = speak(phrase, voice, where / "said" / folder, 40 if not negatives else 100, 7, negatives)
        picked = []
        for kind, n in TAKES.items():
            picked += [e for e in said.values() if e["kind"] == kind][:n]
        out = where / folder
        out.mkdir(parents=True, exist_ok=True)
        entries = {}
        for i, e in enumerate(picked, 1):
            name = f"{SPEAKER}-{'neg' if negatives else 'pos'}-{i:03d}.wav"
            shutil.copy(where / "said" / folder / e["file"], out / name)
            entries[name] = {"file": name, "engine": "takes", "voice": SPEAKER, "text": e["text"], "kind": e["kind"]}
        write_metadata(out, entries)
        chosen += picked
    return {rendition(e) for e in chosen}


def voice_stream(phrase: str, voice: str, where: Path, taken: set[tuple], minutes: float) -> Path:
    """A stream of `voice` alone that never speaks one of the takes' renditions."""
    prefix = where / f"stream_{minutes:g}min"
    if not prefix.with_suffix(".json").exists():
        clips = where / "stream-clips"
        for kind, count, negatives in (("positives", 100, False), ("negatives", 500, True)):
            entries = speak(phrase, voice, clips / kind, count, 4321, negatives)
            for name, e in list(entries.items()):
                if rendition(e) in taken:
                    (clips / kind / name).unlink()
                    del entries[name]
            write_metadata(clips / kind, entries)
        stream(ROOT / "configs" / "activate.yaml", prefix, minutes, voices=voice, clips=clips)
    return prefix


def at_one(model: Path, prefix: Path, scores: Path) -> tuple[float | None, dict]:
    report, curve = evaluate(model, prefix, scores)
    best = best_at_false_accept_rate(curve, 1.0)
    return (best.recall if best else None), report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--voices", default=",".join(VOICES), help="comma-separated voice ids, one simulated user each")
    parser.add_argument("--build", type=Path, default=ROOT / "build" / "enrol-bench")
    parser.add_argument("--clips", type=Path, default=ROOT / "build" / "activate" / "clips",
                        help="the default recipe's synthetic clips (spoken first where missing, as make enrol does)")
    parser.add_argument("--others", type=Path, default=ROOT / "build" / "activate" / "stream_240min",
                        help="the held-out stream of other voices (bench_quality.py)")
    parser.add_argument("--minutes", type=float, default=120.0)
    args = parser.parse_args()
    phrase = "activate"
    bundled = bundled_model_path()
    others = args.others if args.others.with_suffix(".json").exists() else None
    rows = []
    run(str(ROOT / "scripts" / "speak_clips.sh"), phrase, str(args.clips))  # resumes: seconds when they are there
    for voice in args.voices.split(","):
        where = args.build / voice.replace(":", "_").replace("+", "_")
        taken = takes(phrase, voice, where)
        prefix = voice_stream(phrase, voice, where, taken, args.minutes)
        run(str(ROOT / "scripts" / "enrol.sh"), str(where), env={"CLIPS": str(args.clips), "SPEAKER": SPEAKER})
        enrolled = where / "model.npz"
        before, _ = at_one(bundled, prefix, where / "bundled.scores.npz")
        after, report = at_one(enrolled, prefix, where / "enrolled.scores.npz")
        elsewhere = at_one(enrolled, others, where / "enrolled_on_others.scores.npz") if others else (None, None)
        metrics = load_model(enrolled).metadata["metrics"]
        rows.append((voice, before, after, report, elsewhere, metrics))
    print(f"Each simulated user gives {TAKES['positive']} takes of \"{phrase}\" and {TAKES['confusable']} sound-alikes "
          f"and {TAKES['speech']} everyday words (`synth speak` of that voice, seed 7), then `scripts/enrol.sh` "
          f"(`make enrol`) fine-tunes the bundled model on them beside `{args.clips.relative_to(ROOT)}`. "
          f"Each voice's own {args.minutes:g} min stream never speaks one of its takes' renditions. Before the "
          f"fine-tune, `synth generate` makes the recipe's examples with the takes in (see \"Dataset synthesis "
          f"throughput\" for its pace).\n")
    print("| user's voice | bundled: recall @ 1 FA/h | enrolled: recall @ 1 FA/h | enrolled at its threshold: recall / FA/h / sound-alikes accepted "
          "| enrolled on other voices' stream: recall @ 1 FA/h; at its threshold: recall / FA/h | fine-tune (recorded in the model) |")
    print("|---|---|---|---|---|---|")
    for voice, before, after, report, (elsewhere, there), metrics in rows:
        at_threshold = f"{pct(there['recall'])} / {there['false_accepts_per_hour']:.2f}" if there else "n/a"
        print(f"| {voice} | {pct(before)} | {pct(after)} | {pct(report['recall'])} / {report['false_accepts_per_hour']:.1f} / "
              f"{pct(report['confusable_accept_rate'])} (threshold {report['threshold']:.4f}) | {pct(elsewhere)}; {at_threshold} | "
              f"{metrics['epochs_trained']} epochs, {metrics['train_minutes']:.1f} min |")
    if others:
        base, report = at_one(bundled, others, args.build / "bundled_on_others.scores.npz")
        print(f"\nThe bundled model reads {pct(base)} at 1 FA/h on the other voices' stream (`{others.relative_to(ROOT)}`); "
              f"at its threshold ({report['threshold']:.4f}) {pct(report['recall'])} / {report['false_accepts_per_hour']:.2f} FA/h.")
    return 0


if __name__ == "__main__":
    os.chdir(ROOT)
    sys.exit(main())
