"""wakeword: offline wake-word detection for Linux."""

__version__ = "0.1.0"
