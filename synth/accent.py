"""Foreign accents: English phonemes said through another language's sounds.

A voice of another language reading English *text* applies its own spelling rules:
espeak-ng's Polish voice reads "activate" as "atstivate", which is no accent of anyone
and teaches a model to accept a different word. Instead the text is phonemized as
American English and the phonemes reach the foreign voice in a form it reads as sounds.

- espeak-ng takes phonemes (`[[...]]` input). English sounds that the language lacks are
  replaced by its nearest ones, as a speaker of that language would: first the English
  phoneme itself, then simpler stand-ins, then plain vowels and consonants. espeak-ng
  stops reading a word at a phoneme its language does not know, so each word takes the
  first replacement level that survives whole.
- festival's voices of other languages only read text: the phonemes are written in the
  language's own spelling ("activate" is Czech "aktivejt", Italian "aktiveit").
- Open JTalk's Japanese voices read katakana, a syllable script: "akutibeito".
"""

from __future__ import annotations

import functools
import subprocess
from dataclasses import dataclass, field

ENGLISH = "en-us"
TIMEOUT_S = 60.0

# espeak-ng's English phoneme mnemonics of more than one character, longest first.
_MULTI = sorted(
    ["aI@", "aU@", "i@3", "aI3", "aU3", "e@", "i@", "U@", "o@", "A@", "O@", "3:", "i:", "u:", "A:", "O:",
     "eI", "aI", "OI", "aU", "oU", "tS", "dZ", "@L", "@2", "@5", "I2", "I#", "a#"],
    key=len, reverse=True,
)
# Spelling variants espeak-ng prints for the same sound.
_SAME = {"I2": "I", "I#": "I", "a#": "a", "@2": "@", "@5": "@", "@L": "@l", "aI3": "aI@", "aU3": "aU@", "i@3": "i@"}
# Stand-ins, most English first: level 1 keeps what most languages have, level 2 is
# what every language reading Latin script has.
_STAND_INS = {
    "I": ("i", "i"), "i:": ("i", "i"), "u:": ("u", "u"), "U": ("u", "u"), "E": ("e", "e"), "V": ("a", "a"),
    "@": ("e", "e"), "3": ("@r", "er"), "3:": ("@r", "er"), "A:": ("a", "a"), "O:": ("o", "o"), "O": ("o", "o"),
    "0": ("o", "o"), "A@": ("ar", "ar"), "o@": ("or", "or"), "O@": ("or", "or"), "e@": ("er", "er"),
    "i@": ("ir", "ir"), "U@": ("ur", "ur"), "eI": ("ej", "ej"), "aI": ("aj", "aj"), "OI": ("oj", "oj"),
    "aU": ("aw", "au"), "oU": ("ow", "o"), "aI@": ("aj@", "aje"), "aU@": ("aw@", "aue"),
    "D": ("d", "d"), "T": ("t", "t"), "N": ("n", "n"), "Z": ("Z", "z"), "dZ": ("dZ", "dz"), "tS": ("tS", "ts"),
    "S": ("S", "s"), "w": ("w", "u"), "h": ("h", "h"), "x": ("k", "k"),
}
LEVELS = 3
# Digits that are phonemes ("3" as in "error", "0" as in "hot"), not variant markers.
_VOWEL_DIGITS = frozenset("30")


def language_of(voice: str) -> str:
    """`pl+f4` -> `pl`."""
    return voice.split("+", 1)[0]


def is_foreign(voice: str) -> bool:
    return not language_of(voice).startswith("en")


def tokens(word: str) -> list[str]:
    """One word of espeak-ng English phonemes as phoneme tokens; stress marks kept."""
    out, i = [], 0
    while i < len(word):
        multi = next((m for m in _MULTI if word.startswith(m, i)), None)
        token = multi or word[i]
        i += len(token)
        if token in ",;:#-_|" or (token.isdigit() and token not in _VOWEL_DIGITS):
            continue  # secondary stress, pauses and markers: the foreign voice places its own
        out.append(_SAME.get(token, token))
    return out


def respell(word_tokens: list[str], level: int) -> str:
    """Phonemes of one word at a replacement level (0: English)."""
    if level == 0:
        return "".join(word_tokens)
    return "".join(_STAND_INS.get(t, (t, t))[level - 1] for t in word_tokens)


def _letters(phonemes: str) -> int:
    return sum(c.isalnum() or c in "@:" for c in phonemes)


@functools.cache
def english_phonemes(text: str) -> tuple[tuple[str, ...], ...]:
    """`text` as American English phoneme tokens, word by word."""
    proc = subprocess.run(["espeak-ng", "-v", ENGLISH, "-q", "-x"], input=text.encode(), capture_output=True,
                          timeout=TIMEOUT_S, check=True)
    # A word is kept when some token holds a letter: "or" is the two tokens ' and O@.
    words = (tokens(w) for w in proc.stdout.decode().split())
    return tuple(tuple(t) for t in words if any(c.isalpha() for token in t for c in token))


def _echo(language: str, words: list[str]) -> list[str]:
    """How the language's voice reads these phoneme words: a word cut short lost a phoneme."""
    phonemes = " ".join(words)
    proc = subprocess.run(["espeak-ng", "-v", language, "-q", "-x", f"[[{phonemes}]]"], capture_output=True,
                          timeout=TIMEOUT_S, check=True)
    return proc.stdout.decode().split()


def accent_input(voice: str, text: str) -> str:
    """What to give espeak-ng's `voice` so that it says English `text` with its accent."""
    return _accent_input(language_of(voice), text)


@functools.cache
def _accent_input(language: str, text: str) -> str:
    """One answer per language: a voice's variants (pl+f4, pl+m3, ...) share its sounds."""
    words = english_phonemes(text)
    chosen: list[str | None] = [None] * len(words)
    for level in range(LEVELS):
        todo = [i for i, c in enumerate(chosen) if c is None]
        if not todo:
            break
        spelled = [respell(list(words[i]), level) for i in todo]
        echoed = _echo(language, spelled) if level < LEVELS - 1 else spelled
        if len(echoed) != len(spelled):  # a word vanished or split: hear them one by one
            echoed = ["".join(_echo(language, [w])) for w in spelled]
        for i, said, heard in zip(todo, spelled, echoed):
            if _letters(heard) >= _letters(said):  # read whole, not cut short at an unknown sound
                chosen[i] = said
    return "[[" + " ".join(w for w in chosen if w) + "]]"


# English phonemes in a plain Latin spelling that Czech, Finnish, Italian and Catalan
# all read close to the sound; each language overrides what it spells otherwise.
_LATIN = {
    "a": "a", "A:": "a", "A@": "ar", "aI": "ai", "aI@": "aier", "aU": "au", "aU@": "auer", "E": "e", "e@": "er",
    "eI": "ei", "3": "er", "3:": "er", "@": "e", "@l": "el", "I": "i", "i": "i", "i:": "i", "i@": "ir", "0": "o",
    "O": "o", "O:": "o", "O@": "or", "o@": "or", "OI": "oi", "oU": "ou", "U": "u", "u:": "u", "U@": "ur", "V": "a",
    "T": "t", "D": "d", "N": "ng", "S": "s", "Z": "s", "tS": "c", "dZ": "g", "w": "u", "j": "i", "x": "k",
}


@dataclass(frozen=True)
class Orthography:
    encoding: str  # what the language's festival voices read
    letters: dict[str, str] = field(default_factory=dict)
    questions: bool = True  # whether the voices can say a question's intonation

    def spell(self, phoneme: str) -> str:
        return self.letters.get(phoneme, _LATIN.get(phoneme, phoneme if phoneme.isalpha() else ""))


# Keyed by the language festival's voice descriptions give.
ORTHOGRAPHIES = {
    "czech": Orthography("iso-8859-2", {"eI": "ej", "aI": "aj", "OI": "oj", "j": "j", "S": "š", "Z": "ž", "tS": "č",
                                        "dZ": "dž", "x": "ch", "N": "n"}),
    "finnish": Orthography("iso-8859-1", {"j": "j", "w": "v", "tS": "ts", "dZ": "ts", "S": "s", "z": "s", "N": "ng"}),
    # festival's Italian intonation fails on most questions of two words or more.
    "italian": Orthography("iso-8859-1", {"tS": "ci", "dZ": "gi", "S": "sci", "h": "", "N": "n"}, questions=False),
    "catalan": Orthography("iso-8859-1", {"S": "x", "Z": "j", "tS": "tx", "dZ": "tj", "N": "ng"}),
}


def spelled_input(language: str, text: str) -> str:
    """English `text` written in `language`'s spelling of its American-English phonemes."""
    orthography = ORTHOGRAPHIES[language]
    spelled = " ".join("".join(orthography.spell(p) for p in word) for word in english_phonemes(text))
    end = text.rstrip()[-1:]
    marks = ".?!" if orthography.questions else ".!"
    return spelled + end if end in marks else spelled  # the closing mark sets the intonation


# Katakana: Japanese writes foreign words as syllables (consonant + vowel, or a vowel, a
# syllabic n or a long-vowel mark), so English phonemes become moras: "activate" is
# a-ku-ti-be-i-to. Each English vowel is (Japanese vowel, what follows it).
_KANA_VOWELS = {
    "a": ("a", ""), "A:": ("a", "ー"), "V": ("a", ""), "@": ("a", ""), "E": ("e", ""), "e": ("e", ""),
    "I": ("i", ""), "i": ("i", ""), "i:": ("i", "ー"), "U": ("u", ""), "u:": ("u", "ー"), "0": ("o", ""),
    "O": ("o", ""), "O:": ("o", "ー"), "3": ("a", "ー"), "3:": ("a", "ー"), "eI": ("e", "イ"), "aI": ("a", "イ"),
    "OI": ("o", "イ"), "aU": ("a", "ウ"), "oU": ("o", "ー"), "A@": ("a", "ー"), "O@": ("o", "ー"), "o@": ("o", "ー"),
    "e@": ("e", "ア"), "i@": ("i", "ア"), "U@": ("u", "ア"), "aI@": ("a", "イア"), "aU@": ("a", "ウア"), "@l": ("a", "ル"),
}
# Rows of the syllabary, vowels a i u e o; "" is the row of bare vowels.
_KANA_ROWS = {
    "": "アイウエオ", "k": "カキクケコ", "g": "ガギグゲゴ", "s": "サシスセソ", "z": "ザジズゼゾ", "T": "サシスセソ",
    "D": "ザジズゼゾ", "t": ("タ", "ティ", "トゥ", "テ", "ト"), "d": ("ダ", "ディ", "ドゥ", "デ", "ド"),
    "n": "ナニヌネノ", "h": "ハヒフヘホ", "b": "バビブベボ", "p": "パピプペポ", "m": "マミムメモ",
    "j": ("ヤ", "イ", "ユ", "イェ", "ヨ"), "r": "ラリルレロ", "l": "ラリルレロ", "w": ("ワ", "ウィ", "ウ", "ウェ", "ウォ"),
    # Open JTalk's dictionary reads ヴ inside a word as b, and ヴェ as "bu-e": v is said b.
    "f": ("ファ", "フィ", "フ", "フェ", "フォ"), "v": "バビブベボ",
    "S": ("シャ", "シ", "シュ", "シェ", "ショ"), "Z": ("ジャ", "ジ", "ジュ", "ジェ", "ジョ"),
    "tS": ("チャ", "チ", "チュ", "チェ", "チョ"), "dZ": ("ジャ", "ジ", "ジュ", "ジェ", "ジョ"),
}
# Consonant + y before a vowel (the "mju:" of "music"): the consonant's i-kana and a small ya/yu/yo.
_SMALL_Y = {"a": "ャ", "u": "ュ", "o": "ョ", "e": "ェ"}
# The vowel Japanese adds after a consonant that ends a syllable: "it" is "itto", "much" "macchi".
_EPENTHESIS = {"t": "o", "d": "o", "tS": "i", "dZ": "i"}


def _kana(consonant: str, vowel: str) -> str:
    return _KANA_ROWS.get(consonant, _KANA_ROWS[""])["aiueo".index(vowel)]


def katakana_word(word: tuple[str, ...]) -> str:
    """One word of English phoneme tokens as katakana."""
    phones = [{"x": "k"}.get(t, t) for t in word if t in _KANA_VOWELS or t in _KANA_ROWS or t in ("x", "N")]
    out, i = [], 0
    while i < len(phones):
        p = phones[i]
        nxt = phones[i + 1] if i + 1 < len(phones) else None
        if p in _KANA_VOWELS:
            vowel, tail = _KANA_VOWELS[p]
            out.append(_kana("", vowel) + tail)
        elif nxt in _KANA_VOWELS:
            vowel, tail = _KANA_VOWELS[nxt]
            out.append(_kana("n" if p == "N" else p, vowel) + tail)
            i += 1
        elif nxt == "j" and i + 2 < len(phones) and _KANA_VOWELS.get(phones[i + 2], ("i",))[0] in _SMALL_Y:
            vowel, tail = _KANA_VOWELS[phones[i + 2]]
            out.append(_kana(p, "i")[0] + _SMALL_Y[vowel] + tail)
            i += 2
        elif p in ("n", "N") or (p == "m" and nxt in ("p", "b", "m")):
            out.append("ン" + ("グ" if p == "N" and nxt not in ("k", "g") else ""))
        elif p == "r" and out:
            pass  # after a vowel: American r-colouring, which Japanese hears as length
        else:
            out.append(_kana(p, _EPENTHESIS.get(p, "u")))
        i += 1
    return "".join(out)


def katakana_input(text: str) -> str:
    """English `text` as katakana, the way a Japanese reader would say its sounds."""
    # Run together: Open JTalk pauses at every space or comma, a reader of loanwords does not.
    words = "".join(katakana_word(w) for w in english_phonemes(text))
    end = text.rstrip()[-1:]
    return words + {"?": "？", "!": "！"}.get(end, "。")
