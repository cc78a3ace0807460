"""User-facing errors.

Every failure a user can cause (bad file, bad config, missing device) is raised as a
`WakewordError` subclass carrying one line that says what is wrong and what to do.
The CLIs print that line and exit with the error's code; anything else is a bug.
"""

from __future__ import annotations


def first_line(exc: BaseException) -> str:
    """The first line of a low-level error's message (its type name when it has none),
    for the one-line messages below."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class WakewordError(Exception):
    """An error with a one-line message meant for the user."""

    exit_code = 1


class ConfigError(WakewordError):
    exit_code = 2


class AudioError(WakewordError):
    exit_code = 3


class ModelFileError(WakewordError):
    exit_code = 4


class DeviceError(WakewordError):
    """No usable input device (or no audio server)."""

    exit_code = 5


class PortAudioMissingError(WakewordError):
    exit_code = 6


class DataError(WakewordError):
    """A dataset folder is missing, empty or inconsistent."""

    exit_code = 7


class ExtraMissingError(WakewordError):
    """A command needs a package of an extra (`wakeword[train]`, `wakeword[embedding]`) that is not installed."""

    exit_code = 9
