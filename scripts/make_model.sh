#!/usr/bin/env bash
# Rebuild a model from its config with offline synthesis and generated noise only:
#   scripts/make_model.sh [CONFIG] [BUILD_DIR]
# The "activate" default also replaces the bundled model. Every step resumes.
set -euo pipefail
cd "$(dirname "$0")/.."
CONFIG=${1:-configs/activate.yaml}
NAME=$(basename "$CONFIG" .yaml)
BUILD=${2:-build/$NAME}
BIN=.venv/bin
PHRASE=$("$BIN/python" -c "import sys; from wakeword.config import load_config; print(load_config(sys.argv[1]).phrase)" "$CONFIG")
POSITIVES=${POSITIVES:-1500}
NEGATIVES=${NEGATIVES:-3000}
# festival's Czech, Finnish, Italian and Catalan voices: they lift leave-espeak-ng-out
# recall but cost recall at <= 1 FA/h on the held-out streams (docs/levers.md, 3), so the
# default recipe does without them until one gains on both. EXCLUDE= takes them in.
EXCLUDE=${EXCLUDE-festival:czech_*,festival:*_fi_*_diphone,festival:lp_diphone,festival:pc_diphone,festival:upc_ca_*}

started=$(date +%s)
"$BIN/synth" speak "$PHRASE" --out "$BUILD/clips/positives" --count "$POSITIVES" --exclude-voices "$EXCLUDE"
"$BIN/synth" speak "$PHRASE" --negatives --out "$BUILD/clips/negatives" --count "$NEGATIVES" --exclude-voices "$EXCLUDE"
"$BIN/synth" generate --config "$CONFIG" --positives "$BUILD/clips/positives" --negatives "$BUILD/clips/negatives" --out "$BUILD/data"
RESUME=()
[ -f "$BUILD/run/checkpoint.pt" ] && RESUME=(--resume)
"$BIN/wakeword" train --config "$CONFIG" --data "$BUILD/data" --out "$BUILD/run" "${RESUME[@]}"
echo "make_model: $CONFIG trained in $(( ($(date +%s) - started) / 60 )) min ($BUILD/run/model.pt)" >&2
if [ "$NAME" = activate ]; then
  cp "$BUILD/run/model.pt" wakeword/models/activate.pt
  echo "make_model: bundled model updated: wakeword/models/activate.pt" >&2
fi
