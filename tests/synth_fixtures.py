"""Tiny clip folders in the `synth speak` format, spoken here by real espeak-ng voices.

Positives say the phrase, negatives say confusables and ordinary words; one voice family
(en-gb-scotland) is meant to be held out. A small config makes 3 s examples.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from wakeword.audio import decode_audio_bytes, write_wav
from wakeword.config import Config, load_config

ROOT = Path(__file__).resolve().parents[1]
RATE = 16000
VOICES = ["en-us", "en-gb", "en-us+f3", "en-gb-x-rp+m3", "en-029", "en-us+m7", "en-gb-scotland", "en-gb-scotland+f2"]
HELDOUT = ("espeak-ng:en-gb-scotland*",)
WORDS = {"confusable": ["activity", "captivate"], "speech": ["hello", "weather", "music"]}


def speak(text: str, voice: str, speed: int = 160) -> np.ndarray:
    proc = subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "--stdout", text], capture_output=True, check=True)
    audio = decode_audio_bytes(proc.stdout, RATE, name=f"espeak-ng {voice}")
    voiced = np.flatnonzero(np.abs(audio) > 0.01)  # espeak pads with silence: keep the speech
    return audio[voiced[0] : voiced[-1] + 1]


def write_clip_folder(folder: Path, items: list[tuple[str, str, str]]) -> Path:
    """items: (voice, text, kind); writes NNN.wav files and metadata.jsonl."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    for i, (voice, text, kind) in enumerate(items):
        name = f"{i:03d}.wav"
        write_wav(folder / name, speak(text, voice, 140 + 20 * (i % 3)), RATE)
        lines.append(json.dumps({"file": name, "engine": "espeak-ng", "voice": voice, "text": text, "kind": kind}))
    (folder / "metadata.jsonl").write_text("\n".join(lines) + "\n")
    return folder


@pytest.fixture(scope="session")
def clip_folders(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("clips")
    positives = [(v, "activate", "positive") for v in VOICES for _ in range(2)]
    negatives = [(v, w, kind) for v in VOICES for kind, words in WORDS.items() for w in words]
    return {"positives": write_clip_folder(root / "positives", positives),
            "negatives": write_clip_folder(root / "negatives", negatives)}


def tiny_config(**synth) -> Config:
    """configs/tiny.yaml (3 s examples) with the held-out voices above and `synth` overrides."""
    config = load_config(ROOT / "configs" / "tiny.yaml")
    fields = {"n_examples": 12, "shard_size": 4, "val_fraction": 0.25, "heldout_voices": HELDOUT, **synth}
    return dataclasses.replace(config, synth=dataclasses.replace(config.synth, **fields))
