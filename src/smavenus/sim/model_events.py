"""How each model-side scenario event changes a :class:`~smavenus.sim.simulation.Simulation`
(the events aimed at the edges — monitor, BMS service, systemcalc, adapter — become
``EdgeAction`` outputs instead, in the simulation itself)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from smavenus.sim.environment import load_key, pv_ac_key
from smavenus.sim.scenario import (
    BatteryEvent,
    BmsSilenceEvent,
    ButtonEvent,
    GridEvent,
    LoadEvent,
    PvAcEvent,
    PvDcEvent,
    TemperatureEvent,
)
from smavenus.sim.scenario_venus import BmsLimitsEvent

if TYPE_CHECKING:  # the simulation imports this table: no import at run time
    from smavenus.sim.simulation import Simulation


def _grid(sim: Simulation, event: GridEvent) -> None:
    if event.present is not None:
        sim.ac2_present = event.present
    for key, value in (
        ("ac2_voltage_v", event.voltage_v),
        ("ac2_frequency_hz", event.frequency_hz),
    ):
        if value is not None:
            sim.inputs.set(key, sim.now_s, value)


def _temperature(sim: Simulation, event: TemperatureEvent) -> None:
    if event.ambient_c is not None:
        sim.inputs.set("ambient_c", sim.now_s, event.ambient_c, event.ramp_s)
    if event.battery_c is not None:
        sim.battery.temperature_c = event.battery_c


def _battery(sim: Simulation, event: BatteryEvent) -> None:
    sim.battery.soc_pct = event.soc_pct


def _load(sim: Simulation, event: LoadEvent) -> None:
    sim.inputs.set(load_key(event.line), sim.now_s, event.power_w, event.ramp_s)


def _pv_ac(sim: Simulation, event: PvAcEvent) -> None:
    sim.inputs.set(pv_ac_key(event.line), sim.now_s, event.power_w, event.ramp_s)


def _pv_dc(sim: Simulation, event: PvDcEvent) -> None:
    sim.inputs.set("pv_dc_a", sim.now_s, event.current_a, event.ramp_s)


def _silence(sim: Simulation, event: BmsSilenceEvent) -> None:
    sim.si.silence(sim.now_s, event.enabled, event.duration_s)


def _button(sim: Simulation, event: ButtonEvent) -> None:
    sim.si.button(sim.now_s, event.press)


def _bms_limits(sim: Simulation, event: BmsLimitsEvent) -> None:
    sim._outbox.extend(sim.venus.bms_limits(sim.now_s, event))


#: How each model-side scenario event changes the simulation (DVCC's is the simulation's own).
MODEL_EVENTS: dict[type[Any], Callable[[Simulation, Any], None]] = {
    LoadEvent: _load,
    PvAcEvent: _pv_ac,
    PvDcEvent: _pv_dc,
    GridEvent: _grid,
    TemperatureEvent: _temperature,
    BatteryEvent: _battery,
    BmsSilenceEvent: _silence,
    ButtonEvent: _button,
    BmsLimitsEvent: _bms_limits,
}
