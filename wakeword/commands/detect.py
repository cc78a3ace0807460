"""`wakeword detect FILE|-`: the listener's engine over a file or a pipe, events as they happen.

The engine is the same `StreamingDetector` the microphone uses, fed in blocks at the
input's own rate, so a file of any length streams in constant memory and gives the
events the listener would have given.
"""

from __future__ import annotations

import argparse
import io
import json
import struct
import sys
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, BinaryIO

import numpy as np
from tqdm import tqdm

from ..audio import AudioStream, open_audio_stream
from ..config import DetectorConfig
from ..detection import Event
from ..errors import AudioError, ConfigError
from ..fileio import atomic_write_bytes

if TYPE_CHECKING:
    from ..modelfile import LoadedModel
    from ..scoring import Scores
    from ..streaming import StreamingDetector

RAW_RATE = 16000
# A pipe is read in blocks this long: an event is printed at most this much after its audio.
PIPE_BLOCK_S = 0.08
# WAV writers that stream (arecord to a pipe) cannot know the data size and put a
# placeholder at or near the 32-bit maximum, or zero, in its place.
_WAV_UNKNOWN_SIZE = 0x7FFF0000
_WAV_MAX_HEADER_CHUNK = 1 << 20

EPILOG = """output:
  one line per event as it happens: audio time (seconds from the start), phrase, score;
  with --json one JSON object per line: {"phrase": ..., "score": ..., "time_s": ...}

examples:
  wakeword detect recording.wav
  wakeword detect --model runs/activate/model.npz --model runs/jarvis/model.npz meeting.flac --json
  arecord -f S16_LE -r 16000 -c 1 | wakeword detect -
  sox talk.mp3 -t raw -e signed -b 16 -c 1 -r 22050 - | wakeword detect --rate 22050 -
  wakeword detect stream.wav --threshold 0.8 --patience 3 --scores scores.npz
"""


def add_detector_options(p: argparse.ArgumentParser) -> None:
    """Overrides of the model's detector settings, shared with `wakeword eval`."""
    p.add_argument(
        "--threshold", type=float, metavar="P",
        help="fire when the (smoothed) score reaches P, in (0, 1) (default: each model's calibrated threshold)",
    )
    p.add_argument(
        "--patience", type=int, metavar="N",
        help="fire only after N consecutive output steps at or above the threshold (one step is 40 ms with the default model)",
    )
    p.add_argument("--smoothing", type=int, metavar="N", help="average the score over the last N output steps first")
    p.add_argument("--refractory", type=float, metavar="S", help="after an event, stay silent for S seconds of audio")


def detector_config(args: argparse.Namespace, base: DetectorConfig) -> DetectorConfig:
    # Checked here too so that the message names the flag, not the config key.
    if args.threshold is not None and not 0 < args.threshold < 1:
        raise ConfigError(f"--threshold must be between 0 and 1 (exclusive), got {args.threshold}")
    for flag, value in (("--patience", args.patience), ("--smoothing", args.smoothing)):
        if value is not None and value < 1:
            raise ConfigError(f"{flag} must be at least 1 step, got {value}")
    if args.refractory is not None and not args.refractory >= 0:
        raise ConfigError(f"--refractory must be 0 or more seconds, got {args.refractory}")
    return base.with_overrides(
        threshold=args.threshold, patience_steps=args.patience, smoothing_steps=args.smoothing, refractory_s=args.refractory
    )


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "detect",
        help="print the wake-word events in an audio file or in raw audio piped to stdin",
        description=(
            "Stream an audio file (any format libsndfile reads, any rate, channels mixed to mono) or stdin "
            "through the listener's detection engine and print each event as it happens. Stdin ('-') is raw "
            "16-bit little-endian mono PCM at --rate Hz, or a 16-bit PCM WAV stream (as arecord writes one)."
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("input", metavar="FILE|-", help="audio file, or - for audio on stdin")
    p.add_argument(
        "--model", action="append", metavar="M",
        help="model file; repeat to run several models at once (default: the bundled 'activate' model)",
    )
    p.add_argument(
        "--rate", type=int, metavar="HZ",
        help=f"sample rate of raw audio on stdin (default {RAW_RATE}); files and WAV streams carry their own",
    )
    p.add_argument("--json", action="store_true", help="print each event as one JSON object per line")
    p.add_argument(
        "--scores", metavar="OUT.npz",
        help="also save every output step's score: arrays times (seconds), scores (steps x models), phrases",
    )
    add_detector_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..modelfile import load_models
    from ..streaming import StreamingDetector, use_one_thread

    if args.rate is not None and args.input != "-":
        raise ConfigError("--rate is for raw audio on stdin (-); a file's own sample rate is used")
    if args.rate is not None and args.rate <= 0:
        raise ConfigError(f"--rate must be a positive number of samples per second, got {args.rate}")
    use_one_thread()
    models = load_models(args.model)
    detector = detector_config(args, models[0].config.detector)
    stream = stdin_stream(sys.stdin.buffer, args.rate) if args.input == "-" else open_audio_stream(args.input)
    engine = StreamingDetector(models, stream.sample_rate, detector)

    def show(event: Event) -> None:
        line = json.dumps(event.as_dict()) if args.json else f"{event.time_s:10.2f} s  {event.phrase}  {event.score:.3f}"
        tqdm.write(line, file=sys.stdout)
        sys.stdout.flush()

    scores = stream_through(engine, stream, show, keep_scores=args.scores is not None)
    if args.scores:
        save_scores(args.scores, scores, models)
    return 0


def stream_through(
    engine: StreamingDetector, stream: AudioStream, on_event: Callable[[Event], None], keep_scores: bool
) -> Scores | None:
    """Run a whole stream through the engine, calling `on_event` as events happen;
    the scores of every step when `keep_scores` (else memory stays constant)."""
    from ..scoring import Scores

    times, values = [], []
    total = stream.frames / stream.sample_rate if stream.frames else None
    with tqdm(total=total, unit="s", unit_scale=True, desc="audio", disable=total is None or not sys.stderr.isatty()) as bar:
        for step in engine.run(stream.blocks):
            for event in step.events:
                on_event(event)
            if keep_scores:
                times.append(step.scores.times)
                values.append(step.scores.values)
            bar.update(engine.audio_time_s - bar.n)
    if not engine.samples_in:
        raise AudioError(f"no audio in {stream.name}")
    if not keep_scores:
        return None
    return Scores(times=np.concatenate(times), values=np.concatenate(values, axis=0))


def save_scores(path: str, scores: Scores, models: list[LoadedModel]) -> None:
    buf = io.BytesIO()
    np.savez(
        buf,
        times=scores.times,
        scores=scores.values,
        phrases=np.array([m.phrase for m in models]),
    )
    atomic_write_bytes(path, buf.getvalue())


def stdin_stream(pipe: BinaryIO, rate: int | None) -> AudioStream:
    """Raw s16le mono at `rate`, or a 16-bit PCM WAV stream, read as it arrives."""
    if pipe.isatty():
        raise AudioError("stdin is a terminal: pipe audio into it, e.g. arecord -f S16_LE -r 16000 -c 1 | wakeword detect -")
    head = _read_up_to(pipe, 12)
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        wav_rate, channels, limit = _wav_stream_header(pipe)
        if rate is not None and rate != wav_rate:
            raise ConfigError(f"stdin is a WAV stream at {wav_rate} Hz but --rate says {rate}: drop --rate")
        return AudioStream("stdin", wav_rate, None, _pcm_blocks(pipe, b"", wav_rate, channels, limit))
    rate = rate or RAW_RATE
    return AudioStream("stdin", rate, None, _pcm_blocks(pipe, head, rate, 1, None))


def _read_up_to(pipe: BinaryIO, n: int) -> bytes:
    """n bytes, fewer only at the end of the stream (a raw pipe may return less per read)."""
    data = b""
    while len(data) < n:
        chunk = pipe.read(n - len(data))
        if not chunk:
            break
        data += chunk
    return data


def _wav_stream_header(pipe: BinaryIO) -> tuple[int, int, int | None]:
    """Read the chunks after 'RIFF....WAVE' up to 'data': (rate, channels, data bytes or None if unknown)."""
    fmt = None
    while True:
        header = _read_up_to(pipe, 8)
        if len(header) < 8:
            raise AudioError("the WAV stream on stdin ends before its audio data")
        chunk_id, size = header[:4], struct.unpack("<I", header[4:])[0]
        if chunk_id == b"data":
            break
        if size > _WAV_MAX_HEADER_CHUNK:
            raise AudioError(f"the WAV stream on stdin has a malformed header (a {size}-byte {chunk_id!r} chunk)")
        body = _read_up_to(pipe, size + size % 2)  # chunks are padded to even sizes
        if chunk_id == b"fmt ":
            fmt = body
    if fmt is None or len(fmt) < 16:
        raise AudioError("the WAV stream on stdin has no format chunk before its data")
    tag, channels, rate, _, _, bits = struct.unpack("<HHIIHH", fmt[:16])
    if tag == 0xFFFE and len(fmt) >= 26:  # WAVE_FORMAT_EXTENSIBLE: the real tag opens the sub-format GUID
        tag = struct.unpack("<H", fmt[24:26])[0]
    if tag != 1 or bits != 16 or channels < 1 or rate < 1:
        raise AudioError(
            f"the WAV stream on stdin is {bits}-bit, format {tag}, {channels} channel(s); only 16-bit PCM is read "
            "from a pipe: pass the file by name instead"
        )
    return rate, channels, size if 0 < size < _WAV_UNKNOWN_SIZE else None


def _pcm_blocks(pipe: BinaryIO, pending: bytes, rate: int, channels: int, limit: int | None) -> Iterator[np.ndarray]:
    """int16 blocks (frames, channels) of PIPE_BLOCK_S each, `limit` bytes in all at most."""
    frame_bytes = 2 * channels
    block_bytes = frame_bytes * max(1, round(PIPE_BLOCK_S * rate))
    total = 0
    while True:
        want = block_bytes - len(pending)
        if limit is not None:
            want = min(want, limit - total - len(pending))
        chunk = pipe.read(want) if want > 0 else b""
        pending += chunk
        whole = len(pending) - len(pending) % frame_bytes
        if whole:
            total += whole
            yield np.frombuffer(pending[:whole], dtype="<i2").reshape(-1, channels)
            pending = pending[whole:]
        if not chunk:
            break
    if pending:
        raise AudioError(
            f"stdin ended mid-sample: {total + len(pending)} bytes is not a whole number of "
            f"{frame_bytes}-byte samples; raw input must be 16-bit little-endian (s16le) PCM"
        )
