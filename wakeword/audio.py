"""Audio file I/O and sample-rate conversion, as pure functions over numpy arrays."""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from .errors import AudioError, first_line
from .fileio import atomic_output

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".oga", ".mp3", ".aiff", ".aif", ".au", ".opus")


RESAMPLE_QUALITY = "HQ"


def resample(audio: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """Offline resampling with the same filter `Resampler` streams with."""
    audio = np.asarray(audio, dtype=np.float32)
    if from_rate == to_rate:
        return audio
    return soxr.resample(audio, from_rate, to_rate, quality=RESAMPLE_QUALITY).astype(np.float32, copy=False)


class Resampler:
    """Chunk-by-chunk resampling for live audio; a no-op when the rates match."""

    def __init__(self, from_rate: int, to_rate: int):
        self.from_rate, self.to_rate = int(from_rate), int(to_rate)
        self._stream = (
            None
            if self.from_rate == self.to_rate
            else soxr.ResampleStream(self.from_rate, self.to_rate, 1, dtype="float32", quality=RESAMPLE_QUALITY)
        )

    def push(self, chunk: np.ndarray, last: bool = False) -> np.ndarray:
        chunk = np.asarray(chunk, dtype=np.float32)
        if self._stream is None:
            return chunk
        return self._stream.resample_chunk(chunk, last=last)


def to_mono_float(data: np.ndarray) -> np.ndarray:
    """Any channel layout and sample type to mono float32 in [-1, 1]."""
    data = np.asarray(data)
    if data.dtype.kind in "iu":
        info = np.iinfo(data.dtype)
        scale = float(max(-info.min, info.max + 1))
        offset = (info.max + info.min + 1) / 2 if data.dtype.kind == "u" else 0.0
        data = (data.astype(np.float32) - offset) / scale
    data = data.astype(np.float32, copy=False)
    if data.ndim == 2:
        data = data.mean(axis=1)
    return data


def _existing_file(path: str | Path) -> Path:
    path = Path(path)
    if not path.exists():
        raise AudioError(f"audio file not found: {path}")
    if path.is_dir():
        raise AudioError(f"expected an audio file, got a folder: {path}")
    return path


@contextmanager
def _decoding(path: Path):
    """libsndfile's failures while opening or decoding `path`, as one-line AudioErrors."""
    try:
        yield
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
        raise AudioError(f"cannot read audio {path}: {first_line(exc)}") from None


def _finite(audio: np.ndarray, path: Path) -> np.ndarray:
    if not np.all(np.isfinite(audio)):
        raise AudioError(f"audio file contains invalid samples (NaN/inf): {path}")
    return audio


def load_audio(path: str | Path, sample_rate: int) -> np.ndarray:
    """Read any common audio file as mono float32 at `sample_rate`.

    Raises AudioError (one line, naming the file) for missing, unreadable or empty audio.
    """
    path = _existing_file(path)
    with _decoding(path):
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    if data.shape[0] == 0:
        raise AudioError(f"audio file is empty: {path}")
    return _finite(resample(to_mono_float(data), rate, sample_rate), path)


@dataclass
class AudioStream:
    """Mono audio at its source's own rate, in blocks read only when they are needed."""

    name: str
    sample_rate: int
    frames: int | None  # None: the length is known only at the end (a pipe)
    blocks: Iterator[np.ndarray]


def open_audio_stream(path: str | Path, block_s: float = 1.0) -> AudioStream:
    """A file as blocks of mono float32 at its native rate: constant memory for any length.

    Missing, unreadable and empty files fail here; a file corrupt further in fails
    (as AudioError) when the block that holds the damage is read.
    """
    path = _existing_file(path)
    with _decoding(path):
        handle = sf.SoundFile(str(path))
    if handle.frames == 0:
        handle.close()
        raise AudioError(f"audio file is empty: {path}")
    block = max(1, round(block_s * handle.samplerate))
    return AudioStream(str(path), handle.samplerate, handle.frames, _file_blocks(handle, path, block))


def _file_blocks(handle: sf.SoundFile, path: Path, block: int) -> Iterator[np.ndarray]:
    with handle, _decoding(path):
        for data in handle.blocks(block, dtype="float32", always_2d=True):
            yield _finite(to_mono_float(data), path)


def decode_audio_bytes(data: bytes, sample_rate: int, name: str = "audio") -> np.ndarray:
    """Like load_audio, for an in-memory file (e.g. a TTS engine's wav on stdout)."""
    try:
        samples, rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
        raise AudioError(f"cannot decode {name}: {first_line(exc)}") from None
    if samples.shape[0] == 0:
        raise AudioError(f"{name} is empty")
    return resample(to_mono_float(samples), rate, sample_rate)


def write_wav(path: str | Path, audio: np.ndarray, sample_rate: int) -> None:
    """Write 16-bit PCM wav atomically (a reader never sees half a file)."""
    with atomic_output(path) as tmp:
        sf.write(tmp, np.clip(audio, -1.0, 1.0), sample_rate, subtype="PCM_16", format="WAV")


def frame_dbfs(audio: np.ndarray, frame: int) -> np.ndarray:
    """RMS level in dBFS of each whole `frame`-sample frame (-200 for digital silence)."""
    n = len(audio) // frame
    squares = np.square(audio[: n * frame].reshape(n, frame), dtype=np.float64)
    return 10.0 * np.log10(np.maximum(np.mean(squares, axis=1), 1e-20))


def dbfs(audio: np.ndarray) -> float:
    """RMS level in dB relative to full scale; -inf for digital silence."""
    rms = float(np.sqrt(np.mean(np.square(audio, dtype=np.float64)))) if audio.size else 0.0
    return 20.0 * np.log10(rms) if rms > 0 else float("-inf")


def list_audio_files(folder: str | Path) -> list[Path]:
    """Audio files below `folder`, sorted so that every run sees the same order."""
    folder = Path(folder)
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS)
