#!/usr/bin/env bash
# Teach the bundled model your voice: scripts/enrol.sh [BUILD_DIR] (`make enrol`).
# Records your takes of the phrase and of other words (synth record), mixes them in with
# the default recipe's synthetic clips, and fine-tunes the bundled model on them for a
# few epochs, into BUILD_DIR/model.npz. Every step resumes: run it again after an
# interruption.
# SPEAKER=NAME records another person into the same folder; TAKES=N (default 20) takes
# of each kind; DEVICE=NAME|INDEX picks the microphone; EPOCHS=N (default 3).
# CLIPS=DIR uses an existing folder of synthetic clips (positives/, negatives/) instead of
# speaking the default recipe's into build/activate/clips; CONFIG and BASE (the recipe
# and the model fine-tuned) must belong together.
set -euo pipefail
cd "$(dirname "$0")/.."
CONFIG=${CONFIG:-configs/activate.yaml}
BUILD=${1:-build/enrol}
BIN=.venv/bin
BASE=${BASE:-wakeword/models/activate.npz}
PHRASE=$("$BIN/python" -c "import sys; from wakeword.config import load_config; print(load_config(sys.argv[1]).phrase)" "$CONFIG")
who=(--count "${TAKES:-20}")
[ -n "${SPEAKER:-}" ] && who+=(--speaker "$SPEAKER")
[ -n "${DEVICE:-}" ] && who+=(--device "$DEVICE")

echo "enrol: say \"$PHRASE\" as you would to the device: near and far, fast and slow, loud and soft" >&2
"$BIN/synth" record "$PHRASE" --out "$BUILD/takes" "${who[@]}"
echo "enrol: now other words, so that your everyday speech does not wake it" >&2
"$BIN/synth" record "$PHRASE" --negatives --out "$BUILD/takes-negatives" "${who[@]}"

started=$(date +%s)
if [ -z "${CLIPS:-}" ]; then
  CLIPS=build/activate/clips
  scripts/speak_clips.sh "$PHRASE" "$CLIPS"
fi
# One dataset and one run per set of takes: a second speaker (or more takes) makes new
# ones, and an interrupted run resumes in its own.
takes=$(cat "$BUILD/takes/metadata.jsonl" "$BUILD/takes-negatives/metadata.jsonl" | sha1sum | cut -c1-10)
data=$BUILD/data-$takes
run=$BUILD/run-$takes
"$BIN/synth" generate --config "$CONFIG" --positives "$CLIPS/positives" --positives "$BUILD/takes" \
  --negatives "$CLIPS/negatives" --negatives "$BUILD/takes-negatives" --out "$data"
resume=()
[ -f "$run/checkpoint.pt" ] && resume=(--resume)
"$BIN/wakeword" train --config "$CONFIG" --data "$data" --init "$BASE" --epochs "${EPOCHS:-3}" --out "$run" "${resume[@]}"
# Replaced in one step: a listener started on it never reads half a file.
cp "$run/model.npz" "$BUILD/.model.npz.tmp" && mv "$BUILD/.model.npz.tmp" "$BUILD/model.npz"
for old in "$BUILD"/data-* "$BUILD"/run-*; do  # a dataset is hundreds of MB: keep only the current one
  [ "$old" = "$data" ] || [ "$old" = "$run" ] || rm -rf "$old"
done
echo "enrol: fine-tuned in $(( ($(date +%s) - started) / 60 )) min: $BUILD/model.npz" >&2
echo "enrol: listen with it:  $BIN/wakeword listen --model $BUILD/model.npz" >&2
echo "enrol: or as a service: $BIN/wakeword install-service --model $(realpath "$BUILD/model.npz")" >&2
