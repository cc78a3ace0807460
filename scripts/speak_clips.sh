#!/usr/bin/env bash
# The default recipe's synthetic clips of a phrase: scripts/speak_clips.sh PHRASE CLIP_DIR
# writes CLIP_DIR/positives and CLIP_DIR/negatives (each resumes). make_model.sh and
# enrol.sh use it.
set -euo pipefail
cd "$(dirname "$0")/.."
PHRASE=$1
CLIPS=$2
BIN=.venv/bin
POSITIVES=${POSITIVES:-1500}
NEGATIVES=${NEGATIVES:-3000}
# Piper's neural voice is left out: trained on, it did not gain on the held-out stream,
# and it is the nearest to a person's speech the benchmarks have (docs/levers.md, 6).
# festival's Czech, Finnish, Italian and Catalan voices are in: English sounds in
# unfamiliar voices (docs/levers.md, 3 and 9). RHVoice, Pico and MBROLA are left out too:
# with them the recipe gained on flite and festival and lost on espeak-ng and MBROLA
# (docs/levers.md, 11). Kokoro's neural voices are measured on real people by
# `make bench real` (recipe `kokoro`, docs/levers.md 28). EXCLUDE= takes every engine in.
EXCLUDE=${EXCLUDE-piper:*,rhvoice:*,pico:*,mbrola:*,openjtalk:*,kokoro:*}
# JAPANESE=8 adds Open JTalk's Japanese HTS voice on top, at 8 % of both counts: a
# vocoder and an accent no other engine has. Over four seeds it moved neither the
# held-out stream (+1.4 points) nor the four unheard engines (-1.2) beyond seed noise
# (docs/levers.md, 21), so it is off.
JAPANESE=${JAPANESE:-0}
"$BIN/synth" speak "$PHRASE" --out "$CLIPS/positives" --count "$POSITIVES" --exclude-voices "$EXCLUDE"
"$BIN/synth" speak "$PHRASE" --negatives --out "$CLIPS/negatives" --count "$NEGATIVES" --exclude-voices "$EXCLUDE"
if [ "$JAPANESE" -gt 0 ]; then
  "$BIN/synth" speak "$PHRASE" --engines openjtalk --out "$CLIPS/positives" --count $((POSITIVES * JAPANESE / 100))
  "$BIN/synth" speak "$PHRASE" --negatives --engines openjtalk --out "$CLIPS/negatives" --count $((NEGATIVES * JAPANESE / 100))
fi
