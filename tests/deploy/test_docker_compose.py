"""The docker-compose bench's structure (no Docker engine here: the file is checked, not run)."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from smavenus.config import load_config

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

REPO = Path(__file__).parents[2]
DEPLOY = REPO / "deploy"
SMAVENUS_SERVICES = (
    "localsettings",
    "simulator",
    "can-gateway",
    "bms-controller",
    "vebus-publisher",
)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    return data


def console_scripts() -> set[str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    return set(project["project"]["scripts"])


def test_every_part_of_the_bench_is_there(compose: dict[str, Any]) -> None:
    assert set(compose["services"]) == {"vcan-setup", "dbus", *SMAVENUS_SERVICES}


def test_vcan0_is_created_before_anything_uses_it(compose: dict[str, Any]) -> None:
    setup = compose["services"]["vcan-setup"]
    assert setup["network_mode"] == "host" and "NET_ADMIN" in setup["cap_add"]
    script = " ".join(setup["command"])
    assert "ip link add dev vcan0 type vcan" in script and "ip link set up vcan0" in script
    for name in SMAVENUS_SERVICES:
        service = compose["services"][name]
        assert service["network_mode"] == "host", name  # vcan0 lives in the host's namespace
        assert service["depends_on"]["vcan-setup"]["condition"] == "service_completed_successfully"
        assert service["depends_on"]["dbus"]["condition"] == "service_healthy"


def test_services_share_one_private_system_bus(compose: dict[str, Any]) -> None:
    dbus = compose["services"]["dbus"]
    assert "dbus:/run/smavenus-dbus" in dbus["volumes"]
    assert "--config-file=/etc/smavenus/bus.conf" in dbus["command"]
    bus_conf = (DEPLOY / "docker" / "bus.conf").read_text()
    assert "unix:path=/run/smavenus-dbus/system_bus_socket" in bus_conf
    dockerfile = (DEPLOY / "docker" / "Dockerfile").read_text()
    assert "DBUS_SYSTEM_BUS_ADDRESS=unix:path=/run/smavenus-dbus/system_bus_socket" in dockerfile
    for name in SMAVENUS_SERVICES:
        assert "dbus:/run/smavenus-dbus" in compose["services"][name]["volumes"], name


def test_commands_are_our_console_scripts_with_a_valid_config(compose: dict[str, Any]) -> None:
    scripts = console_scripts()
    for name in ("can-gateway", "bms-controller", "vebus-publisher"):
        command = compose["services"][name]["command"]
        assert command[0] in scripts, command
        assert command[command.index("--config") + 1] == "/etc/smavenus/smavenus.toml"
    # the image has the main distribution only: the simulator is a module, not a script
    simulator = compose["services"]["simulator"]["command"]
    assert simulator[:3] == ["python", "-m", "smavenus.apps.sim"]
    assert "smavenus-sim" not in scripts
    assert simulator[simulator.index("--interface") + 1] == "socketcan"
    assert simulator[simulator.index("--channel") + 1] == "vcan0"
    config = load_config(DEPLOY / "docker" / "bench.toml")
    assert (config.can.interface, config.can.channel) == ("socketcan", "vcan0")


def test_dockerfile_copies_files_that_exist() -> None:
    for line in (DEPLOY / "docker" / "Dockerfile").read_text().splitlines():
        if line.startswith("COPY"):
            *sources, _destination = shlex.split(line)[1:]
            for source in sources:
                assert (REPO / source).exists(), source
