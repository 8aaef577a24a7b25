"""The systemd units, rendered by the plain-Linux installer and checked by systemd itself."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).parents[2]
UNITS = ("smavenus-can-gateway", "smavenus-bms-controller", "smavenus-vebus-publisher")

pytestmark = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None, reason="no systemd-analyze"
)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    unit_dir = tmp_path_factory.mktemp("units")
    subprocess.run(
        [
            str(REPO / "deploy" / "systemd" / "install.sh"), "--render-only",
            "--unit-dir", str(unit_dir),
            "--bin", str(Path(sys.executable).parent),  # where the console scripts are here
            "--config", "/etc/smavenus/smavenus.toml",
        ],
        check=True,
    )  # fmt: skip
    return unit_dir


@pytest.mark.parametrize("unit", UNITS)
def test_systemd_analyze_verify_passes(rendered: Path, unit: str) -> None:
    result = subprocess.run(
        ["systemd-analyze", "verify", str(rendered / f"{unit}.service")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert f"{unit}.service" not in result.stderr, result.stderr  # no warnings about the unit


@pytest.mark.parametrize("unit", UNITS)
def test_units_restart_always_and_are_sandboxed(rendered: Path, unit: str) -> None:
    text = (rendered / f"{unit}.service").read_text()
    for line in (
        "Restart=always",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "CapabilityBoundingSet=",
        "StateDirectory=smavenus",
        f"ExecStart={Path(sys.executable).parent}/{unit} --config /etc/smavenus/smavenus.toml",
    ):
        assert line in text.splitlines(), (unit, line)
    assert not re.search(r"@[A-Z_]+@", text), "a template placeholder was left"


def test_gateway_is_watched_by_systemd(rendered: Path) -> None:
    lines = (rendered / "smavenus-can-gateway.service").read_text().splitlines()
    assert "Type=notify" in lines
    assert any(line.startswith("WatchdogSec=") for line in lines)
