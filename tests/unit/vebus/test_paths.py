"""The path table: one description that registration, mapping and docs derive from."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from smavenus.ipc.messages import DVCC_WRITE_PATHS
from smavenus.vebus.paths import (
    BOL_PATHS,
    DC_MAX_CHARGE_CURRENT,
    ENERGY_NAMES,
    Source,
    vebus_paths,
)
from smavenus.victron.items import ItemType

DOCS = Path(__file__).parents[3] / "docs" / "vebus.md"
#: velib's add_mandatory_paths plus what systemcalc needs to use the service at all.
MANDATORY = {
    "/Mgmt/ProcessName",
    "/Mgmt/ProcessVersion",
    "/Mgmt/Connection",
    "/DeviceInstance",
    "/ProductId",
    "/ProductName",
    "/FirmwareVersion",
    "/HardwareVersion",
    "/Connected",
    "/CustomName",
}
#: Integer-coded enums systemcalc builds lookups from or compares (venus-dbus.md §1.3).
INTEGER_ENUMS = {
    "/State",
    "/Mode",
    "/ModeIsAdjustable",
    "/VebusChargeState",
    "/VebusError",
    "/Ac/ActiveIn/ActiveInput",
    "/Ac/ActiveIn/Connected",
    "/Ac/NumberOfPhases",
    "/Ac/NumberOfAcInputs",
    "/DeviceInstance",
    "/ProductId",
    "/FirmwareVersion",
    "/Connected",
}


@pytest.mark.parametrize("mode_control", [False, True])
def test_every_path_once_with_the_types_venus_expects(mode_control: bool) -> None:
    table = vebus_paths(mode_control=mode_control)
    paths = [p.path for p in table]
    assert len(paths) == len(set(paths))
    assert set(paths) >= MANDATORY
    types = {p.path: p.spec.type for p in table}
    for path in INTEGER_ENUMS | {p for p in paths if p.startswith(("/Alarms/", "/Leds/"))}:
        assert types[path] is ItemType.INT, path
    assert {p for p in paths if p.startswith("/Energy/")} == {f"/Energy/{n}" for n in ENERGY_NAMES}


def test_only_what_venus_writes_is_writable() -> None:
    writable = {p.path for p in vebus_paths(mode_control=True) if p.spec.writable}
    assert writable == {
        "/CustomName",
        "/Mode",
        "/Dc/0/MaxChargeCurrent",
        "/BatteryOperationalLimits/MaxChargeVoltage",
        "/BatteryOperationalLimits/MaxChargeCurrent",
        "/BatteryOperationalLimits/MaxDischargeCurrent",
        "/BatteryOperationalLimits/BatteryLowVoltage",
        "/RedetectSystem",
        "/SystemReset",
    }
    without = {p.path for p in vebus_paths(mode_control=False) if p.spec.writable}
    assert without == writable - {"/Mode"}
    assert all(
        p.source is Source.WRITTEN for p in vebus_paths(mode_control=True) if p.spec.writable
    )


#: Each switches on a systemcalc behaviour meant for a real Multi (battery-bms-and-dvcc.md
#: §3.7): MK3 selection, ESS/BatteryLife, Hub-1 voltage, system state, VE.Bus BMS, SVS/STS
#: writes, SoC writes. A path or a whole subtree.
NOT_PUBLISHED = (
    "/Interfaces/Mk2/Connection",
    "/Hub4",
    "/Hub/ChargeVoltage",
    "/VebusMainState",
    "/Bms",
    "/FirmwareFeatures/BolUBatAndTBatSense",
    "/BatterySense",
    "/Hub2",
    "/Devices/0/Assistants",
    "/ExtraBatteryCurrent",
)


@pytest.mark.parametrize("mode_control", [False, True])
def test_paths_that_switch_on_multi_only_behaviour_in_systemcalc_are_absent(
    mode_control: bool,
) -> None:
    paths = {p.path for p in vebus_paths(mode_control=mode_control)}
    for trap in NOT_PUBLISHED:
        assert not {p for p in paths if p == trap or p.startswith(trap + "/")}, trap


def test_dvcc_paths_are_the_ones_the_feed_reports() -> None:
    table = {p.path: p for p in vebus_paths(mode_control=False)}
    assert {path for path, _unit in BOL_PATHS} | {DC_MAX_CHARGE_CURRENT} == set(DVCC_WRITE_PATHS)
    for path in DVCC_WRITE_PATHS:
        assert table[path].spec.writable, path
        assert table[path].spec.type is ItemType.DOUBLE, path
    assert table["/FirmwareFeatures/BolFrame"].spec.type is ItemType.INT


def test_docs_describe_every_path() -> None:
    documented = set(re.findall(r"`(/[A-Za-z0-9/]+)`", DOCS.read_text("utf-8")))
    missing = {p.path for p in vebus_paths(mode_control=True, ac_inputs=2)} - documented
    assert not missing, f"docs/vebus.md lacks {sorted(missing)}"
