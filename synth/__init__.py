"""Dataset synthesis for wakeword: TTS, mixing, augmentation, evaluation streams."""
