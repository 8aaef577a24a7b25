"""What the services leave out (``smavenus.apps``): OpenSSL and pydantic's plugin discovery.

Each check runs a fresh interpreter, as a console script starts: the test process itself
imported pydantic and asyncio long ago.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

PROBE = """
import json, sys
import smavenus.apps.{app}
from smavenus.config import AppConfig, parse_config
from smavenus.ipc.messages import BmsCommand
cfg = parse_config({{"battery": {{"capacity_ah": 200.0}}}})
BmsCommand.model_validate_json(BmsCommand(
    seq=1, sent_monotonic=1.0, sent_unix=1.0, charge_voltage_v=56.0, charge_current_a=1.0,
    discharge_current_a=1.0, discharge_voltage_v=46.0, soc_pct=50.0).model_dump_json())
import pydantic.plugin._loader as loader
print(json.dumps({{
    "ssl": sys.modules.get("ssl", "absent") is None,
    "metadata": "importlib.metadata" in sys.modules,
    "plugins": list(loader.get_plugins()),
    "capacity": cfg.battery.capacity_ah,
}}))
"""


def probe(app: str, **env: str) -> dict[str, object]:
    result = subprocess.run(
        [sys.executable, "-c", PROBE.format(app=app)],
        capture_output=True,
        text=True,
        check=True,
        env={**__import__("os").environ, **env},
    )
    answer: dict[str, object] = json.loads(result.stdout)
    return answer


@pytest.mark.parametrize("app", ["bms_controller", "vebus_publisher"])
def test_the_services_import_neither_openssl_nor_package_metadata(app: str) -> None:
    answer = probe(app)
    assert answer == {"ssl": True, "metadata": False, "plugins": [], "capacity": 200.0}


def test_the_gateway_needs_package_metadata_for_python_can_but_not_openssl() -> None:
    answer = probe("can_gateway")
    assert answer["ssl"] is True and answer["capacity"] == 200.0


def test_uvloop_wanted_keeps_openssl_importable() -> None:
    assert probe("bms_controller", SMAVENUS_UVLOOP="1")["ssl"] is False


def test_anything_else_asked_of_the_plugin_loader_loads_the_real_one() -> None:
    code = (
        "import smavenus.apps.bms_controller, sys\n"
        "stand_in = sys.modules['pydantic.plugin._loader']\n"
        "group = stand_in.PYDANTIC_ENTRY_POINT_GROUP\n"
        "print(group, sys.modules['pydantic.plugin._loader'] is not stand_in)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == ["pydantic", "True"]
