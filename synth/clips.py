"""Clip folders: audio files in any format, rate and layout, plus optional `metadata.jsonl`.

A metadata line says who spoke a file: `{"file": "x.wav", "engine": "espeak-ng",
"voice": "en-us+f3", "text": "activate", "kind": "positive"}`. A file without one is a
user's recording: engine "user", voice = its speaker folder (the parent folder relative
to the clip folder), or the file's stem at the top level. Files that cannot be used
(unreadable, empty, silent) are skipped, each with its reason, never fatally.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import numpy as np

from wakeword.audio import list_audio_files, load_audio
from wakeword.errors import AudioError, DataError
from wakeword.fileio import atomic_write_bytes

METADATA = "metadata.jsonl"
USER_ENGINE = "user"
# A person's enrolment takes (`synth record`): few, and kept out of validation.
TAKES_ENGINE = "takes"
SILENCE_PEAK_DBFS = -60.0


@dataclass
class Clip:
    audio: np.ndarray  # mono float32 at the requested rate
    source: str  # the file it came from
    engine: str
    voice: str
    text: str
    kind: str

    @property
    def voice_id(self) -> str:
        return f"{self.engine}:{self.voice}"


@dataclass
class ClipSet:
    folder: Path
    clips: list[Clip] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file, why)

    def summary(self) -> str:
        voices = len({c.voice_id for c in self.clips})
        return f"{self.folder}: {len(self.clips)} clips from {voices} voices used, {len(self.skipped)} skipped"

    def report(self, stream: TextIO | None = None) -> None:
        """One line per skipped file, then the summary (to stderr by default)."""
        stream = stream or sys.stderr
        for name, why in self.skipped:
            print(f"skipped {name}: {why}", file=stream)
        print(self.summary(), file=stream)


def read_metadata(folder: str | Path, strict: bool = True) -> dict[str, dict]:
    """`metadata.jsonl` as {file: entry}; {} when there is none.

    strict: a line that is not a JSON object with a "file" raises DataError; otherwise such
    lines (e.g. half a line left by a killed writer) are dropped."""
    path = Path(folder) / METADATA
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror}") from None
    entries: dict[str, dict] = {}
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
            if not isinstance(entry, dict) or not isinstance(entry.get("file"), str):
                raise ValueError
        except ValueError:
            if strict:
                raise DataError(f"{path} line {number} is not a JSON object with a \"file\": fix or delete it") from None
            continue
        entries[Path(entry["file"]).as_posix()] = entry
    return entries


def write_metadata(folder: str | Path, entries: dict[str, dict]) -> None:
    """`metadata.jsonl` with one line per entry, sorted by file, replaced atomically."""
    lines = "".join(json.dumps(entries[name]) + "\n" for name in sorted(entries))
    atomic_write_bytes(Path(folder) / METADATA, lines.encode())


def load_clips(folder: str | Path, sample_rate: int, default_kind: str = "") -> ClipSet:
    """Every usable clip below `folder`, as mono float32 at `sample_rate`, in file order.

    One process reads thousands of short clips a second (decoding and soxr dominate), so
    there is no pool to start.

    default_kind: the kind of clips whose metadata does not say (e.g. "positive" for a
    folder of the user's own recordings of the phrase)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"clip folder not found: {folder} (make one with `synth speak` or fill it with recordings)")
    metadata = read_metadata(folder)
    files = list_audio_files(folder)
    names = [f.relative_to(folder).as_posix() for f in files]
    result = ClipSet(folder)
    found = set(names)
    result.skipped += [(name, f"listed in {METADATA} but not found") for name in metadata if name not in found]
    for name, path, loaded in zip(names, files, (_load_one(f, sample_rate) for f in files)):
        if isinstance(loaded, str):
            result.skipped.append((name, loaded))
            continue
        entry = metadata.get(name, {})
        speaker = Path(name).parent.as_posix()
        result.clips.append(Clip(
            audio=loaded,
            source=str(path),
            engine=str(entry.get("engine", USER_ENGINE)),
            voice=str(entry.get("voice", Path(name).stem if speaker == "." else speaker)),
            text=str(entry.get("text", "")),
            kind=str(entry.get("kind", default_kind)),
        ))
    if not result.clips:
        detail = f"{len(result.skipped)} skipped, e.g. {result.skipped[0][0]}: {result.skipped[0][1]}" \
            if result.skipped else "no audio files (.wav, .flac, .ogg, .mp3, ...)"
        raise DataError(f"no usable clip in {folder}: {detail}")
    return result


def _load_one(path: Path, sample_rate: int) -> np.ndarray | str:
    """The clip's audio, or why it cannot be used."""
    try:
        audio = load_audio(path, sample_rate)
    except AudioError as exc:
        # The report names the file first: drop the path from libsndfile's and our words.
        return re.sub(r"Error opening '[^']*': ", "", str(exc)).replace(f": {path}", "").replace(f" {path}", "")
    peak = float(np.max(np.abs(audio)))
    if peak == 0:
        return "silent (all samples are zero)"
    if 20 * np.log10(peak) < SILENCE_PEAK_DBFS:
        return f"silent (peak {20 * np.log10(peak):.0f} dBFS, below {SILENCE_PEAK_DBFS:.0f} dBFS)"
    return audio
