"""What to say: prosody variants of the wake phrase, and negatives made from the phrase.

Hard negatives are built for any phrase from its own sounds: its parts alone, words that
sound alike (ranked by a phoneme edit distance over a bundled, pre-phonemized English
word list), the phrase with one word swapped, plus ordinary words and sentences. No
negative ever contains the phrase, in letters or in sounds: "activated" or "hay jarvis"
would teach the model to doubt the phrase itself.
"""

from __future__ import annotations

import functools
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .tts import ENGINES, EngineMissingError, SynthesisError, TIMEOUT_S

DATA = Path(__file__).resolve().parent / "data"
POSITIVE, CONFUSABLE, SPEECH = "positive", "confusable", "speech"
# Words said before a name to call it: interchangeable, so "okay jarvis" is a hard
# negative for "hey jarvis" although the two words share few sounds.
CALL_WORDS = ("hey", "hi", "hello", "okay", "ok", "oh", "yo", "say")
COMMON_WORDS = 3000  # the first words of the frequency-ordered list count as everyday speech
# The default negatives: this many everyday words and sound-alikes of the phrase.
DEFAULT_WORDS = 300
DEFAULT_SOUND_ALIKES = 40
MAX_SCORE = 0.45  # phoneme edit distance per phoneme above which words no longer sound alike
_VOWEL_START = "aeiouAEIOUV03@"
_CONSONANT_CLASSES = {
    **dict.fromkeys(("p", "b", "t", "d", "k", "g", "?"), "stop"),
    **dict.fromkeys(("tS", "dZ"), "affricate"),
    **dict.fromkeys(("f", "v", "T", "D", "s", "z", "S", "Z", "h", "x", "C"), "fricative"),
    **dict.fromkeys(("m", "n", "N"), "nasal"),
    **dict.fromkeys(("l", "r", "w", "j"), "approximant"),
}
Phonemes = tuple[str, ...]


@dataclass(frozen=True)
class Utterance:
    text: str
    kind: str  # POSITIVE, CONFUSABLE or SPEECH


def normalize(text: str) -> str:
    """Lower-case words without punctuation, single-spaced: what a phrase means to compare."""
    return " ".join(re.findall(r"[a-z0-9]+(?:'[a-z0-9]+)*", text.lower()))


def prosody_variants(phrase: str) -> list[str]:
    """The phrase itself, said as a statement, a call, a question, a pause, a trailing off."""
    words = normalize(phrase).split()
    if not words:
        raise SynthesisError("the phrase is empty: give the words to say, e.g. \"activate\"")
    plain = " ".join(words)
    variants = [plain, f"{plain}!", f"{plain}?", f"{plain},", f"{plain}..."]
    if len(words) > 1:
        variants.append(f"{words[0]}, {' '.join(words[1:])}!")
    return variants


def parse_phonemes(espeak: str) -> Phonemes:
    """espeak-ng `-x --sep=_` output to bare phonemes: stress, reduction and variant marks
    say little about how confusable two words are."""
    tokens = (re.sub(r"[#2\-',;!|]", "", t) for t in re.split(r"[_\s]+", espeak))
    return tuple(t for t in tokens if t)


class Lexicon:
    """The bundled English words (most frequent first) with their phonemes."""

    def __init__(self, path: Path = DATA / "words.tsv"):
        self.words: list[str] = []
        phonemes: list[Phonemes] = []
        for line in path.read_text().splitlines():
            if line and not line.startswith("#"):
                word, _, espeak = line.partition("\t")
                self.words.append(word)
                phonemes.append(parse_phonemes(espeak))
        self.phonemes = phonemes
        self._index = {w: i for i, w in enumerate(self.words)}
        self._spoken: dict[str, Phonemes] = {}  # words not in the list, as espeak-ng said them
        self._by_sound: dict[Phonemes, str] = {}
        for word, p in zip(self.words, phonemes):
            self._by_sound.setdefault(p, word)
        self._inventory = sorted({t for p in phonemes for t in p})
        self._lengths = np.array([len(p) for p in phonemes])
        self._codes = np.full((len(phonemes), int(self._lengths.max())), -1, dtype=np.int64)
        ids = {t: i for i, t in enumerate(self._inventory)}
        for row, p in enumerate(phonemes):
            self._codes[row, : len(p)] = [ids[t] for t in p]

    def word_for(self, phonemes: Phonemes) -> str | None:
        """The most frequent word that sounds exactly like `phonemes`."""
        return self._by_sound.get(phonemes)

    def sounds(self, texts: list[str]) -> list[Phonemes]:
        """Phonemes of each text, word by word: bundled words from the list, others from espeak-ng."""
        unknown = sorted({w for t in texts for w in normalize(t).split()} - self._index.keys() - self._spoken.keys())
        self._spoken.update(zip(unknown, _espeak_phonemes(unknown)))
        return [
            tuple(t for w in normalize(text).split() for t in
                  (self.phonemes[self._index[w]] if w in self._index else self._spoken[w]))
            for text in texts
        ]

    def sound_alikes(self, target: Phonemes, limit: int, max_score: float = MAX_SCORE) -> list[str]:
        """Words closest to `target` by phoneme edit distance per phoneme, most frequent first on ties."""
        scores = self._scores(target)
        order = np.lexsort((np.arange(len(scores)), scores))
        return [self.words[i] for i in order[:limit] if scores[i] <= max_score]

    def _scores(self, target: Phonemes) -> np.ndarray:
        """Weighted Levenshtein distance from `target` to every word, over the longer length.

        Vectorised over the word list (one row per word); words much longer or shorter than
        the target are not scored, as they cannot come near."""
        m = len(target)
        scores = np.full(len(self.words), np.inf)
        rows = np.flatnonzero(np.abs(self._lengths - m) <= max(2, m // 2))
        if m == 0 or rows.size == 0:
            return scores
        codes, lengths = self._codes[rows], self._lengths[rows]
        width = int(lengths.max())
        cost = _substitution_costs(tuple(self._inventory), tuple(target))  # (m, inventory + padding)
        prev = np.tile(np.arange(width + 1, dtype=np.float64), (len(rows), 1))
        for i in range(m):
            sub = cost[i][codes[:, :width]]
            cur = np.empty_like(prev)
            cur[:, 0] = i + 1
            for j in range(1, width + 1):
                cur[:, j] = np.minimum(np.minimum(prev[:, j], cur[:, j - 1]) + 1.0, prev[:, j - 1] + sub[:, j - 1])
            prev = cur
        scores[rows] = prev[np.arange(len(rows)), lengths] / np.maximum(lengths, m)
        return scores


@functools.cache
def _substitution_costs(inventory: tuple[str, ...], target: tuple[str, ...]) -> np.ndarray:
    """cost[i, k]: replacing target phoneme i by inventory phoneme k (last column: padding)."""
    def cost(a: str, b: str) -> float:
        if a == b:
            return 0.0
        vowel_a, vowel_b = a[0] in _VOWEL_START, b[0] in _VOWEL_START
        if vowel_a != vowel_b:
            return 1.0
        if vowel_a:
            return 0.5
        return 0.5 if _CONSONANT_CLASSES.get(a, a) == _CONSONANT_CLASSES.get(b, b) else 0.8

    return np.array([[cost(t, p) for p in inventory] + [1.0] for t in target])


@functools.cache
def lexicon() -> Lexicon:
    return Lexicon()


def contains_phrase(text: str, phrase: str, lex: Lexicon | None = None) -> bool:
    """Whether `text` says `phrase`: in its letters (also across spaces) or in its sounds."""
    text_sound, phrase_sound = (lex or lexicon()).sounds([text, phrase])
    return _says(text, text_sound, phrase, phrase_sound)


def _says(text: str, sound: Phonemes, phrase: str, phrase_sound: Phonemes) -> bool:
    text_n, phrase_n = normalize(text), normalize(phrase)
    if phrase_n in text_n or phrase_n.replace(" ", "") in text_n.replace(" ", ""):
        return True
    return f" {' '.join(phrase_sound)} " in f" {' '.join(sound)} "


def parts(phrase: str, lex: Lexicon | None = None) -> list[str]:
    """The phrase's pieces said alone: shorter runs of its words, and for each word the
    spellings of its leading and trailing sounds ("active", "tivate" in "activate")."""
    lex = lex or lexicon()
    words = normalize(phrase).split()
    spans = [" ".join(words[i:j]) for i in range(len(words)) for j in range(i + 1, len(words) + 1)
             if j - i < len(words)]
    pieces: list[str] = []
    for word, sound in zip(words, lex.sounds(words)):
        cuts = [word[:i] for i in range(2, len(word))] + [word[i:] for i in range(1, len(word) - 1)]
        found: dict[Phonemes, str] = {}
        for cut, cut_sound in zip(cuts, lex.sounds(cuts)):
            n = len(cut_sound)
            # Keep at least two of the word's sounds out: a piece one sound short of the
            # word is the word, mumbled.
            if 2 <= n <= len(sound) - 2 and cut_sound in (sound[:n], sound[-n:]):
                # A dictionary word that sounds the same reads right to every engine.
                found.setdefault(cut_sound, lex.word_for(cut_sound) or cut)
        pieces += found.values()
    return spans + pieces


def confusables(phrase: str, limit: int = DEFAULT_SOUND_ALIKES, lex: Lexicon | None = None) -> list[str]:
    """Texts that sound like the phrase without being it: parts, sound-alike words and,
    for several words, the phrase with one word swapped ("hey travis", "okay jarvis")."""
    lex = lex or lexicon()
    words = normalize(phrase).split()
    (sound,) = lex.sounds([phrase])
    # For several words, swapping one word gives closer negatives than whole-phrase sound-alikes.
    found = parts(phrase, lex) + lex.sound_alikes(sound, limit if len(words) == 1 else limit // 2)
    if len(words) > 1:
        for i, (word, word_sound) in enumerate(zip(words, lex.sounds(words))):
            swaps = lex.sound_alikes(word_sound, limit // 4)
            if word in CALL_WORDS:
                swaps += [w for w in CALL_WORDS if w != word]
            found += swaps[: limit // 8]
            found += [" ".join(words[:i] + [s] + words[i + 1:]) for s in swaps]
    return _without_phrase(found, phrase, lex)


def ordinary_speech(phrase: str, n_words: int = DEFAULT_WORDS, seed: int = 0, lex: Lexicon | None = None) -> list[str]:
    """Everyday words (a seeded sample of the most common ones) and the bundled sentences."""
    lex = lex or lexicon()
    common = lex.words[:COMMON_WORDS]
    picked = np.random.default_rng(seed).choice(len(common), size=min(n_words, len(common)), replace=False)
    sentences = [s.strip() for s in (DATA / "sentences.txt").read_text().splitlines()
                 if s.strip() and not s.startswith("#")]
    return _without_phrase([common[i] for i in sorted(picked)] + sentences, phrase, lex)


def negatives(phrase: str, n_words: int = DEFAULT_WORDS, seed: int = 0, sound_alikes: int = DEFAULT_SOUND_ALIKES) -> list[Utterance]:
    """All negatives for `phrase`: confusables (at most `sound_alikes` sound-alike words) first, then ordinary speech."""
    hard = confusables(phrase, sound_alikes)
    taken = {normalize(t) for t in hard}
    speech = [t for t in ordinary_speech(phrase, n_words, seed) if normalize(t) not in taken]
    return [Utterance(t, CONFUSABLE) for t in hard] + [Utterance(t, SPEECH) for t in speech]


def _without_phrase(texts: list[str], phrase: str, lex: Lexicon) -> list[str]:
    """Texts in order, once each, leaving out every one that says the phrase."""
    first: dict[str, str] = {}
    for text in texts:
        first.setdefault(normalize(text), text)
    unique = [text for key, text in first.items() if key]
    *sounds, phrase_sound = lex.sounds(unique + [phrase])
    return [t for t, sound in zip(unique, sounds) if not _says(t, sound, phrase, phrase_sound)]


def _espeak_phonemes(words: list[str]) -> list[Phonemes]:
    if not words:
        return []
    engine = ENGINES["espeak-ng"]
    if not engine.installed():
        raise EngineMissingError(f"finding sound-alikes needs espeak-ng: run `apt-get install {engine.package}`")
    # One clause per word (the full stop), so espeak-ng answers one line per word.
    out = subprocess.run(["espeak-ng", "-q", "-x", "--sep=_", "-v", "en-us"], input="".join(f"{w}.\n" for w in words),
                         capture_output=True, text=True, timeout=TIMEOUT_S).stdout.splitlines()
    if len(out) != len(words):
        raise SynthesisError(f"espeak-ng gave {len(out)} phoneme lines for {len(words)} words")
    return [parse_phonemes(line) for line in out]
