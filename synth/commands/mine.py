"""`synth mine`: the negative clips a trained model mistakes for its phrase, as a clip folder."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from wakeword.errors import ConfigError

EPILOG = """how it works:
  Every negative clip of voices outside synth.heldout_voices is augmented as training
  augments it and played in a long stream over generated background; the model's
  highest score from the clip's start to synth.label_s after its end is its score.
  Clips scoring at least --min-score are copied to --out with their metadata (and the
  score), hardest first. `synth generate --hard-negatives OUT` then draws
  synth.hard_negative_share of its negatives from them.

examples:
  synth mine --config configs/activate.yaml --model build/activate/stage1/model.npz \\
      --negatives clips/negatives --out clips/hard
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "mine",
        help="find the negative clips a trained model scores as the phrase (hard negatives for the next training stage)",
        description="Score every negative clip with a model and keep the ones it mistakes for the phrase.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--config", required=True, help="YAML recipe: its synth section augments the clips as training does")
    p.add_argument("--model", required=True, help="model file to mine with (model.npz of a training run)")
    p.add_argument("--negatives", required=True, metavar="DIR", help="clip folder of confusables and other speech (synth speak --negatives)")
    p.add_argument("--out", required=True, metavar="DIR", help="clip folder to write the hard negatives to (replaced)")
    p.add_argument("--min-score", type=float, default=0.5, help="least score that makes a clip hard (default: %(default)s)")
    p.add_argument("--kinds", default="confusable,speech",
                   help="comma-separated kinds of clip to mine: confusable, speech (default: %(default)s)")
    p.add_argument("--rounds", type=int, default=1, help="augmented hearings of each clip; the highest counts (default: %(default)s)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if not 0 < args.min_score < 1:
        raise ConfigError("--min-score must be between 0 and 1")
    if args.rounds < 1:
        raise ConfigError("--rounds must be at least 1")
    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    if not kinds or set(kinds) - {"confusable", "speech"}:
        raise ConfigError(f"--kinds {args.kinds!r}: choose from confusable, speech")
    from wakeword.config import load_config
    from wakeword.modelfile import load_model

    from ..clips import METADATA
    from ..dataset import NEGATIVE_KINDS, load_clip_folder
    from ..mining import clip_scores, hard_negatives
    from ..tts import voice_matches

    config = load_config(args.config)
    model = load_model(args.model)
    if (model.phrase, model.config.features) != (config.phrase, config.features):
        raise ConfigError(f"{args.model} was trained for another phrase or with other features than {args.config}: "
                          "mine with the recipe it was trained from")
    skipped: list[str] = []
    folder = Path(args.negatives)
    clips = [c for c in load_clip_folder(folder, config.features.sample_rate, NEGATIVE_KINDS, skipped)
             if c.kind in kinds and not voice_matches(c.voice_id, config.synth.heldout_voices)]
    for message in skipped:
        print(f"synth mine: {message}", file=sys.stderr)
    if not clips:
        raise ConfigError(f"no {' or '.join(kinds)} clip of a voice outside synth.heldout_voices in {folder}: nothing to mine")
    scores = clip_scores(model, clips, config, args.rounds, progress=not args.quiet)
    mined = hard_negatives(clips, scores, args.min_score)

    out = Path(args.out)
    staging = out.with_name(out.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    lines = []
    for m in mined:
        (staging / m.clip.source).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(folder / m.clip.source, staging / m.clip.source)
        lines.append(json.dumps({"file": m.clip.source, "engine": m.clip.engine, "voice": m.clip.voice,
                                 "text": m.clip.text, "kind": m.clip.kind, "score": round(m.score, 4)}))
    (staging / METADATA).write_text("".join(line + "\n" for line in lines))
    # The folder appears whole or not at all: a run killed midway leaves only the .partial folder.
    shutil.rmtree(out, ignore_errors=True)
    staging.rename(out)
    found = [m.clip.kind for m in mined]
    print(f"synth mine: {len(mined)} of {len(clips)} clips scored >= {args.min_score:g} "
          f"({found.count('confusable')} confusable, {found.count('speech')} other speech) -> {out}")
    return 0
