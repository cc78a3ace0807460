"""The sounddevice/PortAudio edge: finding, opening and re-opening audio devices.

sounddevice is imported here only, and lazily: importing it without libportaudio2
raises OSError, which becomes one line naming the package. Every PortAudio failure
leaves this module as a `DeviceError` carrying what to do next.

PortAudio enumerates devices once, when it is initialised; a device that appears
later (an audio server that starts or restarts) is seen only after `reinitialize()`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .audio import to_mono_float
from .errors import DeviceError, PortAudioMissingError, first_line

NO_INPUT = "no audio input device found (no sound card, or no audio server running)"
DETECT_HINT = "on a machine without a microphone, run `wakeword detect FILE` on a recording"
NO_INPUT_HINT = f"check `wakeword devices`; {DETECT_HINT}"

CLOSE_TIMEOUT_S = 2.0

# PortAudio's calls that open, close or re-initialise are not meant to race each other
# (the capture stream, a chime, a re-initialisation after a lost device).
_portaudio_lock = threading.RLock()


@dataclass(frozen=True)
class InputDevice:
    index: int
    name: str
    hostapi: str
    channels: int
    default_rate: int
    is_default: bool

    def describe(self) -> str:
        return f"#{self.index} {self.name!r}"


def _sd():
    try:
        import sounddevice
    except OSError:
        raise PortAudioMissingError(
            "PortAudio library not found: install libportaudio2 (sudo apt-get install libportaudio2)"
        ) from None
    return sounddevice


def reinitialize() -> None:
    """Forget PortAudio's device list and enumerate again. No stream may be open."""
    sd = _sd()
    with _portaudio_lock:
        sd._terminate()
        sd._initialize()


def input_devices() -> list[InputDevice]:
    sd = _sd()
    with _portaudio_lock:
        default_input = sd.default.device[0]  # -1: none
        hostapis = sd.query_hostapis()
        return [
            InputDevice(
                index=info["index"],
                name=info["name"],
                hostapi=hostapis[info["hostapi"]]["name"],
                channels=info["max_input_channels"],
                default_rate=int(info["default_samplerate"]),
                is_default=info["index"] == default_input,
            )
            for info in sd.query_devices()
            if info["max_input_channels"] > 0
        ]


def find_input_device(spec: str | None) -> InputDevice:
    """The default input (spec None), the device with that index, or the one device
    whose name is `spec` or contains it (case-insensitive)."""
    devices = input_devices()
    if not devices:
        raise DeviceError(f"{NO_INPUT}: {NO_INPUT_HINT}")
    if spec is None:
        chosen = [d for d in devices if d.is_default] or devices[:1]
        return chosen[0]
    if spec.strip().isdigit():
        by_index = [d for d in devices if d.index == int(spec)]
        if by_index:
            return by_index[0]
        raise DeviceError(f"no input device with index {spec}: see `wakeword devices`")
    wanted = spec.strip().lower()
    exact = [d for d in devices if d.name.lower() == wanted]
    matches = exact or [d for d in devices if wanted in d.name.lower()]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise DeviceError(f"no input device matches {spec!r}: see `wakeword devices`")
    names = ", ".join(d.describe() for d in matches)
    raise DeviceError(f"{spec!r} matches several input devices ({names}): give its index or full name")


def capture_settings(device: InputDevice, wanted_rate: int, forced_rate: int | None = None) -> tuple[int, int]:
    """(rate, channels) to capture with: mono at `wanted_rate` when the device takes it,
    else its own default rate (the engine resamples) and as few channels as it allows."""
    sd = _sd()
    rates = [forced_rate] if forced_rate else list(dict.fromkeys([wanted_rate, device.default_rate]))
    channel_options = list(dict.fromkeys([1, min(2, device.channels), device.channels]))
    last_error = ""
    for rate in rates:
        for channels in channel_options:
            try:
                with _portaudio_lock:
                    sd.check_input_settings(device=device.index, channels=channels, dtype="float32", samplerate=rate)
                return rate, channels
            except (sd.PortAudioError, ValueError) as exc:
                last_error = first_line(exc)
    tried = ", ".join(f"{r} Hz" for r in rates)
    raise DeviceError(f"input device {device.describe()} cannot capture at {tried} ({last_error}): see `wakeword devices`")


def open_input(
    device: InputDevice,
    rate: int,
    channels: int,
    block_frames: int,
    on_block: Callable[[np.ndarray, bool], None],
):
    """A started capture stream that calls `on_block(frames (n, channels) float32,
    overflowed)` on PortAudio's thread. The array is PortAudio's own buffer: copy it."""
    sd = _sd()

    def callback(indata, frames, time_info, status):
        on_block(indata, status.input_overflow)

    with _portaudio_lock:
        try:
            stream = sd.InputStream(
                device=device.index, samplerate=rate, channels=channels, dtype="float32",
                blocksize=block_frames, callback=callback,
            )
        except (sd.PortAudioError, ValueError) as exc:
            raise DeviceError(f"cannot open input device {device.describe()} at {rate} Hz: {first_line(exc)}; {NO_INPUT_HINT}") from None
        try:
            stream.start()
        except sd.PortAudioError as exc:
            stream.close(ignore_errors=True)
            raise DeviceError(f"cannot start input device {device.describe()}: {first_line(exc)}; {NO_INPUT_HINT}") from None
    return stream


def record(device: InputDevice, rate: int, channels: int, seconds: float, on_start: Callable[[], None],
           stall_timeout_s: float = 2.0) -> np.ndarray:
    """`seconds` of mono float32 audio from `device`; `on_start()` runs once capture has
    begun (a prompt printed then is never answered before the recording starts)."""
    wanted = int(round(seconds * rate))
    blocks: list[np.ndarray] = []
    done = threading.Event()

    def on_block(frames: np.ndarray, overflowed: bool) -> None:
        if not done.is_set():
            blocks.append(frames.copy())
            if sum(len(b) for b in blocks) >= wanted:
                done.set()

    stream = open_input(device, rate, channels, max(1, rate // 20), on_block)
    try:
        on_start()
        if not done.wait(seconds + stall_timeout_s):
            raise DeviceError(f"input device {device.describe()} stopped delivering audio: "
                              f"check that it is still connected; {NO_INPUT_HINT}")
    finally:
        close_input(stream)
    return to_mono_float(np.concatenate(blocks))[:wanted]


def close_input(stream, timeout_s: float = CLOSE_TIMEOUT_S) -> bool:
    """Stop at once, dropping what is buffered; a stream whose device is gone closes too.
    False when PortAudio has not let go after `timeout_s`: the stream is abandoned."""
    sd = _sd()

    def close() -> None:
        with _portaudio_lock:
            try:
                stream.abort(ignore_errors=True)
            finally:
                try:
                    stream.close(ignore_errors=True)
                except sd.PortAudioError:
                    pass

    # An audio server that dies as a stream starts can leave PortAudio's ALSA thread
    # looping on a dead device, and abort() waits for that thread forever.
    closer = threading.Thread(target=close, name="close-input", daemon=True)
    closer.start()
    closer.join(timeout_s)
    return not closer.is_alive()


def default_output_rate() -> int:
    sd = _sd()
    with _portaudio_lock:
        try:
            return int(sd.query_devices(kind="output")["default_samplerate"])
        except (sd.PortAudioError, ValueError) as exc:
            raise DeviceError(f"no audio output device: {first_line(exc)}") from None


def play(audio: np.ndarray, rate: int) -> None:
    """Play mono float audio on the default output; returns when it has been played."""
    sd = _sd()
    with _portaudio_lock:
        try:
            stream = sd.OutputStream(samplerate=rate, channels=1, dtype="float32")
            stream.start()
        except (sd.PortAudioError, ValueError) as exc:
            raise DeviceError(f"cannot play on the default output: {first_line(exc)}") from None
    try:
        stream.write(np.ascontiguousarray(audio, dtype=np.float32).reshape(-1, 1))
    except sd.PortAudioError as exc:
        raise DeviceError(f"playing on the default output failed: {first_line(exc)}") from None
    finally:
        with _portaudio_lock:
            stream.close(ignore_errors=True)
