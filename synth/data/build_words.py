"""Rebuild `words.tsv`: English words, most frequent first, with their espeak-ng phonemes.

Development tool only; the runtime reads the bundled file. It needs what the runtime
does not: Debian `wamerican` (which words are dictionary words) and the PyPI package
`wordfreq` (how common they are), e.g. in a throwaway venv:

    python3 -m venv /tmp/wf && /tmp/wf/bin/pip install wordfreq
    apt-get install wamerican espeak-ng
    /tmp/wf/bin/python synth/data/build_words.py
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import wordfreq

HERE = Path(__file__).resolve().parent
DICTIONARY = Path("/usr/share/dict/american-english")
# Zipf 2.5 is about once per 300 million words: keeps rarer sound-alikes
# ("captivate") while leaving out most jargon.
MIN_ZIPF = 2.5
# The command synth.phrases runs for words outside the list: both must agree.
PHONEME_ARGS = ("espeak-ng", "-q", "-x", "--sep=_", "-v", "en-us")


def main() -> None:
    dictionary = {line.strip().lower() for line in DICTIONARY.open() if "'" not in line}
    words = [
        w
        for w in wordfreq.top_n_list("en", 150_000)
        if w.isascii() and w.isalpha() and (len(w) > 1 or w in ("a", "i"))
        and w in dictionary and wordfreq.zipf_frequency(w, "en") >= MIN_ZIPF
    ]
    # One clause per word: without the full stop espeak-ng joins lines into clauses.
    out = subprocess.run(PHONEME_ARGS, input="".join(f"{w}.\n" for w in words), capture_output=True,
                         text=True, check=True).stdout.splitlines()
    assert len(out) == len(words), "espeak-ng did not answer one line per word"
    rows = [f"{w}\t{p.strip()}" for w, p in zip(words, out) if p.strip() and " " not in p.strip()]
    header = (
        "# word<TAB>espeak-ng phonemes (-x --sep=_ -v en-us), most frequent first.\n"
        "# Words of Debian wamerican, ordered by wordfreq (zipf >= 2.5); built by build_words.py.\n"
    )
    (HERE / "words.tsv").write_text(header + "\n".join(rows) + "\n")
    print(f"{len(rows)} words")


if __name__ == "__main__":
    main()
