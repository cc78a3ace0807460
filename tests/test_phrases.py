"""Prosody variants and hard negatives built from the phrase itself."""

from __future__ import annotations

import pytest

from synth import phrases
from synth.phrases import CONFUSABLE, SPEECH, contains_phrase, normalize


@pytest.fixture(scope="module")
def activate():
    return phrases.negatives("activate")


@pytest.fixture(scope="module")
def jarvis():
    return phrases.negatives("hey jarvis")


def _texts(utterances, kind=None):
    return [normalize(u.text) for u in utterances if kind is None or u.kind == kind]


def test_activate_negatives_hold_its_sound_alikes_and_parts(activate):
    confusable = set(_texts(activate, CONFUSABLE))
    assert {"activity", "captivate", "active", "cultivate", "motivate", "activist", "activation"} <= confusable
    assert {"act", "tivate"} <= confusable  # parts of the word said alone


def test_hey_jarvis_negatives_hold_its_words_and_swaps(jarvis):
    confusable = set(_texts(jarvis, CONFUSABLE))
    assert {"hey", "jarvis", "okay jarvis", "hi jarvis"} <= confusable
    swapped = {t for t in confusable if t.startswith("hey ")}
    assert swapped & {"hey service", "hey davis", "hey harvest", "hey travis", "hey mavis"}
    assert {t for t in confusable if t.endswith(" jarvis")} - {"hey jarvis"}


@pytest.mark.parametrize("phrase, forbidden", [
    ("activate", {"activate", "activated", "deactivate", "reactivate", "activates", "inactivated"}),
    ("hey jarvis", {"hey jarvis", "hay jarvis"}),  # "hay jarvis" sounds exactly like the phrase
])
def test_no_negative_contains_the_phrase(phrase, forbidden, activate, jarvis):
    utterances = activate if phrase == "activate" else jarvis
    texts = _texts(utterances)
    assert not forbidden & set(texts)
    assert not [t for t in texts if normalize(phrase).replace(" ", "") in t.replace(" ", "")]
    lex = phrases.lexicon()
    assert not [t for t in texts if contains_phrase(t, phrase, lex)]


def test_contains_phrase_by_letters_and_by_sound():
    assert contains_phrase("Please reactivate it.", "activate")
    assert contains_phrase("hey, Jarvis!", "hey jarvis")
    assert contains_phrase("heyjarvis", "hey jarvis")
    assert contains_phrase("hay jarvis", "hey jarvis")  # same phonemes
    assert not contains_phrase("activity", "activate")
    assert not contains_phrase("hey travis", "hey jarvis")


def test_negatives_mix_hard_and_ordinary_speech_deterministically(activate):
    kinds = {u.kind for u in activate}
    assert kinds == {CONFUSABLE, SPEECH}
    speech = _texts(activate, SPEECH)
    assert len(speech) > 200 and any(len(t.split()) > 3 for t in speech), "common words and sentences"
    assert len(set(_texts(activate))) == len(activate), "each text once"
    assert phrases.negatives("activate") == activate


def test_a_phrase_outside_the_word_list_still_gets_sound_alikes():
    found = phrases.confusables("okay nabu")
    assert "nabu" in found and any(t.startswith("okay ") and t != "okay nabu" for t in found)
    assert not [t for t in found if contains_phrase(t, "okay nabu")]


def test_prosody_variants_say_only_the_phrase():
    variants = phrases.prosody_variants("Hey Jarvis")
    assert len(set(variants)) == len(variants) >= 5
    assert {normalize(v) for v in variants} == {"hey jarvis"}
    assert any(v.endswith("?") for v in variants) and any(v.endswith("!") for v in variants)


def test_phonemes_are_parsed_without_stress_marks():
    assert phrases.parse_phonemes("'a_k_t_I#_v_,eI_t") == ("a", "k", "t", "I", "v", "eI", "t")
    lex = phrases.lexicon()
    assert len(lex.words) > 30000 and lex.words[0] == "the"
    hey, hay = lex.sounds(["hey", "hay"])
    assert hey == hay == ("h", "eI")
