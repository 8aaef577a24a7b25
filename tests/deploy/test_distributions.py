"""What each distribution installs: a GX gets the services, never the simulator or the bench."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

REPO = Path(__file__).parents[2]
DEV_TOOLS = {"smavenus-sim": "smavenus.apps.sim:main", "smavenus-bench": "smavenus.apps.bench:main"}


def project(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = tomllib.loads(path.read_text())
    return data


def test_the_main_distribution_has_only_the_cli_the_three_services_and_the_web() -> None:
    scripts = project(REPO / "pyproject.toml")["project"]["scripts"]
    assert set(scripts) == {
        "smavenus",
        "smavenus-can-gateway",
        "smavenus-vebus-publisher",
        "smavenus-bms-controller",
        "smavenus-web",
    }


def test_aiohttp_is_the_web_extra_and_the_core_services_never_load_it() -> None:
    data = project(REPO / "pyproject.toml")["project"]
    assert not any(d.startswith("aiohttp") for d in data["dependencies"])
    assert any(d.startswith("aiohttp") for d in data["optional-dependencies"]["web"])
    code = (
        "import sys\n"
        "import smavenus.apps.can_gateway, smavenus.apps.bms_controller, "
        "smavenus.apps.vebus_publisher\n"
        "print('aiohttp' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"


def test_the_development_distribution_has_the_simulator_and_the_bench() -> None:
    dev = project(REPO / "tools" / "dev" / "pyproject.toml")["project"]
    assert dev["name"] == "smavenus-dev"
    assert dev["dependencies"] == ["smavenus[bench]"]
    assert dev["scripts"] == DEV_TOOLS
    for target in dev["scripts"].values():
        module, function = target.split(":")
        assert callable(getattr(importlib.import_module(module), function)), target


def test_both_distributions_name_their_licence_as_an_spdx_expression() -> None:
    for path in (REPO / "pyproject.toml", REPO / "tools" / "dev" / "pyproject.toml"):
        data = project(path)
        assert data["project"]["license"] == "MIT", path
        assert "setuptools>=77" in data["build-system"]["requires"], path  # SPDX support


@pytest.mark.parametrize("directory", ["services", "deploy/venus", "deploy/systemd", "deploy/dbus"])
def test_nothing_a_gx_runs_mentions_the_development_tools(directory: str) -> None:
    for path in sorted((REPO / directory).rglob("*")):
        if path.is_file():
            text = path.read_text()
            for tool in DEV_TOOLS:
                assert tool not in text, f"{path.relative_to(REPO)} mentions {tool}"


def test_development_setup_installs_the_development_distribution_editable() -> None:
    setup = (REPO / "scripts" / "lib" / "setup.sh").read_text()
    assert '-e "$SMAVENUS_ROOT/tools/dev"' in setup
