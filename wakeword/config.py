"""Typed configuration, loaded from YAML and validated once.

The whole recipe (features, model, synthesis, training, detection) is one `Config`.
It is resolved here, stored inside every dataset manifest and model file, and rebuilt
from there, so an artifact never depends on the YAML file that made it.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError


FRONTEND_KINDS = ("mel", "speech_embedding")
# What wakeword.embedding's time line and output size come to (checked in its tests).
SPEECH_EMBEDDING_FEATURES = {"sample_rate": 16000, "window_ms": 822.0, "hop_ms": 80.0, "n_mels": 96}


@dataclass(frozen=True)
class FeatureConfig:
    # "mel": the spectrogram of wakeword.features; "speech_embedding": a speech embedding
    # learnt from real speech (wakeword.embedding), which fixes rate, window, hop and size.
    frontend: str = "mel"
    sample_rate: int = 16000
    window_ms: float = 25.0
    hop_ms: float = 10.0
    n_fft: int = 512
    n_mels: int = 40
    fmin: float = 20.0
    fmax: float = 7600.0
    # "log": log(mel + floor); "pcen": per-channel energy normalisation, which divides
    # each band by its own slow-moving average and so is insensitive to input level.
    normalization: str = "log"
    log_floor: float = 1e-6
    pcen_time_constant_s: float = 0.4
    pcen_alpha: float = 0.98
    pcen_delta: float = 2.0
    pcen_r: float = 0.5
    pcen_eps: float = 1e-6

    @property
    def win_length(self) -> int:
        return int(round(self.sample_rate * self.window_ms / 1000))

    @property
    def hop_length(self) -> int:
        return int(round(self.sample_rate * self.hop_ms / 1000))

    def validate(self) -> None:
        _require(self.frontend in FRONTEND_KINDS, f"features.frontend must be one of {', '.join(FRONTEND_KINDS)}, not {self.frontend!r}")
        if self.frontend == "speech_embedding":
            wrong = [f"{k}: {getattr(self, k):g}" for k, v in SPEECH_EMBEDDING_FEATURES.items() if getattr(self, k) != v]
            fixed = ", ".join(f"{k}: {v:g}" for k, v in SPEECH_EMBEDDING_FEATURES.items())
            _require(not wrong, f"features.frontend speech_embedding fixes {fixed} (its rate, window, step and size), not {', '.join(wrong)}")
            return
        _require(self.sample_rate >= 8000, "features.sample_rate must be at least 8000")
        _require(0 < self.hop_length <= self.win_length, "features.hop_ms must be > 0 and <= window_ms")
        _require(self.n_fft >= self.win_length, "features.n_fft must be >= the window length in samples")
        _require(self.n_mels > 0, "features.n_mels must be positive")
        _require(0 <= self.fmin < self.fmax <= self.sample_rate / 2, "features: need 0 <= fmin < fmax <= sample_rate/2")
        _require(self.normalization in ("log", "pcen"), "features.normalization must be 'log' or 'pcen'")
        _require(self.log_floor > 0, "features.log_floor must be positive")


@dataclass(frozen=True)
class ModelConfig:
    conv_channels: int = 128
    conv_kernel: int = 15
    conv_stride: int = 4
    gru_hidden: int = 128
    gru_layers: int = 2
    dropout: float = 0.2

    @property
    def head_width(self) -> int:
        """What the output layer reads: the last GRU's state, or without GRUs the convolution's channels."""
        return self.gru_hidden if self.gru_layers else self.conv_channels

    def validate(self) -> None:
        _require(self.conv_channels > 0 and self.gru_hidden > 0, "model sizes must be positive")
        _require(self.conv_kernel >= self.conv_stride >= 1, "model: need conv_kernel >= conv_stride >= 1")
        _require(self.gru_layers >= 0, "model.gru_layers must be >= 0 (0: no GRU, the head reads the convolution's window)")
        _require(0 <= self.dropout < 1, "model.dropout must be in [0, 1)")


@dataclass(frozen=True)
class SynthConfig:
    clip_s: float = 10.0
    label_s: float = 0.5
    n_examples: int = 2000
    max_positives: int = 4
    max_negatives: int = 4
    no_positive_share: float = 0.15
    snr_db: tuple[float, float] = (0.0, 25.0)
    speech_dbfs: tuple[float, float] = (-45.0, -12.0)
    speed: tuple[float, float] = (0.9, 1.1)
    pitch_semitones: tuple[float, float] = (-2.0, 2.0)
    reverb_prob: float = 0.5
    eq_prob: float = 0.4
    clipping_prob: float = 0.05
    val_fraction: float = 0.15
    shard_size: int = 250
    # Voices (engine:voice) kept out of training and validation: they make the eval stream.
    heldout_voices: tuple[str, ...] = ()
    rt60_s: tuple[float, float] = (0.1, 0.8)  # synthetic rooms' reverberation times
    gap_s: float = 0.2  # least silence between two inserted clips
    # Insertions of one example sit within this many dB of the example's speech level.
    level_spread_db: float = 4.0
    babble_talkers: tuple[int, int] = (3, 10)
    background_drift_db: float = 6.0  # how far a background's level wanders within a clip
    recorded_background_share: float = 0.7  # with --backgrounds: share of examples over recordings
    stream_positive_every_s: tuple[float, float] = (20.0, 40.0)  # `synth stream`: time between positives
    stream_gap_s: tuple[float, float] = (0.3, 3.0)  # `synth stream`: silence between utterances
    # How evenly engines share the clips drawn into examples: each clip is drawn with
    # weight (clips of its engine) ** -engine_balance. 0: every clip alike, so the engine
    # with most voices dominates; 1: every engine (and a folder of recordings) alike.
    # 0.5 measured best (docs/levers.md).
    engine_balance: float = 0.5
    # Share of clips respoken through an LPC vocoder with a new source (pulses at a scaled
    # pitch, noise, smoothed envelope): a different kind of voice saying the same words.
    vocoder_prob: float = 0.0
    # Share of clips whose syllable-long pieces each get their own tempo from segment_speed.
    uneven_tempo_prob: float = 0.0
    segment_speed: tuple[float, float] = (0.75, 1.33)
    # With `synth generate --hard-negatives DIR` (clips mined by `synth mine`): share of
    # negative insertions drawn from that folder instead of the whole negative pool.
    hard_negative_share: float = 0.3

    def validate(self) -> None:
        _require(self.clip_s > 1.0, "synth.clip_s must be more than 1 second")
        _require(0 < self.label_s < self.clip_s, "synth.label_s must be positive and shorter than clip_s")
        _require(self.n_examples > 0 and self.shard_size > 0, "synth.n_examples and synth.shard_size must be positive")
        _require(self.max_positives >= 0 and self.max_negatives >= 0, "synth.max_positives/max_negatives must be >= 0")
        for name in ("no_positive_share", "reverb_prob", "eq_prob", "clipping_prob", "val_fraction", "recorded_background_share", "engine_balance",
                     "vocoder_prob", "uneven_tempo_prob", "hard_negative_share"):
            _require(0 <= getattr(self, name) <= 1, f"synth.{name} must be in [0, 1]")
        for name in ("snr_db", "speech_dbfs", "speed", "pitch_semitones", "rt60_s", "babble_talkers", "stream_positive_every_s", "stream_gap_s",
                     "segment_speed"):
            lo, hi = getattr(self, name)
            _require(lo <= hi, f"synth.{name} must be [low, high] with low <= high")
        _require(self.speed[0] > 0 and self.segment_speed[0] > 0, "synth.speed and synth.segment_speed must be positive")
        _require(self.speech_dbfs[1] <= 0, "synth.speech_dbfs must be at most 0 dBFS")
        _require(self.rt60_s[0] > 0 and self.stream_positive_every_s[0] > 0, "synth.rt60_s and synth.stream_positive_every_s must be positive")
        _require(self.babble_talkers[0] >= 1, "synth.babble_talkers must be at least 1")
        for name in ("gap_s", "level_spread_db", "background_drift_db"):
            _require(getattr(self, name) >= 0, f"synth.{name} must be >= 0")
        _require(self.stream_gap_s[0] >= 0, "synth.stream_gap_s must be >= 0")


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 30
    batch_size: int = 32
    learning_rate: float = 2e-3
    weight_decay: float = 1e-5
    pos_weight: float = 5.0
    freq_masks: int = 2
    freq_mask_width: int = 6
    time_masks: int = 2
    time_mask_width: int = 20
    # Which epoch model.npz holds: "best" by validation recall (ending the run after
    # early_stopping_patience epochs without gain) or "last" (the schedule run out).
    keep_epoch: str = "best"
    early_stopping_patience: int = 6
    # Event-level validation: recall at this many false accepts per hour of negative audio.
    val_false_accepts_per_hour: float = 1.0
    num_threads: int = 0  # 0: all cores
    max_minutes: float = 0.0  # 0: no limit; otherwise the schedule shortens to end within it, and a hard stop
    # Share of the learning-rate schedule spent warming up (OneCycle's rising part).
    warmup_share: float = 0.1
    grad_clip_norm: float = 5.0  # 0: no clipping
    # Long-stream stability: the chance that a training row keeps the GRU state its
    # previous batch ended with, so rows become streams of clips (see training.py).
    stream_carry: float = 0.9
    # Vocal tract length perturbation: each example's frequency axis is scaled by a
    # factor drawn log-uniformly from this range (1, 1: off); formants move, pitch stays.
    vocal_tract_warp: tuple[float, float] = (0.8, 1.25)
    # `make model`'s second stage: this many epochs from the first stage's model on data
    # whose negatives include the clips that model mistakes for the phrase (synth mine;
    # synth.hard_negative_share). 0: one stage.
    finetune_epochs: int = 0
    # Validate and save an exponential moving average of the weights (and BatchNorm
    # statistics), with this decay per optimizer step, instead of the last step's
    # weights: one noisy batch no longer decides the model. 0: off.
    weight_average: float = 0.0
    # Focal loss: each step's loss scaled by (1 - p_true)^gamma. 0: plain weighted BCE.
    focal_gamma: float = 0.0

    def validate(self) -> None:
        _require(self.epochs >= 1 and self.batch_size >= 1, "train.epochs and train.batch_size must be >= 1")
        _require(self.learning_rate > 0, "train.learning_rate must be positive")
        _require(self.pos_weight > 0, "train.pos_weight must be positive")
        _require(self.num_threads >= 0 and self.max_minutes >= 0, "train.num_threads and train.max_minutes must be >= 0")
        _require(self.weight_decay >= 0 and self.grad_clip_norm >= 0, "train.weight_decay and train.grad_clip_norm must be >= 0")
        for name in ("freq_masks", "freq_mask_width", "time_masks", "time_mask_width"):
            _require(getattr(self, name) >= 0, f"train.{name} must be >= 0")
        _require(self.finetune_epochs >= 0, "train.finetune_epochs must be >= 0")
        _require(self.keep_epoch in ("best", "last"), f"train.keep_epoch must be 'best' or 'last', not {self.keep_epoch!r}")
        _require(self.early_stopping_patience >= 1, "train.early_stopping_patience must be >= 1")
        _require(self.val_false_accepts_per_hour > 0, "train.val_false_accepts_per_hour must be positive")
        _require(0 < self.warmup_share < 1, "train.warmup_share must be in (0, 1)")
        _require(0 <= self.stream_carry <= 1, "train.stream_carry must be in [0, 1]")
        _require(0 <= self.weight_average < 1, "train.weight_average must be in [0, 1)")
        _require(self.focal_gamma >= 0, "train.focal_gamma must be >= 0")
        low, high = self.vocal_tract_warp
        _require(0.5 <= low <= 1.0 <= high <= 2.0, "train.vocal_tract_warp must be [low, high] with 0.5 <= low <= 1 <= high <= 2")


@dataclass(frozen=True)
class DetectorConfig:
    threshold: float | None = None  # None: the model's calibrated threshold
    smoothing_steps: int = 1
    patience_steps: int = 1
    refractory_s: float = 1.5

    def with_overrides(self, **overrides: float | int | None) -> DetectorConfig:
        """These settings with every non-None override applied, validated."""
        merged = dataclasses.replace(self, **{k: v for k, v in overrides.items() if v is not None})
        merged.validate()
        return merged

    def validate(self) -> None:
        _require(self.threshold is None or 0 < self.threshold < 1, "detector.threshold must be in (0, 1)")
        _require(self.smoothing_steps >= 1 and self.patience_steps >= 1, "detector.smoothing_steps and patience_steps must be >= 1")
        _require(self.refractory_s >= 0, "detector.refractory_s must be >= 0")


@dataclass(frozen=True)
class Config:
    phrase: str = "activate"
    seed: int = 1234
    features: FeatureConfig = field(default_factory=FeatureConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    synth: SynthConfig = field(default_factory=SynthConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    detector: DetectorConfig = field(default_factory=DetectorConfig)

    def validate(self) -> None:
        _require(bool(self.phrase.strip()), "phrase must not be empty")
        for part in (self.features, self.model, self.synth, self.train, self.detector):
            part.validate()
        _require(self.features.frontend == "mel" or tuple(self.train.vocal_tract_warp) == (1.0, 1.0),
                 "train.vocal_tract_warp warps mel bands: set it to [1.0, 1.0] with features.frontend speech_embedding")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)


def from_dict(cls: type, data: Any, where: str = "config") -> Any:
    """Build dataclass `cls` from plain data, naming the exact key that is wrong."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{where} must be a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(map(str, unknown))}; allowed: {', '.join(sorted(names))}")
    values = {key: _coerce(hints[key], value, f"{where}.{key}") for key, value in data.items()}
    return cls(**values)


def _coerce(hint: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if dataclasses.is_dataclass(hint):
        return from_dict(hint, value, where)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _coerce(inner, value, where)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where} must be a list, got {value!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(args[0], v, f"{where}[{i}]") for i, v in enumerate(value))
        if len(value) != len(args):
            raise ConfigError(f"{where} must have {len(args)} items, got {len(value)}")
        return tuple(_coerce(a, v, f"{where}[{i}]") for i, (a, v) in enumerate(zip(args, value)))
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where} must be true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where} must be an integer, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where} must be a number, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where} must be a string, got {value!r}")
        return value
    raise TypeError(f"unsupported config type {hint} at {where}")


def config_from_dict(data: Any) -> Config:
    config = from_dict(Config, data)
    config.validate()
    return config


def read_yaml_file(path: str | Path) -> Any:
    """A YAML file's data; a missing, unreadable or malformed file is one ConfigError line."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(f"config {path} is not valid YAML{at}") from None


BASE_KEY = "extends"


def _merged(base: dict, override: dict) -> dict:
    """`base` with `override` laid over it, section by section."""
    out = dict(base)
    for key, value in override.items():
        out[key] = _merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def read_recipe(path: str | Path, seen: tuple[Path, ...] = ()) -> Any:
    """A config file's data with its `extends:` base (a path relative to the file) merged in.

    A new phrase is then one line over the default recipe (`extends: activate.yaml`,
    `phrase: ...`), so it cannot drift from it as the recipe changes.
    """
    path = Path(path)
    data = read_yaml_file(path)
    if not isinstance(data, dict) or BASE_KEY not in data:
        return data
    base = data.pop(BASE_KEY)
    if not isinstance(base, str) or not base.strip():
        raise ConfigError(f"{path}: {BASE_KEY} must name a config file, got {base!r}")
    base_path = (path.parent / base).resolve()
    if base_path in seen:
        raise ConfigError(f"{path}: {BASE_KEY} loops back to {base_path}")
    base_data = read_recipe(base_path, (*seen, path.resolve()))
    if not isinstance(base_data, dict):
        raise ConfigError(f"{base_path} (the base of {path}) must be a mapping")
    return _merged(base_data, data)


def load_config(path: str | Path) -> Config:
    path = Path(path)
    data = read_recipe(path)
    try:
        return config_from_dict(data)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
