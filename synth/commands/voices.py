"""`synth voices`: the voices `synth speak` would use, per engine."""

from __future__ import annotations

import argparse
from collections import Counter

from .speak import add_voice_options, chosen_voices


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "voices",
        help="list the installed offline voices that `synth speak` would use",
        description="List the voice ids (ENGINE:NAME) of every installed engine, filtered as "
                    "`synth speak` filters them, then a count per engine.",
        epilog="examples:\n  synth voices --engines piper\n  synth voices --voices 'espeak-ng:en*' --exclude-voices '*+f4'\n"
               "  WAKEWORD_PIPER_VOICES=~/piper-voices synth voices --engines piper",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_voice_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    voices = chosen_voices(args)
    for voice in voices:
        print(voice.id)
    counts = Counter(v.engine for v in voices)
    print(f"synth voices: {len(voices)} voices: " + ", ".join(f"{n} {engine}" for engine, n in counts.items()))
    return 0
