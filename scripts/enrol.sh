#!/usr/bin/env bash
# Teach the bundled model your voice: scripts/enrol.sh [BUILD_DIR] (`make enrol`).
# Records your takes of the phrase and of other words (synth record), mixes them in with
# the default recipe's synthetic clips, and fine-tunes the bundled model on them for a
# few epochs. Every step resumes: run it again after an interruption.
# SPEAKER=NAME records another person into the same folder; TAKES=N (default 20) takes
# of each kind; DEVICE=NAME|INDEX picks the microphone; EPOCHS=N (default 3).
set -euo pipefail
cd "$(dirname "$0")/.."
CONFIG=configs/activate.yaml
BUILD=${1:-build/enrol}
BIN=.venv/bin
BASE=wakeword/models/activate.pt
CLIPS=${CLIPS:-build/activate/clips}
PHRASE=$("$BIN/python" -c "import sys; from wakeword.config import load_config; print(load_config(sys.argv[1]).phrase)" "$CONFIG")
who=(--count "${TAKES:-20}")
[ -n "${SPEAKER:-}" ] && who+=(--speaker "$SPEAKER")
[ -n "${DEVICE:-}" ] && who+=(--device "$DEVICE")

echo "enrol: say \"$PHRASE\" as you would to the device: near and far, fast and slow, loud and soft" >&2
"$BIN/synth" record "$PHRASE" --out "$BUILD/takes" "${who[@]}"
echo "enrol: now other words, so that your everyday speech does not wake it" >&2
"$BIN/synth" record "$PHRASE" --negatives --out "$BUILD/takes-negatives" "${who[@]}"

started=$(date +%s)
scripts/speak_clips.sh "$PHRASE" "$CLIPS"
"$BIN/synth" generate --config "$CONFIG" --positives "$CLIPS/positives" --positives "$BUILD/takes" \
  --negatives "$CLIPS/negatives" --negatives "$BUILD/takes-negatives" --out "$BUILD/data"
resume=()
[ -f "$BUILD/run/checkpoint.pt" ] && resume=(--resume)
"$BIN/wakeword" train --config "$CONFIG" --data "$BUILD/data" --init "$BASE" --epochs "${EPOCHS:-3}" \
  --out "$BUILD/run" "${resume[@]}"
echo "enrol: fine-tuned in $(( ($(date +%s) - started) / 60 )) min: $BUILD/run/model.pt" >&2
echo "enrol: listen with it:  $BIN/wakeword listen --model $BUILD/run/model.pt" >&2
echo "enrol: or as a service: $BIN/wakeword install-service --model $(realpath "$BUILD/run/model.pt")" >&2
