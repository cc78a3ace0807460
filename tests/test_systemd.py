"""The systemd units: valid for systemd itself, and what install-service writes."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from wakeword.cli import main
from wakeword.commands.install_service import EXAMPLE_EXEC_START, EXAMPLE_SERVE_EXEC_START, render_serve_unit, render_user_unit

ROOT = Path(__file__).resolve().parents[1]
WAKEWORD = Path(sys.executable).parent / "wakeword"

needs_systemd_analyze = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed (apt-get install systemd)"
)


def _verify(unit: Path, user: bool, runtime_dir: Path) -> None:
    """`systemd-analyze verify`; it exits 0 on unknown keys and bad values too, so any
    message counts as a failure."""
    runtime_dir.mkdir(exist_ok=True)
    env = {**os.environ, "XDG_RUNTIME_DIR": str(runtime_dir), "SYSTEMD_LOG_LEVEL": "notice"}
    argv = ["systemd-analyze", *(["--user"] if user else []), "verify", str(unit)]
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 0 and proc.stdout.strip() == "" and proc.stderr.strip() == "", proc.stdout + proc.stderr


def _assert_a_restarting_notify_unit(unit: Path, runtime_dir: Path) -> None:
    """What install-service writes: a valid user unit, notify-type, watched, restarted, started at login."""
    text = unit.read_text()
    for line in ("Type=notify", "Restart=on-failure", "WatchdogSec=30", "WantedBy=default.target"):
        assert f"\n{line}\n" in text
    _verify(unit, user=True, runtime_dir=runtime_dir)


@pytest.fixture
def install(tmp_path, monkeypatch, capsys):
    """Runs `wakeword install-service ARGS` with XDG_CONFIG_HOME in tmp_path; returns
    (exit code, stdout, stderr)."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config home"))  # a space: ExecStart= must quote

    def run(*args: str) -> tuple[int, str, str]:
        code = main(["install-service", *args])
        out = capsys.readouterr()
        return code, out.out, out.err

    return run


@pytest.fixture
def unit(tmp_path) -> Path:
    return tmp_path / "config home" / "systemd" / "user" / "wakeword.service"


def test_the_repository_user_units_are_install_services_templates():
    assert (ROOT / "systemd" / "wakeword.service").read_text() == render_user_unit(EXAMPLE_EXEC_START)
    assert (ROOT / "systemd" / "wakeword-serve.service").read_text() == render_serve_unit(EXAMPLE_SERVE_EXEC_START)


@needs_systemd_analyze
def test_the_system_unit_passes_systemd_analyze_verify(tmp_path):
    text = (ROOT / "systemd" / "wakeword-system.service").read_text()
    assert "ExecStart=/opt/wakeword/.venv/bin/wakeword " in text
    for hardening in ("User=wakeword", "ProtectSystem=strict", "PrivateTmp=yes", "NoNewPrivileges=yes", "SupplementaryGroups=audio"):
        assert f"\n{hardening}\n" in text
    unit = tmp_path / "wakeword.service"
    # verify insists that the binary exists: point it at this environment's.
    unit.write_text(text.replace("/opt/wakeword/.venv/bin/wakeword", str(WAKEWORD)))
    _verify(unit, user=False, runtime_dir=tmp_path / "run")


@needs_systemd_analyze
def test_the_serve_system_unit_passes_systemd_analyze_verify(tmp_path):
    text = (ROOT / "systemd" / "wakeword-serve-system.service").read_text()
    assert "ExecStart=/opt/wakeword/.venv/bin/wakeword serve " in text
    for line in ("Type=notify", "WatchdogSec=30", "User=wakeword", "ProtectSystem=strict", "PrivateDevices=yes", "NoNewPrivileges=yes"):
        assert f"\n{line}\n" in text
    unit = tmp_path / "wakeword-serve.service"
    unit.write_text(text.replace("/opt/wakeword/.venv/bin/wakeword", str(WAKEWORD)))
    _verify(unit, user=False, runtime_dir=tmp_path / "run")


@needs_systemd_analyze
def test_install_service_serve_writes_a_valid_serve_unit_and_uninstall_removes_it(install, tmp_path):
    unit = tmp_path / "config home" / "systemd" / "user" / "wakeword-serve.service"
    model = tmp_path / "hey jarvis.pt"
    model.write_bytes(b"weights")
    code, out, err = install("--serve", "--model", str(model), "--uri", "tcp://0.0.0.0:10401", "--zeroconf")
    assert code == 0, err
    assert f"wrote {unit}" in out and "systemctl --user enable --now wakeword-serve.service" in out
    assert "loginctl enable-linger" in out  # a headless box serves before anyone logs in
    assert f'ExecStart={WAKEWORD} serve --model "{model}" --uri tcp://0.0.0.0:10401 --zeroconf wakeword\n' in unit.read_text()
    _assert_a_restarting_notify_unit(unit, tmp_path / "run")

    listener = unit.parent / "wakeword.service"
    assert not listener.exists()
    code, out, err = install("--serve", "--uninstall")
    assert code == 0 and not unit.exists(), err
    assert "systemctl --user stop wakeword-serve.service" in out


@needs_systemd_analyze
def test_install_service_writes_a_valid_user_unit_and_uninstall_removes_it(install, unit, tmp_path):
    model = tmp_path / "my models" / "50% hey.npz"
    model.parent.mkdir()
    model.write_bytes(b"weights")
    config = tmp_path / "listen.yaml"
    config.write_text("listen:\n  threshold: 0.6\n")

    code, out, err = install("--model", str(model), "--config", str(config))
    assert code == 0, err
    assert f"wrote {unit}" in out
    assert "systemctl --user daemon-reload" in out
    assert "systemctl --user enable --now wakeword.service" in out
    assert f'ExecStart={WAKEWORD} listen --wait-for-device --model "{tmp_path}/my models/50%% hey.npz" --config {config}\n' in unit.read_text()
    _assert_a_restarting_notify_unit(unit, tmp_path / "run")

    wants = unit.parent / "default.target.wants"
    wants.mkdir()
    (wants / "wakeword.service").symlink_to(unit)  # what `systemctl --user enable` makes
    code, out, err = install("--uninstall")
    assert code == 0, err
    assert not unit.exists() and not (wants / "wakeword.service").is_symlink()
    assert "systemctl --user stop wakeword.service" in out

    code, out, _ = install("--uninstall")
    assert code == 0 and "nothing to remove" in out


@pytest.mark.parametrize(
    "args, code, message",
    [
        (["--model", "missing.npz"], 4, "model file not found: missing.npz"),
        (["--config", "missing.yaml"], 2, "config file not found: missing.yaml"),
        (["--uri", "tcp://0.0.0.0:10400"], 2, "--uri and --zeroconf are for --serve (the listener has no socket)"),
        (["--serve", "--config", "listen.yaml"], 2, "--config is the listener's; `wakeword serve` takes its settings as flags"),
        (["--serve", "--uri", "http://x"], 2, "--uri must be tcp://HOST:PORT, unix://PATH or stdio://, got 'http://x'"),
    ],
)
def test_install_service_refuses_what_the_service_could_not_use(install, unit, args, code, message):
    assert install(*args)[::2] == (code, f"wakeword: error: {message}\n")
    assert not unit.exists()


def test_install_service_rejects_a_config_the_service_would_reject(install, unit, tmp_path):
    config = tmp_path / "listen.yaml"
    config.write_text("listen:\n  threshold: 7\n")
    assert install("--config", str(config))[::2] == (2, f"wakeword: error: {config}: listen.threshold must be in (0, 1)\n")
    assert not unit.exists()
