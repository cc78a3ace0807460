#!/usr/bin/env bash
# Rebuild a model from its config with offline synthesis and generated noise only:
#   scripts/make_model.sh [CONFIG] [BUILD_DIR]
# The "activate" default also replaces the bundled model. Every step resumes.
# CLIPS=DIR uses an existing clip folder (positives/, negatives/) instead of speaking one
# (scripts/speak_clips.sh, whose POSITIVES, NEGATIVES, EXCLUDE and JAPANESE pass through).
set -euo pipefail
cd "$(dirname "$0")/.."
CONFIG=${1:-configs/activate.yaml}
NAME=$(basename "$CONFIG" .yaml)
BUILD=${2:-build/$NAME}
BIN=.venv/bin
setting() {  # a config value, e.g. train.epochs
  "$BIN/python" -c "import sys, operator; from wakeword.config import load_config; print(operator.attrgetter(sys.argv[2])(load_config(sys.argv[1])))" "$CONFIG" "$1"
}
PHRASE=$(setting phrase)
FINETUNE_EPOCHS=$(setting train.finetune_epochs)
CLIPS=${CLIPS:-$BUILD/clips}

started=$(date +%s)
if [ "$CLIPS" = "$BUILD/clips" ]; then
  scripts/speak_clips.sh "$PHRASE" "$CLIPS"
fi
inputs=(--config "$CONFIG" --positives "$CLIPS/positives" --negatives "$CLIPS/negatives")
train() {  # RUN_DIR, then extra arguments
  local run=$1; shift
  local resume=()
  [ -f "$run/checkpoint.pt" ] && resume=(--resume)
  "$BIN/wakeword" train --config "$CONFIG" --out "$run" "${resume[@]}" "$@"
}

"$BIN/synth" generate "${inputs[@]}" --out "$BUILD/data"
train "$BUILD/run" --data "$BUILD/data"
MODEL=$BUILD/run/model.npz
if [ "$FINETUNE_EPOCHS" -gt 0 ]; then
  # Second stage: the negatives the first model fires on, drawn more often.
  [ -d "$BUILD/hard" ] || "$BIN/synth" mine --config "$CONFIG" --model "$MODEL" --negatives "$CLIPS/negatives" --out "$BUILD/hard"
  "$BIN/synth" generate "${inputs[@]}" --hard-negatives "$BUILD/hard" --out "$BUILD/data-hard"
  train "$BUILD/run-hard" --data "$BUILD/data-hard" --init "$MODEL" --epochs "$FINETUNE_EPOCHS"
  MODEL=$BUILD/run-hard/model.npz
fi
echo "make_model: $CONFIG trained in $(( ($(date +%s) - started) / 60 )) min ($MODEL)" >&2
if [ "$NAME" = activate ]; then
  cp "$MODEL" wakeword/models/activate.npz
  echo "make_model: bundled model updated: wakeword/models/activate.npz" >&2
fi
