"""scripts/game_speech.py: a game's dialogue lines out of its resource archive, as negatives."""

from __future__ import annotations

import importlib.util
import io
import struct
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from synth.clips import load_clips

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("game_speech", ROOT / "scripts" / "game_speech.py")
game_speech = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(game_speech)


def _mp3(seconds: float, rate: int = 11025) -> bytes:
    buffer = io.BytesIO()
    t = np.arange(int(seconds * rate)) / rate
    sf.write(buffer, (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), rate, format="MP3")
    return buffer.getvalue()


def _archive(entries: list[tuple[str, bytes]], compression: int = 1) -> bytes:
    """queen.1c's layout: header, 21-byte entries, then the files they point at."""
    header = b"QTBL" + b"CEM10\0\0\0" + bytes([compression]) + struct.pack(">H", len(entries))
    offset = len(header) + 21 * len(entries)
    table, body = b"", b""
    for name, data in entries:
        table += struct.pack(">12sBII", name.encode(), 1, offset + len(body), len(data))
        body += data
    return header + table + body


def test_speech_lines_come_out_as_audio_and_nothing_else(tmp_path):
    archive = tmp_path / "queen.1c"
    archive.write_bytes(_archive([("000001P1.SB", _mp3(1.5)), ("ROOM1.BBK", b"\1" * 300), ("000002J1.SB", _mp3(0.7))]))
    out = tmp_path / "lines"
    assert game_speech.extract(archive, out) == 2
    assert sorted(p.name for p in out.iterdir()) == ["000001P1.mp3", "000002J1.mp3", "metadata.jsonl"]
    clips = {Path(c.source).name: c for c in load_clips(out, 16000).clips}
    assert sorted((c.engine, c.kind) for c in clips.values()) == [("fotaq", "speech")] * 2
    assert abs(len(clips["000001P1.mp3"].audio) / 16000 - 1.5) < 0.1  # decoded and resampled, not just copied bytes
    assert not (tmp_path / "lines.partial").exists()
    archive.unlink()
    assert game_speech.extract(archive, out) == 2  # done: the archive is not read again


@pytest.mark.parametrize(
    "data, message",
    [(b"RIFF" + b"\0" * 40, "not a Flight of the Amazon Queen"),
     (_archive([("A.SB", b"x")], compression=2), "not MP3"),
     (_archive([("A.SB", b"x" * 50)])[:-10], "A.SB ends past the file"),
     (_archive([("A.SB", b"x"), ("B.SB", b"y")])[:30], "table of 2 entries ends past the file")],
)
def test_a_wrong_archive_is_refused_and_leaves_no_folder(tmp_path, data, message):
    archive = tmp_path / "queen.1c"
    archive.write_bytes(data)
    with pytest.raises(game_speech.ArchiveError, match=message):
        game_speech.extract(archive, tmp_path / "lines")
    assert not (tmp_path / "lines").exists()


def test_the_command_finds_the_unpacked_package_or_says_in_one_line_how_to_get_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(game_speech, "ARCHIVE_PLACES", (tmp_path / "build" / "debian" / "flight-of-the-amazon-queen",))
    monkeypatch.setattr(sys, "argv", ["game_speech.py", str(tmp_path / "lines")])
    assert game_speech.main() == 1
    assert capsys.readouterr().err.strip() == "game_speech: Flight of the Amazon Queen is not unpacked: run scripts/setup.sh"
    archive = game_speech.ARCHIVE_PLACES[0] / game_speech.QUEEN_1C
    archive.parent.mkdir(parents=True)
    archive.write_bytes(_archive([("000001P1.SB", _mp3(1.0))]))
    assert game_speech.main() == 0
    assert capsys.readouterr().err.strip() == f"game_speech: 1 lines of dialogue in {tmp_path / 'lines'}"
