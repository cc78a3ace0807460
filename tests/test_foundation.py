"""The ground every workflow stands on: CLIs, configuration, setup."""

from __future__ import annotations

import argparse
import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest

from wakeword.cli import build_parser
from wakeword.config import Config, load_config
from wakeword.errors import ConfigError
from synth.cli import build_synth_parser

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _subcommands(prog: str) -> list[str]:
    parser = build_synth_parser() if prog == "synth" else build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return list(sub.choices)


@pytest.mark.parametrize("prog", ["wakeword", "synth"])
def test_every_help_prints_usage_and_exits_zero(prog):
    for args in [[]] + [[name] for name in _subcommands(prog)]:
        argv = [str(BIN / prog), *args, "--help"]
        proc = subprocess.run(argv, capture_output=True, text=True)
        assert proc.returncode == 0, (argv, proc.stderr)
        assert proc.stdout.startswith("usage:"), argv
        assert "example" in proc.stdout.lower(), f"{argv}: --help shows no example"


def test_building_the_parsers_imports_no_torch():
    # Every --help builds both parsers; torch alone costs seconds of start-up.
    code = ("import sys; from wakeword.cli import build_parser; from synth.cli import build_synth_parser; "
            "build_parser(); build_synth_parser(); print(sorted(m for m in ('torch', 'scipy.signal', 'matplotlib') "
            "if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_default_configs_load_and_validate():
    for path in sorted((ROOT / "configs").glob("*.yaml")):
        config = load_config(path)
        assert isinstance(config, Config)


@pytest.mark.parametrize(
    "text, message",
    [
        ("phrase: activate\nmodel: {conv_kernal: 15}\n", "model: unknown key(s) conv_kernal"),
        ("train: {epochs: many}\n", "train.epochs must be an integer"),
        ("synth: {snr_db: [20, 5]}\n", "synth.snr_db must be [low, high]"),
        ("features: {normalization: cepstral}\n", "features.normalization must be 'log' or 'pcen'"),
        ("phrase: [1, 2\n", "not valid YAML at line"),
        ("- a\n- b\n", "config must be a mapping"),
    ],
)
def test_config_errors_name_the_exact_key(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_a_phrase_config_is_the_default_recipe_with_its_phrase():
    """configs/hey_jarvis.yaml names its base, so every recipe setting follows activate.yaml."""
    jarvis, activate = load_config(ROOT / "configs" / "hey_jarvis.yaml"), load_config(ROOT / "configs" / "activate.yaml")
    assert jarvis.phrase == "hey jarvis"
    assert dataclasses.replace(jarvis, phrase=activate.phrase) == activate


def test_extends_merges_sections_key_by_key(tmp_path):
    (tmp_path / "base.yaml").write_text("phrase: base\nseed: 7\ntrain: {epochs: 3, batch_size: 8}\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "word.yaml").write_text("extends: ../base.yaml\nphrase: word\ntrain: {epochs: 5}\n")
    config = load_config(tmp_path / "sub" / "word.yaml")
    assert (config.phrase, config.seed, config.train.epochs, config.train.batch_size) == ("word", 7, 5, 8)


@pytest.mark.parametrize(
    "files, message",
    [
        ({"a.yaml": "extends: missing.yaml\n"}, "config file not found"),
        ({"a.yaml": "extends: b.yaml\n", "b.yaml": "extends: a.yaml\n"}, "extends loops back to"),
        ({"a.yaml": "extends: 3\n"}, "extends must name a config file"),
        ({"a.yaml": "extends: b.yaml\n", "b.yaml": "- x\n"}, "must be a mapping"),
    ],
)
def test_bad_extends_is_one_line(tmp_path, files, message):
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    with pytest.raises(ConfigError) as err:
        load_config(tmp_path / "a.yaml")
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_missing_config_is_one_line(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")


def _setup(env_extra: dict | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, **(env_extra or {})}
    return subprocess.run(["bash", str(ROOT / "scripts" / "setup.sh")], capture_output=True, text=True, env=env, timeout=300)


def test_setup_is_idempotent():
    first = _setup()
    assert first.returncode == 0, first.stderr
    second = _setup()
    assert second.returncode == 0, second.stderr
    assert "installing" not in second.stderr
    assert second.stderr.strip().splitlines() == ["setup: ready (%s)" % (ROOT / ".venv")]


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to reach apt-get")
def test_setup_fails_in_one_line_when_a_package_cannot_be_installed():
    proc = _setup({"WAKEWORD_SETUP_PACKAGES": "wakeword-no-such-package"})
    assert proc.returncode != 0
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("setup: could not install system packages (wakeword-no-such-package")
    assert "apt-get install -y wakeword-no-such-package" in last
