"""Real connected speech from a Debian package: Flight of the Amazon Queen's dialogue.

The freeware adventure game (Debian's `flight-of-the-amazon-queen`, main; its licence
lets anyone give it away and modify it) ships its voiced dialogue, 6,745 lines said by
its cast of actors (278 min of English, 11 kHz), inside one archive, `queen.1c`. The
lines are real people talking in sentences, the kind of audio the fused models fire on
(docs/levers.md 27) and that ../shared/real holds only an hour of. This takes the lines
out as the MP3 files they are stored as, for `synth generate --negatives`, with a
metadata.jsonl that calls them speech of the engine "fotaq" (the validation then counts
them as speech, not as sound-alikes; drawing is the same).

`scripts/setup.sh` unpacks the package (without installing ScummVM) into
build/debian; a system-wide install is used when there is one.

    .venv/bin/python scripts/game_speech.py OUT_DIR
"""

from __future__ import annotations

import argparse
import json
import os
import struct
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
QUEEN_1C = Path("usr/share/scummvm/flight-of-the-amazon-queen/queen.1c")
ARCHIVE_PLACES = (ROOT / "build" / "debian" / "flight-of-the-amazon-queen", Path("/"))
# queen.1c: a 15-byte header (compression kind at 12: 1 is MP3; entry count, big-endian
# uint16, at 13), then 21-byte entries: name (12 bytes, NUL-padded), bundle, big-endian
# uint32 offset and size.
_HEADER = 15
_ENTRY = struct.Struct(">12sBII")
_MP3 = 1
SPEECH_SUFFIX = ".SB"
ENGINE = "fotaq"


class ArchiveError(Exception):
    pass


def find_archive() -> Path | None:
    return next((place / QUEEN_1C for place in ARCHIVE_PLACES if (place / QUEEN_1C).is_file()), None)


def speech_entries(data: bytes) -> list[tuple[str, bytes]]:
    """(name, MP3 bytes) of every speech line in a queen.1c archive's contents."""
    if len(data) < _HEADER or data[:4] != b"QTBL":
        raise ArchiveError("not a Flight of the Amazon Queen resource archive (queen.1c)")
    if data[12] != _MP3:
        raise ArchiveError(f"queen.1c holds compression kind {data[12]}, not MP3 (1): the CD version from Debian is expected")
    (count,) = struct.unpack(">H", data[13:15])
    if _HEADER + count * _ENTRY.size > len(data):
        raise ArchiveError(f"queen.1c is truncated: its table of {count} entries ends past the file")
    entries = []
    for i in range(count):
        raw, _bundle, offset, size = _ENTRY.unpack_from(data, _HEADER + i * _ENTRY.size)
        name = raw.split(b"\0")[0].decode("ascii", errors="replace")
        if name.endswith(SPEECH_SUFFIX):
            if offset + size > len(data):
                raise ArchiveError(f"queen.1c is truncated: {name} ends past the file")
            entries.append((name[: -len(SPEECH_SUFFIX)] + ".mp3", data[offset : offset + size]))
    return entries


def extract(archive: Path, out: Path) -> int:
    """The archive's speech lines as MP3 files in `out`; a second call finds them there.

    The folder is filled beside `out` and renamed into place, so an interrupted run leaves
    no half folder for a recipe to train on."""
    if out.is_dir():
        return sum(1 for _ in out.glob("*.mp3"))
    entries = speech_entries(archive.read_bytes())
    partial = out.with_name(out.name + ".partial")
    partial.mkdir(parents=True, exist_ok=True)
    for name, mp3 in entries:
        (partial / name).write_bytes(mp3)
    (partial / "metadata.jsonl").write_text("".join(
        json.dumps({"file": name, "engine": ENGINE, "voice": Path(name).stem, "text": "", "kind": "speech"}) + "\n" for name, _ in entries))
    os.replace(partial, out)
    return len(entries)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path, help="folder for the MP3 files (made; kept if it exists)")
    args = parser.parse_args()
    archive = find_archive()
    if archive is None:
        print("game_speech: Flight of the Amazon Queen is not unpacked: run scripts/setup.sh", file=sys.stderr)
        return 1
    try:
        n = extract(archive, args.out)
    except (ArchiveError, OSError) as exc:
        print(f"game_speech: {archive}: {exc}", file=sys.stderr)
        return 1
    print(f"game_speech: {n} lines of dialogue in {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
