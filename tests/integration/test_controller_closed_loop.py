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

import asyncio
import json
import time

import pytest
from dbus_fast import Variant

from smavenus.io.dbus import call
from smavenus.io.dbus.busitem import BUSITEM
from smavenus.io.dbus.localsettings import SETTINGS_SERVICE
from smavenus.testing.waiting import eventually
from tests.integration.controller_harness import (
    DELIVERY_S,
    Chain,
    commands_sent_after,
    scenario,
    transitions,
)

PERIOD_S = 0.2  #: [controller] period_s of the chain


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
    state = chain.tmp_path / "bms-controller.json"

    def saved_full_charge() -> object:  # saved off the loop: wait for the write itself
        return state.exists() and json.loads(state.read_text()).get("last_full_charge_unix")

    await eventually(saved_full_charge, 30, "the full charge saved")
    assert saved_full_charge() == full[0].last_full_charge_unix  # for the periodic one


@pytest.mark.slow
async def test_a_cold_battery_gets_no_charge_current(chain: Chain) -> None:
    await chain.start(scenario(soc_pct=50.0, temperature_c=0.0, ambient_c=0.0))
    commands_before = len(chain.listener.commands)
    until = chain.sim()["sim_time_s"] + 100.0  # 100 simulated seconds on the grid
    currents = []
    while (truth := chain.sim())["sim_time_s"] < until:
        currents.append(truth["battery_current_a"])
        await asyncio.sleep(0.1)  # a sampling interval, not a wait for an event
    # The controller commanded all along (it had every chance to let a current through).
    assert len(chain.listener.commands) > commands_before + 10
    assert all(c.charge_current_a == 0.0 for _t, c in chain.listener.commands)
    assert max(currents) <= 0.0
    assert "low_temperature_charge" in chain.status.warnings
    assert chain.status.limits.charge_current_a.reason == "charge_low_temperature"
    assert chain.sim()["grid_connected"] is True  # the grid was there: only the limit held it


@pytest.mark.slow
async def test_the_monitor_vanishing_degrades_to_the_si_voltage_without_f952(chain: Chain) -> None:
    await chain.start(scenario(soc_pct=60.0))
    running = len(chain.listener.statuses)
    await eventually(lambda: len(chain.listener.statuses) > running + 10, 30, "a few cycles")
    assert chain.status.warnings == frozenset()
    chain.apply("monitor", state="vanish")
    await eventually(lambda: chain.status.measurement_source == "si", 30, "the SI's voltage")
    status = chain.status
    # At once, because the monitor left the bus: the controller has no sample of it at all,
    # not one that aged past input_max_age_s (how soon in seconds: bench/, not this test).
    assert status.inputs["battery_monitor"].age_s is None, status.inputs
    assert "general" in status.warnings and status.alarms == frozenset()
    assert status.battery_voltage_v == pytest.approx(chain.sim()["battery_voltage_v"], abs=0.3)
    assert status.limits.charge_current_a.value <= 8.0
    sent_before = len(chain.listener.commands)
    await eventually(lambda: chain.sim()["sim_time_s"] > 0, 30)
    until = chain.sim()["sim_time_s"] + 120.0  # twice the SI's 60 s BMS timeout
    await eventually(lambda: chain.sim()["sim_time_s"] > until, 60, "120 simulated seconds")
    truth = chain.sim()
    assert truth["f952"] is False and truth["operating"] is True
    assert not [e for e in chain.sim_events() if e["event"].startswith("f952")]
    assert len(chain.listener.commands) > sent_before + 20
    chain.apply("monitor", state="restore")
    await eventually(
        lambda: chain.status.measurement_source == "battery_monitor", 30, "monitor back"
    )


async def test_settings_written_over_dbus_reach_the_si_within_one_cycle_or_are_refused(
    chain: Chain,
) -> None:
    await chain.start(scenario(soc_pct=50.0))
    await eventually(lambda: chain.sim()["bms_values"]["charge_current_a"] == 80.0, 30, "80 A")
    path = "/Settings/SmaVenus/Controller/"
    (code,) = await call(
        chain.bus, SETTINGS_SERVICE, path + "BulkCurrent", BUSITEM, "SetValue",
        signature="v", body=[Variant("d", 30.0)],
    )  # fmt: skip
    assert code == 0
    after = await commands_sent_after(chain.listener, time.monotonic() + DELIVERY_S + PERIOD_S)
    assert all(c.charge_current_a == 30.0 for c in after)
    await eventually(lambda: chain.sim()["bms_values"]["charge_current_a"] == 30.0, 30, "the SI")

    (code,) = await call(
        chain.bus, SETTINGS_SERVICE, path + "FloatVoltage", BUSITEM, "SetValue",
        signature="v", body=[Variant("d", 56.5)],  # above the absorption voltage
    )  # fmt: skip
    assert code == 0  # localsettings takes it (within its min/max)…
    assert chain.localsettings is not None
    standin = chain.localsettings
    await eventually(lambda: standin.value(path + "FloatVoltage") == 54.0, 30, "undone")
    log = chain.processes.log("smavenus-bms-controller")
    # …the controller refuses it
    assert "event=setting_rejected key=controller.float_voltage_v" in log
    assert chain.sim()["f952"] is False
