"""The whole loop with no hardware: simulated SI and battery → can-gateway → bms-controller.

Real processes on a private system bus: ``smavenus-sim`` (the SI on a pty the gateway opens
as a CANable, the battery, a simulated SmartShunt ``com.victronenergy.battery.shunt`` and
systemcalc's ``/ActiveBatteryService``), ``smavenus-can-gateway`` and
``smavenus-bms-controller``, with the localsettings stand-in in the test process. The
simulator runs :data:`SPEED` times faster than real time, so every time in the controller's
configuration is divided by the same factor (its timers run on the real clock) and the
battery is small enough to charge in a minute.

The simulated SI regulates toward the charge voltage it is sent (SMA-TI's reading; field
reports say real SIs may not) — the unit tests in ``tests/unit/bms/test_closed_loop.py``
close the loop around an SI that does not.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from dbus_fast import Message, MessageType, Variant
from dbus_fast.aio import MessageBus

from smavenus.io.dbus import call, connect_system_bus
from smavenus.io.dbus.busitem import BUSITEM, from_variant
from smavenus.io.dbus.localsettings import SETTINGS_SERVICE
from smavenus.io.sim.control import request
from smavenus.testing.dbus_daemon import PrivateDbusDaemon
from smavenus.testing.localsettings import LocalSettingsStandIn
from smavenus.testing.waiting import eventually
from tests.integration.controller_harness import (
    DBUS,
    ControllerListener,
    Processes,
    write_config,
)

SPEED = 25.0
MONITOR = "com.victronenergy.battery.shunt"
CAPACITY_AH = 40.0


def scenario(noise: float = 1.0, **battery: Any) -> str:
    values = {"capacity_ah": CAPACITY_AH, "soc_pct": 50.0, "cell_spread_pct": 0.0, **battery}
    lines = "\n".join(f"{k} = {v!r}" for k, v in values.items())
    return f"""
name = "controller"
seed = 3
[si]
noise = {noise!r}
[grid]
request = "always"
valid_time_s = 10.0
[battery]
{lines}
[monitor]
period_s = 1.0
"""


def controller_config(tmp_path: Path, link: Path) -> Path:
    scaled = 1.0 / SPEED
    return write_config(
        tmp_path / "smavenus.toml",
        {
            "can": {"interface": "slcan", "channel": str(link), "bms_period_s": 0.2},
            "battery": {"capacity_ah": CAPACITY_AH, "max_charge_current_a": 80.0},
            "controller": {
                "bulk_current_a": 80.0,
                "tail_current_a": 2.0,  # 0.05 C, as the 14 A default for 280 Ah
                "degraded_charge_current_a": 8.0,
                "period_s": 0.2,
                "tail_current_hold_s": 60.0 * scaled,
                "rebulk_delay_s": 60.0 * scaled,
                "alarm_delay_s": 10.0 * scaled,
                "limit_ramp_up_s": 10.0 * scaled,
                "input_max_age_s": 1.0,
            },
            "paths": {"state_dir": str(tmp_path)},
            "logging": {"format": "plain"},
        },
    )


class Chain:
    def __init__(self, tmp_path: Path, processes: Processes, bus: MessageBus) -> None:
        self.tmp_path = tmp_path
        self.processes = processes
        self.bus = bus
        self.control = tmp_path / "sim.sock"
        self.listener = ControllerListener(bus)
        self.monitor_voltages: list[float] = []
        self.localsettings: LocalSettingsStandIn | None = None

    async def start(self, scenario_text: str) -> None:
        (self.tmp_path / "scenario.toml").write_text(scenario_text)
        link = self.tmp_path / "ttyACM-sim"
        self.processes.start(
            "smavenus-sim",
            "--scenario", str(self.tmp_path / "scenario.toml"),
            "--slcan-link", str(link),
            "--control", str(self.control),
            "--speed", str(SPEED),
            "--battery-monitor", "shunt",
            "--log-format", "plain",
        )  # fmt: skip
        await eventually(link.exists, 15, "the simulator's adapter", self.processes.logs)
        await self.listener.start()
        self.bus.add_message_handler(self._on_monitor)
        rule = f"type='signal',sender='{MONITOR}',interface='{BUSITEM}',member='ItemsChanged'"
        await call(self.bus, *DBUS, "AddMatch", signature="s", body=[rule])
        config = controller_config(self.tmp_path, link)
        self.processes.start("smavenus-can-gateway", "--config", str(config))
        self.processes.start("smavenus-bms-controller", "--config", str(config))
        await eventually(
            lambda: (
                self.status is not None
                and self.status.measurement_source == "battery_monitor"
                and self.status.inputs["si"].stale is False
            ),
            20,
            "the controller on the monitor and the SI",
            self.processes.logs,
        )

    def _on_monitor(self, msg: Message) -> None:
        if (
            msg.message_type is MessageType.SIGNAL
            and msg.member == "ItemsChanged"
            and msg.path == "/"
        ):
            entry = msg.body[0].get("/Dc/0/Voltage")
            if entry is not None and (volts := from_variant(entry["Value"])) is not None:
                self.monitor_voltages.append(float(volts))

    @property
    def status(self) -> Any:
        return self.listener.status

    def sim(self) -> dict[str, Any]:
        return request(self.control, {"cmd": "status"})

    def sim_events(self) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = request(self.control, {"cmd": "events"})["events"]
        return events

    def apply(self, action: str, **fields: Any) -> None:
        reply = request(self.control, {"cmd": "apply", "event": {"action": action, **fields}})
        assert reply.get("ok"), reply


@pytest.fixture
async def chain(
    tmp_path: Path, dbus_daemon: PrivateDbusDaemon, system_bus: MessageBus
) -> AsyncIterator[Chain]:
    processes = Processes(tmp_path)
    settings_bus = await connect_system_bus()
    standin = LocalSettingsStandIn(settings_bus)
    await standin.start()
    chain = Chain(tmp_path, processes, system_bus)
    chain.localsettings = standin
    yield chain
    processes.stop_all()
    settings_bus.disconnect()
    await settings_bus.wait_for_disconnect()  # type: ignore[no-untyped-call]


def transitions(listener: ControllerListener) -> list[tuple[str, str]]:
    seen: list[tuple[str, str]] = []
    for _t, status in listener.statuses:
        step = (status.charge_state, status.charge_state_reason)
        if not seen or seen[-1] != step:
            seen.append(step)
    return seen


@pytest.mark.slow
async def test_a_charge_from_20_percent_to_float_holds_absorption_and_ends_on_tail_current(
    chain: Chain,
) -> None:
    # Without measurement noise the shunt publishes the true voltage (to 0.01 V): the bound is
    # on the battery, not on a sensor's noise (sigma 20 mV in the simulator).
    await chain.start(scenario(noise=0.0, soc_pct=20.0))
    await eventually(
        lambda: chain.status.charge_state == "float", 240, "float", chain.processes.logs
    )
    truth = chain.sim()
    assert transitions(chain.listener) == [
        ("bulk", "start"),
        ("absorption", "absorption_voltage_reached"),
        ("float", "tail_current"),
    ]
    absorption_v = 56.0
    # every change of the shunt's voltage, bulk to float: it did reach the top…
    assert len(chain.monitor_voltages) > 100
    assert max(chain.monitor_voltages) >= absorption_v - 0.05
    # …and never went more than 50 mV beyond it
    assert max(chain.monitor_voltages) <= absorption_v + 0.05
    assert max(c.charge_current_a for _t, c in chain.listener.commands) == 80.0
    assert truth["f952"] is False and truth["alarms"] == []
    full = [s for _t, s in chain.listener.statuses if s.last_full_charge_unix is not None]
    assert full and chain.status.charge_state_reason == "tail_current"
    saved = json.loads((chain.tmp_path / "bms-controller.json").read_text())
    assert saved["last_full_charge_unix"] == full[0].last_full_charge_unix  # for the periodic one


@pytest.mark.slow
async def test_a_cold_battery_gets_no_charge_current(chain: Chain) -> None:
    await chain.start(scenario(soc_pct=50.0, temperature_c=0.0, ambient_c=0.0))
    started = time.monotonic()
    currents = []
    while time.monotonic() - started < 4.0:  # 100 simulated seconds on the grid
        currents.append(chain.sim()["battery_current_a"])
        await eventually(lambda: True)
    assert all(c.charge_current_a == 0.0 for _t, c in chain.listener.commands)
    assert max(currents) <= 0.0
    assert "low_temperature_charge" in chain.status.warnings
    assert chain.status.limits.charge_current_a.reason == "charge_low_temperature"
    assert chain.sim()["grid_connected"] is True  # the grid was there: only the limit held it


@pytest.mark.slow
async def test_the_monitor_vanishing_degrades_to_the_si_voltage_without_f952(chain: Chain) -> None:
    await chain.start(scenario(soc_pct=60.0))
    running = len(chain.listener.statuses)
    await eventually(lambda: len(chain.listener.statuses) > running + 10, 5, "a few cycles")
    assert chain.status.warnings == frozenset()
    chain.apply("monitor", state="vanish")
    vanished_at = time.monotonic()
    await eventually(lambda: chain.status.measurement_source == "si", 2, "the SI's voltage")
    assert time.monotonic() - vanished_at < 1.0
    status = chain.status
    assert "general" in status.warnings and status.alarms == frozenset()
    assert status.battery_voltage_v == pytest.approx(chain.sim()["battery_voltage_v"], abs=0.3)
    assert status.limits.charge_current_a.value <= 8.0
    sent_before = len(chain.listener.commands)
    await eventually(lambda: chain.sim()["sim_time_s"] > 0, 1)
    until = chain.sim()["sim_time_s"] + 120.0  # twice the SI's 60 s BMS timeout
    await eventually(lambda: chain.sim()["sim_time_s"] > until, 15, "120 simulated seconds")
    truth = chain.sim()
    assert truth["f952"] is False and truth["operating"] is True
    assert not [e for e in chain.sim_events() if e["event"].startswith("f952")]
    assert len(chain.listener.commands) > sent_before + 20
    chain.apply("monitor", state="restore")
    await eventually(
        lambda: chain.status.measurement_source == "battery_monitor", 3, "monitor back"
    )


async def test_settings_written_over_dbus_reach_the_si_within_one_cycle_or_are_refused(
    chain: Chain,
) -> None:
    await chain.start(scenario(soc_pct=50.0))
    await eventually(lambda: chain.sim()["bms_values"]["charge_current_a"] == 80.0, 10, "80 A")
    path = "/Settings/SmaVenus/Controller/"
    (code,) = await call(
        chain.bus, SETTINGS_SERVICE, path + "BulkCurrent", BUSITEM, "SetValue",
        signature="v", body=[Variant("d", 30.0)],
    )  # fmt: skip
    assert code == 0
    changed_at = time.monotonic()
    period_s = 0.2
    await eventually(lambda: any(t > changed_at + period_s for t, _ in chain.listener.commands), 3)
    after = [c for t, c in chain.listener.commands if t > changed_at + period_s]
    assert all(c.charge_current_a == 30.0 for c in after)
    await eventually(lambda: chain.sim()["bms_values"]["charge_current_a"] == 30.0, 3, "the SI")

    (code,) = await call(
        chain.bus, SETTINGS_SERVICE, path + "FloatVoltage", BUSITEM, "SetValue",
        signature="v", body=[Variant("d", 56.5)],  # above the absorption voltage
    )  # fmt: skip
    assert code == 0  # localsettings takes it (within its min/max)…
    assert chain.localsettings is not None
    standin = chain.localsettings
    await eventually(lambda: standin.value(path + "FloatVoltage") == 54.0, 3, "undone")
    log = chain.processes.log("smavenus-bms-controller")
    # …the controller refuses it
    assert "event=setting_rejected key=controller.float_voltage_v" in log
    assert chain.sim()["f952"] is False
