"""The controller process and its settings in localsettings (the stand-in), over a private bus.

A battery monitor and systemcalc's ``/ActiveBatteryService`` are played by BusItem services
so the controller has a battery to charge; no SI is needed for what is checked here: what
the controller *commands* after a setting changes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from dbus_fast import Variant
from dbus_fast.aio import MessageBus

from smavenus.io.dbus import call, connect_system_bus
from smavenus.io.dbus.busitem import BUSITEM
from smavenus.io.dbus.localsettings import SETTINGS_SERVICE
from smavenus.ipc import names
from smavenus.ipc.messages import ControllerStatus
from smavenus.testing.dbus_daemon import PrivateDbusDaemon
from smavenus.testing.localsettings import LocalSettingsStandIn
from smavenus.testing.waiting import eventually
from tests.integration.controller_harness import (
    BATTERY_SPECS,
    BIN,
    DELIVERY_S,
    SYSTEM_SPECS,
    ControllerListener,
    Processes,
    Service,
    commands_sent_after,
    shunt,
    write_config,
)

PREFIX = "/Settings/SmaVenus/Controller/"
PERIOD_S = 0.5


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    started = Processes(tmp_path)
    yield started
    started.stop_all()


@pytest.fixture
async def battery(dbus_daemon: PrivateDbusDaemon) -> AsyncIterator[Service]:
    monitor = await Service("com.victronenergy.battery.ttyS5", BATTERY_SPECS, shunt(512)).start()
    system = await Service(
        "com.victronenergy.system",
        SYSTEM_SPECS,
        {"/DeviceInstance": 0, "/ActiveBatteryService": "com.victronenergy.battery/512"},
    ).start()
    yield monitor
    monitor.close()
    system.close()


class StandIns:
    """Localsettings stand-ins started by a test, each on its own connection."""

    def __init__(self) -> None:
        self.buses: list[MessageBus] = []

    async def start(self, seed: dict[str, Any] | None = None) -> LocalSettingsStandIn:
        bus = await connect_system_bus()
        self.buses.append(bus)
        standin = LocalSettingsStandIn(bus, seed=seed)
        await standin.start()
        return standin


@pytest.fixture
async def localsettings(dbus_daemon: PrivateDbusDaemon) -> AsyncIterator[StandIns]:
    standins = StandIns()
    yield standins
    for bus in standins.buses:
        bus.disconnect()
        await bus.wait_for_disconnect()  # type: ignore[no-untyped-call]


def start_controller(processes: Processes, tmp_path: Path, **bms: Any) -> None:
    config = write_config(
        tmp_path / "smavenus.toml",
        {
            "controller": {"period_s": PERIOD_S, **bms},
            "paths": {"state_dir": str(tmp_path)},
            "logging": {"format": "plain"},
        },
    )
    processes.start("smavenus-bms-controller", "--config", str(config))


async def set_value(bus: MessageBus, path: str, value: Variant) -> int:
    (code,) = await call(
        bus, SETTINGS_SERVICE, path, BUSITEM, "SetValue", signature="v", body=[value]
    )
    return int(code)


async def running(
    processes: Processes, tmp_path: Path, system_bus: MessageBus, **bms: Any
) -> ControllerListener:
    listener = ControllerListener(system_bus)
    await listener.start()
    start_controller(processes, tmp_path, **bms)
    await eventually(
        lambda: (
            listener.status is not None and listener.status.measurement_source == "battery_monitor"
        ),
        timeout_s=30,
        what="the controller's first status",
        logs=processes.logs,
    )
    return listener


async def test_settings_are_created_from_the_toml_with_the_schemas_bounds(
    processes: Processes,
    tmp_path: Path,
    system_bus: MessageBus,
    battery: Service,
    localsettings: StandIns,
) -> None:
    standin = await localsettings.start()
    listener = await running(processes, tmp_path, system_bus, absorption_voltage_v=55.6)
    absorption = standin.settings[PREFIX + "AbsorptionVoltage"]
    assert (absorption.value, absorption.default, absorption.minimum, absorption.maximum) == (
        55.6, 55.6, 41.0, 56.8,  # max: battery.max_charge_voltage_v, tighter than the field's 63
    )  # fmt: skip
    assert standin.settings[PREFIX + "GridAssistMode"].value == 0
    assert standin.settings[PREFIX + "GridWindow1Start"].value == "00:00"
    assert listener.status is not None and listener.status.settings_source == "localsettings"


async def test_a_setting_changed_over_dbus_takes_effect_within_one_cycle(
    processes: Processes,
    tmp_path: Path,
    system_bus: MessageBus,
    battery: Service,
    localsettings: StandIns,
) -> None:
    await localsettings.start()
    listener = await running(processes, tmp_path, system_bus)
    await eventually(
        lambda: listener.command is not None and listener.command.charge_current_a == 140.0, 30
    )
    assert await set_value(system_bus, PREFIX + "BulkCurrent", Variant("d", 50.0)) == 0
    # One cycle after the controller heard it (the bus gets DELIVERY_S for that), on its clock.
    after = await commands_sent_after(listener, time.monotonic() + DELIVERY_S + PERIOD_S)
    assert after and all(c.charge_current_a == 50.0 for c in after)
    assert after[0].reasons["charge_current_a"] == "bulk_current"
    assert "setting_changed" in processes.log("smavenus-bms-controller")


async def test_an_invalid_setting_write_is_refused_logged_and_undone(
    processes: Processes,
    tmp_path: Path,
    system_bus: MessageBus,
    battery: Service,
    localsettings: StandIns,
) -> None:
    standin = await localsettings.start()
    listener = await running(processes, tmp_path, system_bus)
    # within localsettings' min/max (41-56.8 V), but above the absorption voltage (56 V)
    assert await set_value(system_bus, PREFIX + "FloatVoltage", Variant("d", 56.5)) == 0
    await eventually(lambda: standin.value(PREFIX + "FloatVoltage") == 54.0, 30, "the write-back")
    log = processes.log("smavenus-bms-controller")
    rejected = [line for line in log.splitlines() if "event=setting_rejected" in line]
    assert len(rejected) == 1
    assert "key=controller.float_voltage_v" in rejected[0]
    assert "must be below controller.absorption_voltage_v" in rejected[0]
    assert "event=setting_changed key=controller.float_voltage_v" not in log  # never applied
    assert listener.command is not None and listener.command.charge_voltage_v == 56.0


async def test_values_kept_in_localsettings_win_over_the_toml_and_the_time_zone_is_followed(
    processes: Processes,
    tmp_path: Path,
    system_bus: MessageBus,
    battery: Service,
    localsettings: StandIns,
) -> None:
    await localsettings.start(
        seed={PREFIX + "BulkCurrent": 80.0, "/Settings/System/TimeZone": "Europe/Berlin"}
    )
    listener = await running(processes, tmp_path, system_bus)
    await eventually(
        lambda: listener.command is not None and listener.command.charge_current_a == 80.0, 30
    )
    log = processes.log("smavenus-bms-controller")
    assert "event=timezone_followed timezone=Europe/Berlin" in log


async def test_get_status_answers_with_the_latest_status(
    processes: Processes, tmp_path: Path, system_bus: MessageBus, battery: Service
) -> None:
    listener = await running(processes, tmp_path, system_bus)
    (payload,) = await call(
        system_bus,
        names.CONTROLLER_BUS_NAME,
        names.CONTROLLER_PATH,
        names.CONTROLLER_INTERFACE,
        names.GET_STATUS_METHOD,
    )
    status = ControllerStatus.model_validate_json(payload)
    seen = [s.seq for _t, s in listener.statuses]
    assert status.seq >= seen[0]
    assert status.battery_service == "com.victronenergy.battery.ttyS5"
    assert status.inputs["battery_monitor"].stale is False
    assert status.inputs["si"].stale is True  # no gateway in this test


async def test_without_localsettings_the_toml_serves(
    processes: Processes, tmp_path: Path, system_bus: MessageBus, battery: Service
) -> None:
    listener = await running(processes, tmp_path, system_bus, bulk_current_a=90.0)
    await eventually(
        lambda: listener.command is not None and listener.command.charge_current_a == 90.0, 30
    )
    assert listener.status is not None and listener.status.settings_source == "toml"


async def test_a_value_edited_in_the_toml_since_the_last_start_reaches_localsettings_once(
    processes: Processes,
    tmp_path: Path,
    system_bus: MessageBus,
    battery: Service,
    localsettings: StandIns,
) -> None:
    standin = await localsettings.start(seed={PREFIX + "BulkCurrent": 80.0})  # set on the GUI
    listener = await running(processes, tmp_path, system_bus, bulk_current_a=100.0)
    await eventually(lambda: listener.command is not None, 30)
    log = processes.log("smavenus-bms-controller")
    assert "event=setting_overrides_toml key=controller.bulk_current_a value=80.0" in log
    assert "setting_pushed_from_toml" not in log  # the first start has no earlier TOML to compare
    state = tmp_path / "bms-controller.json"
    await eventually(lambda: state.exists() and "toml_settings" in state.read_text(), 30)
    processes.stop("smavenus-bms-controller")

    listener = await running(processes, tmp_path, system_bus, bulk_current_a=60.0)  # edited
    await eventually(lambda: standin.value(PREFIX + "BulkCurrent") == 60.0, 30, "the push")
    await eventually(
        lambda: listener.command is not None and listener.command.charge_current_a == 60.0, 30
    )
    log = processes.log("smavenus-bms-controller")
    assert log.count("event=setting_pushed_from_toml key=controller.bulk_current_a") == 1
    processes.stop("smavenus-bms-controller")

    assert await set_value(system_bus, PREFIX + "BulkCurrent", Variant("d", 70.0)) == 0
    listener = await running(processes, tmp_path, system_bus, bulk_current_a=60.0)  # unchanged
    await eventually(
        lambda: listener.command is not None and listener.command.charge_current_a == 70.0, 30
    )
    assert processes.log("smavenus-bms-controller").count("setting_pushed_from_toml") == 1


async def test_a_live_write_beyond_the_battery_envelope_is_refused_and_undone(
    processes: Processes,
    tmp_path: Path,
    system_bus: MessageBus,
    battery: Service,
    localsettings: StandIns,
) -> None:
    standin = await localsettings.start()
    await running(processes, tmp_path, system_bus)
    # 4.0 V is within the field's own bounds (1-5 V), but beyond LiFePO4's 3.80 V envelope
    path = PREFIX + "CellHighVoltageAlarm"
    assert standin.settings[path].maximum == 3.8  # the GUI is offered the envelope only
    before = standin.value(path)
    assert await set_value(system_bus, path, Variant("d", 4.0)) != 0  # refused at the door
    assert standin.value(path) == before
    # an older localsettings entry with a wider max: the controller refuses and undoes it
    standin.settings[path].maximum = 5.0
    assert await set_value(system_bus, path, Variant("d", 4.0)) == 0
    await eventually(lambda: standin.value(path) == before, 30, "the write-back")
    log = processes.log("smavenus-bms-controller")
    assert "event=setting_rejected key=controller.cell_high_voltage_alarm_v" in log
    assert "beyond the lifepo4 maximum" in log


async def test_config_check_shows_the_values_localsettings_overrides(
    tmp_path: Path, localsettings: StandIns
) -> None:
    await localsettings.start(seed={PREFIX + "BulkCurrent": 80.0})
    config = write_config(tmp_path / "smavenus.toml", {"controller": {"bulk_current_a": 100.0}})
    check = await asyncio.create_subprocess_exec(
        str(BIN / "smavenus"), "config", "check", str(config),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _out, err = await asyncio.wait_for(check.communicate(), 60)
    assert check.returncode == 0
    assert (
        "controller.bulk_current_a = 80.0 in Venus localsettings overrides the file's 100.0"
        in err.decode()
    )
