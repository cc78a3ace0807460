"""A tiny dataset in the `synth generate` format, made here from real espeak-ng speech.

Short clips of noise with the phrase (positives), confusable and ordinary words
(negatives) spoken into them; features from the real frontend, labels by the
generator's own rule. Made directly rather than through `synth generate`, so the
training tests stay fast and depend on the format only. The val split uses voices
the train split never has, as the real generator does.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from synth.mixer import step_labels
from synth_fixtures import WORDS, speak
from wakeword.config import Config, load_config
from wakeword.dataset import FORMAT, VERSION
from wakeword.features import FeatureExtractor
from wakeword.streaming_model import num_steps, step_end_seconds

ROOT = Path(__file__).resolve().parents[1]
TINY_CONFIG = ROOT / "configs" / "tiny.yaml"
VOICES = {"train": ["en-us", "en-gb", "en-us+f3", "en-gb-x-rp+m3"], "val": ["en-029", "en-gb-scotland+f2"]}
SPEEDS = (140, 175)


def _example(rng: np.random.Generator, config: Config, words: dict[str, list], extractor: FeatureExtractor) -> tuple:
    """One clip: noise with up to one utterance in each half; most clips hold the phrase."""
    rate, clip_s = config.features.sample_rate, config.synth.clip_s
    noise_dbfs = rng.uniform(-50, -35)
    audio = rng.standard_normal(int(clip_s * rate)).astype(np.float32) * 10 ** (noise_dbfs / 20)
    clips = []
    half = clip_s / 2
    for slot, pool in enumerate(rng.choice(["positive", "negative", "none"], size=2, p=[0.45, 0.35, 0.2])):
        if pool == "none":
            continue
        kind, voice, speech = words[pool][rng.integers(len(words[pool]))]
        gain_db = rng.uniform(-6, 0)
        room = half - len(speech) / rate - 0.05
        start_s = slot * half + rng.uniform(0.05, max(room, 0.06))
        i = int(start_s * rate)
        piece = speech[: len(audio) - i] * 10 ** (gain_db / 20)
        audio[i : i + len(piece)] += piece
        clips.append({"kind": kind, "source": "espeak-ng", "engine": "espeak-ng", "voice": voice,
                      "start_s": round(start_s, 4), "end_s": round(start_s + len(piece) / rate, 4), "gain_db": round(gain_db, 2)})
    features = extractor(audio)
    step_ends = step_end_seconds(np.arange(num_steps(len(features), config.model)), config.features, config.model)
    labels = step_labels([c["end_s"] for c in clips if c["kind"] == "positive"], step_ends, config.synth.label_s)
    return features.astype(np.float16), labels, {"background": {"kind": "white", "dbfs": round(noise_dbfs, 2)}, "clips": clips}


def write_tiny_dataset(out: Path, config: Config, counts: dict[str, int], seed: int = 0) -> Path:
    """Write DATASET/manifest.json and shards/{split}-NNNNN.npz for `counts` examples per split."""
    rng = np.random.default_rng(seed)
    extractor = FeatureExtractor(config.features)
    examples, shards = [], []
    (out / "shards").mkdir(parents=True)
    for split, n in counts.items():
        words = {
            "positive": [("positive", v, speak(config.phrase, v, s)) for v in VOICES[split] for s in SPEEDS],
            "negative": [(kind, v, speak(w, v)) for v in VOICES[split] for kind, ws in WORDS.items() for w in ws],
        }
        made = [_example(rng, config, words, extractor) for _ in range(n)]
        size = config.synth.shard_size
        for k, first in enumerate(range(0, n, size)):
            part = made[first : first + size]
            file = f"shards/{split}-{k:05d}.npz"
            np.savez(out / file, features=np.stack([p[0] for p in part]), labels=np.stack([p[1] for p in part]))
            shards.append({"file": file, "split": split, "examples": len(part)})
            for index, (_, _, record) in enumerate(part):
                examples.append({"id": len(examples), "split": split, "shard": file, "index": index, **record})
    manifest = {
        "format": FORMAT, "version": VERSION, "config": config.to_dict(), "seed": seed,
        "splits": {s: {"examples": n} for s, n in counts.items()}, "voices": VOICES, "shards": shards, "examples": examples,
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return out


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory) -> Path:
    """48 train and 16 val examples of 3 s for configs/tiny.yaml, made once per session."""
    return write_tiny_dataset(tmp_path_factory.mktemp("data") / "tiny", load_config(TINY_CONFIG), {"train": 48, "val": 16})
