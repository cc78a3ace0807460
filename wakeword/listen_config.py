"""`ListenConfig`: how `wakeword listen` runs, from a YAML file's `listen:` section and flags.

Detector settings left unset (None) fall back to what each model file carries, so a
config only names what it changes. Flags override the file key by key.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .config import DetectorConfig, _require, from_dict, read_yaml_file
from .errors import ConfigError


@dataclass(frozen=True)
class ListenConfig:
    device: str | None = None  # input device name (substring) or index; None: the default input
    rate: int | None = None  # capture rate; None: the models' rate if the device takes it, else its own
    models: tuple[str, ...] = ()  # model files; empty: the bundled "activate" model
    threshold: float | None = None  # None: each model's calibrated threshold
    smoothing_steps: int | None = None
    patience_steps: int | None = None
    refractory_s: float | None = None
    exec: str | None = None  # shell command run on each detection
    exec_timeout_s: float = 10.0
    chime: bool = False
    json: bool = False
    health_interval_s: float = 60.0  # 0: no health lines
    wait_for_device: bool = False
    stall_timeout_s: float = 2.0  # this long without audio means the device is gone
    block_ms: float = 80.0  # two model steps (40 ms each) per block: low latency, little overhead

    def validate(self) -> None:
        _require(self.device is None or bool(self.device.strip()), "listen.device must not be empty")
        _require(self.rate is None or 8000 <= self.rate <= 384000, "listen.rate must be between 8000 and 384000")
        _require(self.threshold is None or 0 < self.threshold < 1, "listen.threshold must be in (0, 1)")
        for name in ("smoothing_steps", "patience_steps"):
            value = getattr(self, name)
            _require(value is None or value >= 1, f"listen.{name} must be >= 1")
        _require(self.refractory_s is None or self.refractory_s >= 0, "listen.refractory_s must be >= 0")
        _require(self.exec is None or bool(self.exec.strip()), "listen.exec must not be empty")
        _require(self.exec_timeout_s > 0, "listen.exec_timeout_s must be positive")
        _require(self.health_interval_s >= 0, "listen.health_interval_s must be >= 0")
        _require(self.stall_timeout_s > 0, "listen.stall_timeout_s must be positive")
        _require(5 <= self.block_ms <= 1000, "listen.block_ms must be between 5 and 1000")

    def detector(self, base: DetectorConfig) -> DetectorConfig:
        """The model's detector settings with this config's overrides."""
        return base.with_overrides(
            threshold=self.threshold,
            smoothing_steps=self.smoothing_steps,
            patience_steps=self.patience_steps,
            refractory_s=self.refractory_s,
        )

    def to_yaml(self) -> str:
        from .modelfile import bundled_model_path  # here: `listen --help` reads FIELDS, and need not wait for torch

        data = dataclasses.asdict(self)
        data["models"] = [str(p) for p in self.models] or [str(bundled_model_path())]
        return yaml.safe_dump({"listen": data}, sort_keys=False)


FIELDS = tuple(f.name for f in dataclasses.fields(ListenConfig))


def listen_config_from_dict(data: Any) -> ListenConfig:
    config = from_dict(ListenConfig, data, "listen")
    config.validate()
    return config


def load_listen_config(path: str | Path | None, overrides: dict[str, Any] | None = None) -> ListenConfig:
    """The file's `listen:` section (model paths relative to the file), then `overrides`
    (flags: every key that is not None wins)."""
    data = _read_listen_section(Path(path)) if path is not None else {}
    data.update({k: v for k, v in (overrides or {}).items() if v is not None})
    try:
        return listen_config_from_dict(data)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}" if path is not None else str(exc)) from None


def _read_listen_section(path: Path) -> dict[str, Any]:
    document = read_yaml_file(path)
    if not isinstance(document, dict) or set(document) != {"listen"}:
        raise ConfigError(f"{path}: expected one top-level key 'listen:' holding the listen settings")
    section = document["listen"] or {}
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: listen must be a mapping, got {type(section).__name__}")
    device = section.get("device")
    if isinstance(device, int) and not isinstance(device, bool):
        section = {**section, "device": str(device)}  # `device: 3`, an index, as the flag gives it
    models = section.get("models")
    if isinstance(models, list):
        # A config names its models relative to itself, so it works from any folder.
        section = {**section, "models": [str(path.parent / Path(m).expanduser()) if isinstance(m, str) else m for m in models]}
    return dict(section)
