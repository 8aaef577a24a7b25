"""The systemd units, rendered by the plain-Linux installer and checked by systemd itself."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).parents[2]
UNITS = (
    "smavenus-can-gateway",
    "smavenus-bms-controller",
    "smavenus-vebus-publisher",
    "smavenus-web",
)

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
        f"ExecStart={Path(sys.executable).parent}/{unit} --config /etc/smavenus/smavenus.toml",
    ):
        assert line in text.splitlines(), (unit, line)
    assert not re.search(r"@[A-Z_]+@", text), "a template placeholder was left"
    # the root services keep their state; the web process has none and is not root (systemd
    # would hand a StateDirectory to its user)
    web = unit == "smavenus-web"
    assert ("StateDirectory=smavenus" in text.splitlines()) is not web, unit
    assert ("User=smavenus" in text.splitlines()) is web, unit


def test_only_the_web_unit_may_use_tcp(rendered: Path) -> None:
    for unit in UNITS:
        families = [
            line for line in (rendered / f"{unit}.service").read_text().splitlines()
            if line.startswith("RestrictAddressFamilies=")
        ]  # fmt: skip
        uses_tcp = any("AF_INET" in line for line in families)
        assert uses_tcp is (unit == "smavenus-web"), unit


def test_gateway_is_watched_by_systemd(rendered: Path) -> None:
    lines = (rendered / "smavenus-can-gateway.service").read_text().splitlines()
    assert "Type=notify" in lines
    assert any(line.startswith("WatchdogSec=") for line in lines)
