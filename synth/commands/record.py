"""`synth record PHRASE --out DIR`: a person's own takes, from the microphone, into a clip folder."""

from __future__ import annotations

import argparse
import getpass
import re
import sys
from pathlib import Path

from wakeword.errors import ConfigError

from ..clips import TAKES_ENGINE, read_metadata, write_metadata
from ..phrases import POSITIVE

DEFAULT_COUNT = 20

EPILOG = """examples:
  synth record activate --out clips/me                      # 20 takes of the phrase
  synth record activate --negatives --count 20 --out clips/me-negatives
  synth record activate --speaker anna --device USB --out clips/family

A prompt says what to say; each take is a --seconds window recorded after the prompt,
trimmed to the speech with 0.2 s either side. A take that is too quiet, clipped or cut
off at the window's edge is refused with what to do, and asked for again. Say the
phrase as you would to the device: different distances, speeds and moods help.
With --negatives the prompts are words that sound like the phrase, then everyday words
and sentences: they keep a model fine-tuned on your voice from firing on your other speech.

Takes go into DIR as 16-bit wavs at the capture rate, listed in metadata.jsonl as
engine "takes", voice SPEAKER: `synth generate --positives DIR` (repeatable, beside the
synthetic clips) uses them as one more voice, always in the training split. Each take is written as soon as it is kept;
run the same command again to go on where it stopped (--count is the total wanted).

Teach the bundled model your voice (about 10 minutes on 2 cores; README, "Your own voice"):
  synth record activate --out clips/me && synth record activate --negatives --out clips/me-neg
  synth generate --config configs/activate.yaml --positives build/activate/clips/positives \\
      --positives clips/me --negatives build/activate/clips/negatives --negatives clips/me-neg --out data/me
  wakeword train --config configs/activate.yaml --data data/me --init wakeword/models/activate.npz --epochs 3 --out runs/me
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "record",
        help="record your own takes of the phrase (or of other words) from the microphone into a clip folder",
        description="Prompt for the phrase (or with --negatives for other words), record each take from an input "
                    "device, check it and keep the speech: a clip folder of your voice for `synth generate`.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("phrase", help="the wake phrase, e.g. activate")
    p.add_argument("--out", required=True, metavar="DIR", help="clip folder to add the takes to (created; resumed)")
    p.add_argument("--count", type=int, default=DEFAULT_COUNT, help=f"takes wanted in all from this speaker (default: {DEFAULT_COUNT})")
    p.add_argument("--negatives", action="store_true", help="prompt for sound-alikes and everyday speech instead of the phrase")
    p.add_argument("--speaker", default=None, help="whose voice this is: one voice in the dataset's split (default: your login name)")
    p.add_argument("--device", metavar="NAME|INDEX", help="input device: index, name or part of a name (default: the system's default input)")
    p.add_argument("--seconds", type=float, default=3.0, help="length of the window recorded for each take (default: 3)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    # Imported here so that `synth --help` does not wait for numpy's and PortAudio's start-up.
    from wakeword.audio import write_wav
    from wakeword.microphone import capture_settings, find_input_device, record

    from ..takes import judge_take, prompts

    speaker = args.speaker or getpass.getuser()
    if not re.fullmatch(r"[\w.-]+", speaker):
        raise ConfigError(f"--speaker {speaker!r}: use letters, digits, '.', '_' or '-' only (it names the files)")
    if args.count < 1 or not 0.5 <= args.seconds <= 30:
        raise ConfigError("--count must be at least 1 and --seconds between 0.5 and 30")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    kept = {name: e for name, e in read_metadata(out, strict=False).items() if (out / name).exists()}
    negative = args.negatives
    mine = sorted(name for name, e in kept.items()
                  if e.get("voice") == speaker and (e.get("kind") == POSITIVE) != negative)
    todo = prompts(args.phrase, args.count, negative)[len(mine):]
    if not todo:
        print(f"synth record: {out} already holds {len(mine)} takes of {speaker}: nothing to do (raise --count for more)")
        return 0
    device = find_input_device(args.device)
    rate, channels = capture_settings(device, 16000)
    print(f"synth record: {device.describe()} at {rate} Hz; {len(todo)} takes of {args.seconds:g} s each, "
          f"Ctrl-C stops (what is kept stays)", file=sys.stderr)
    prefix = f"{speaker}-{'neg' if negative else 'pos'}"
    number, done = len(mine), 0
    for utterance in todo:
        while True:
            number_shown = number + 1
            audio = record(device, rate, channels, args.seconds, on_start=lambda: print(
                f"take {number_shown}/{args.count}: say \"{utterance.text}\"", file=sys.stderr, flush=True))
            take = judge_take(audio, rate)
            if take.audio is not None:
                break
            print(f"  not kept: {take.problem}", file=sys.stderr, flush=True)
        k = number + 1
        while (out / f"{prefix}-{k:03d}.wav").exists():  # never over a file of the folder's own
            k += 1
        name = f"{prefix}-{k:03d}.wav"
        write_wav(out / name, take.audio, rate)
        kept[name] = {"file": name, "engine": TAKES_ENGINE, "voice": speaker, "text": utterance.text,
                      "kind": utterance.kind, "speech_dbfs": round(take.speech_dbfs, 1)}
        write_metadata(out, kept)
        number, done = number + 1, done + 1
        print(f"  kept {name}: {len(take.audio) / rate:.2f} s, speech at {take.speech_dbfs:.0f} dBFS", file=sys.stderr, flush=True)
    print(f"synth record: {done} takes added, {number} of {speaker} in {out}")
    return 0
