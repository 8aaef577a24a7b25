"""The whole simulated installation, stepped on simulated time: the sans-I/O core of the simulator.

Drive it with :meth:`Simulation.advance_to`, feed it BMS frames with :meth:`Simulation.receive`
and scenario or control events with :meth:`Simulation.apply`, then collect what it wants to
say with :meth:`Simulation.take_outputs` (status frames, battery-monitor readings, and actions
for the edges such as "unplug the adapter"). :meth:`Simulation.next_deadline` tells an event
loop when to come back. Nothing here reads a clock or touches a bus.

Time is integrated in fixed steps of ``scenario.step_s`` on a grid aligned to zero, split at
every deadline (a timeout, a scenario event, a status cycle), so events land on their exact
time (F952 exactly ``bms_timeout_s`` after the last watched frame) whatever the step.
Randomness comes from generators seeded with ``seed`` and is drawn only when frames and
readings are produced, so the same seed and the same inputs give the same frames.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from smavenus.sim.battery import CHEMISTRIES, Battery, BatteryParams
from smavenus.sim.bms import BmsUpdate
from smavenus.sim.energy import EnergyTotals
from smavenus.sim.environment import Inputs, load_key, pv_ac_key
from smavenus.sim.events import BMS_IDS, EventKind, Recorder
from smavenus.sim.model_events import MODEL_EVENTS
from smavenus.sim.monitor import MonitorReading, monitor_reading
from smavenus.sim.power import Flow, FlowInputs, power_flow
from smavenus.sim.scenario import (
    MAX_LINES,
    AdapterEvent,
    MonitorEvent,
    Scenario,
    ScenarioEvent,
    SystemEvent,
)
from smavenus.sim.scenario_venus import BmsEvent, DvccEvent
from smavenus.sim.si import Observations, SunnyIsland
from smavenus.sim.status import Noise, ac_state, status_frames
from smavenus.sim.venus import VenusSide


@dataclass(frozen=True, slots=True)
class FrameOut:
    """A frame the SI puts on the bus."""

    time_s: float
    can_id: int
    data: bytes


@dataclass(frozen=True, slots=True)
class EdgeAction:
    """Something only an edge can do: ``target`` adapter/monitor/system/bms/dvcc, ``state``
    what to do, ``detail`` its parameters (``voltage_offset_v`` for a lie)."""

    time_s: float
    target: str
    state: str
    detail: Mapping[str, Any] = field(default_factory=dict)


Output = FrameOut | MonitorReading | BmsUpdate | EdgeAction

#: Events aimed at the edges, by target.
EDGE_EVENTS: dict[type[Any], str] = {
    MonitorEvent: "monitor",
    SystemEvent: "system",
    AdapterEvent: "adapter",
    BmsEvent: "bms",
}


class Simulation:
    """A simulated Sunny Island cluster, its battery, AC side and battery monitor."""

    def __init__(self, scenario: Scenario, *, seed: int | None = None) -> None:
        self.scenario = scenario
        self.seed = scenario.seed if seed is None else seed
        self.recorder = Recorder()
        self.now_s = 0.0
        self.step_s = scenario.step_s
        si_cfg, bat = scenario.si, scenario.battery
        chemistry = CHEMISTRIES[bat.chemistry]
        cells = bat.cells or chemistry.default_cells
        cell_rng = random.Random(f"{self.seed}:cells")  # noqa: S311 - not security
        self.battery = Battery(
            BatteryParams(
                chemistry=chemistry,
                cells=cells,
                capacity_ah=bat.capacity_ah,
                internal_resistance_ohm=bat.internal_resistance_ohm
                or chemistry.cell_resistance_ohm * cells,
                cell_soc_offsets_pct=tuple(
                    cell_rng.gauss(0.0, bat.cell_spread_pct) for _ in range(cells)
                ),
            ),
            soc_pct=bat.soc_pct,
            temperature_c=bat.temperature_c,
        )
        self.si = SunnyIsland(si_cfg, scenario.grid, self.recorder)
        lines = self._lines = si_cfg.lines
        loads = list(scenario.loads.power_w) + [0.0] * (MAX_LINES - len(scenario.loads.power_w))
        pv_ac = list(scenario.pv.ac_power_w) + [0.0] * (MAX_LINES - len(scenario.pv.ac_power_w))
        self.inputs = Inputs(
            {
                **{load_key(n): loads[n - 1] for n in range(1, lines + 1)},
                **{pv_ac_key(n): pv_ac[n - 1] for n in range(1, lines + 1)},
                "pv_dc_a": scenario.pv.dc_current_a,
                "ambient_c": bat.ambient_c,
                "ac2_voltage_v": scenario.grid.voltage_v or si_cfg.nominal_voltage_v,
                "ac2_frequency_hz": scenario.grid.frequency_hz or si_cfg.nominal_frequency_hz,
            }
        )
        self.ac2_present = scenario.grid.present
        self._flow_constants = {
            "efficiency": si_cfg.efficiency,
            "idle_w": si_cfg.idle_power_w * lines,
            "max_ac_power_w": si_cfg.unit_power_w * lines,
            "fspc_max_shift_hz": si_cfg.fspc_max_shift_hz,
        }
        self._events = list(scenario.sorted_events())
        self._next_event = 0
        self._cycles = 0
        self._readings = 0
        self._outbox: list[Output] = []
        self._noise = Noise(f"{self.seed}:si", si_cfg.noise)
        self._drop_rng = random.Random(f"{self.seed}:drop")  # noqa: S311 - not security
        self._monitor_noise = Noise(f"{self.seed}:monitor", si_cfg.noise)
        self.venus = VenusSide(scenario, cells, self.recorder, self.seed)
        self.frames_sent = 0
        self.frames_received = 0
        self.flow: Flow = self._compute_flow()
        self.energy = EnergyTotals(si_cfg.status_period_s)
        self.recorder.truth = self.battery_truth
        if self.si.operating:
            self.recorder.record(0.0, EventKind.STARTED)
        self._process_due()

    # -- driving ----------------------------------------------------------------------------

    def advance_to(self, time_s: float) -> None:
        """Integrate up to ``time_s``, stopping at every deadline on the way."""
        while self.now_s < time_s:
            target = min(time_s, self._next_grid_time(), self.next_deadline())
            self._integrate(target - self.now_s)
            self.now_s = target
            self._process_due()

    def receive(self, time_s: float, can_id: int, data: bytes, *, extended: bool = False) -> None:
        """A frame from the bus (the BMS) reached the SI at ``time_s``."""
        self.advance_to(time_s)
        if extended or can_id not in BMS_IDS:
            return
        self.frames_received += 1
        self.recorder.bms_frame(self.now_s, can_id)
        self.si.receive(self.now_s, can_id, data)
        self._settle()

    def apply(self, event: ScenarioEvent, time_s: float, *, source: str = "control") -> None:
        """Apply a scenario event now (its ``at_s`` is ignored). Raises ValueError if invalid."""
        line = getattr(event, "line", 1)
        if line > self.scenario.si.lines:
            raise ValueError(f"line {line}: the cluster has {self.scenario.si.lines} lines")
        self.venus.check(event)
        self.advance_to(time_s)
        self._apply(event, source)
        self._settle()

    def take_outputs(self) -> list[Output]:
        outputs, self._outbox = self._outbox, []
        return outputs

    def next_deadline(self) -> float:
        """The next simulated time at which something happens without outside input."""
        candidates = [self._cycle_time(self._cycles), self._reading_time(self._readings)]
        if (bms_sample := self.venus.next_sample_s()) is not None:
            candidates.append(bms_sample)
        if self._next_event < len(self._events):
            candidates.append(self._events[self._next_event].at_s)
        candidates.extend(self.si.deadlines(self.now_s))
        return min(t for t in candidates if t > self.now_s)

    # -- state for people and tests -----------------------------------------------------------

    def status(self) -> dict[str, Any]:
        si = self.si
        return {
            "sim_time_s": round(self.now_s, 3),
            "operating": si.operating,
            "switched_off": si.switched_off,
            "causes": sorted(c.value for c in si.causes),
            "f952": si.bms_link.f952,
            "w952": si.bms_link.w952,
            "alarms": sorted(c.alarm_event for c in si.bms_link.alarms),
            "warnings": sorted(c.warning_event for c in si.bms_link.warnings),
            "grid_requested": si.requested,
            "grid_connected": si.relay_closed,
            "ac2_valid": si.ac2_valid,
            "bms_values": dict(si.bms),
            "ccl_applied_a": round(si.ccl_applied_a, 2),
            "true_soc_pct": round(self.battery.soc_pct, 3),
            "battery_voltage_v": round(self.battery.terminal_v(self.flow.battery_current_a), 3),
            "battery_current_a": round(self.flow.battery_current_a, 2),
            "battery_temperature_c": round(self.battery.temperature_c, 2),
            "bms_silenced": si.silenced,
            "frames_sent": self.frames_sent,
            "bms_frames_received": self.frames_received,
            "longest_bms_gap_s": round(
                self.recorder.longest_bms_gap_s(
                    since_s=self.recorder.bms_arrivals[0][0], until_s=self.now_s
                ),
                3,
            )
            if self.recorder.bms_arrivals
            else None,
            "events": len(self.recorder.events),
            "energy": self.energy.to_dict(self.now_s),
            **self.venus.status(self.recorder.dvcc.to_dict()),
        }

    def battery_truth(self) -> dict[str, Any]:
        """The battery as it really is now, whatever any sensor shows."""
        current_a = self.flow.battery_current_a
        cell_min_v, cell_max_v = self.battery.cell_voltages_v(current_a)
        return {
            "pack_v": round(self.battery.terminal_v(current_a), 3),
            "cell_min_v": round(cell_min_v, 4),
            "cell_max_v": round(cell_max_v, 4),
            "current_a": round(current_a, 2),
            "temperature_c": round(self.battery.temperature_c, 2),
            "soc_pct": round(self.battery.soc_pct, 2),
        }

    def summary(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario.name,
            "seed": self.seed,
            **self.recorder.summary(self.now_s),
            "final": {
                key: self.status()[key]
                for key in ("operating", "causes", "true_soc_pct", "grid_connected")
            },
        }

    # -- internals --------------------------------------------------------------------------

    def _next_grid_time(self) -> float:
        return (math.floor(self.now_s / self.step_s + 1e-9) + 1) * self.step_s

    def _cycle_time(self, index: int) -> float:
        return index * self.scenario.si.status_period_s

    def _reading_time(self, index: int) -> float:
        return index * self.scenario.monitor.period_s

    def _line_values(self, key: Any) -> tuple[float, ...]:
        return tuple(self.inputs.value(key(n), self.now_s) for n in range(1, self._lines + 1))

    def _compute_flow(self) -> Flow:
        si, cfg, battery = self.si, self.scenario.si, self.battery
        allow_discharge = si.soc_in_use_pct > cfg.self_consumption_soc_min_pct
        return power_flow(
            FlowInputs(
                **self._flow_constants,
                operating=si.operating,
                on_grid=si.relay_closed,
                load_w=self._line_values(load_key),
                pv_ac_w=self._line_values(pv_ac_key),
                pv_dc_a=self.inputs.value("pv_dc_a", self.now_s),
                ocv_v=battery.ocv_v(),
                resistance_ohm=battery.resistance_ohm(),
                charge_limit_a=si.ccl_applied_a,
                charge_voltage_v=si.limit("charge_voltage_v"),
                discharge_limit_a=si.limit("discharge_current_a"),
                self_consumption=cfg.self_consumption and allow_discharge,
            )
        )

    def _integrate(self, dt_s: float) -> None:
        if dt_s <= 0:
            return
        current_a = self.flow.battery_current_a
        self.battery.step(current_a, dt_s, self.inputs.value("ambient_c", self.now_s))
        self.energy.integrate(self.flow.external_w, self.flow.inverter_w, dt_s)
        self.si.note_battery_current(self.now_s + dt_s, current_a)
        self.si.follow_limits(dt_s)

    def _observations(self) -> Observations:
        flow = self.flow
        return Observations(
            ocv_v=self.battery.ocv_v(),
            terminal_v=self.battery.terminal_v(flow.battery_current_a),
            battery_current_a=flow.battery_current_a,
            total_load_w=sum(self._line_values(load_key)),
            ac2_present=self.ac2_present,
            ac2_voltage_v=self.inputs.value("ac2_voltage_v", self.now_s),
            ac2_frequency_hz=self.inputs.value("ac2_frequency_hz", self.now_s),
        )

    def _settle(self) -> None:
        """Let the SI react to the present, then recompute the power flow for the next step."""
        self.si.check(self.now_s, self._observations())
        self.flow = self._compute_flow()

    def _process_due(self) -> None:
        while self._next_event < len(self._events) and (
            self._events[self._next_event].at_s <= self.now_s
        ):
            self._apply(self._events[self._next_event], "scenario")
            self._next_event += 1
        self._settle()
        if self.now_s >= self._cycle_time(self._cycles):
            self._cycles += 1
            self._emit_status()
        if self.now_s >= self._reading_time(self._readings):
            self._readings += 1
            self._outbox.append(
                monitor_reading(
                    self.now_s, self.battery, self.flow, self.scenario.monitor, self._monitor_noise
                )
            )
        if (update := self.venus.sample_if_due(self.now_s, self.battery, self.flow)) is not None:
            self._outbox.append(update)

    def _emit_status(self) -> None:
        if self.si.switched_off:
            return  # switched off completely: silent bus
        flow = self.flow
        ac = ac_state(
            self.si,
            flow,
            self.inputs.value("ac2_voltage_v", self.now_s),
            self.inputs.value("ac2_frequency_hz", self.now_s),
        )
        frames = status_frames(
            self.si,
            flow,
            ac,
            battery_v=self.battery.terminal_v(flow.battery_current_a),
            battery_temperature_c=self.battery.temperature_c,
            power_factor=self.scenario.loads.power_factor,
            noise=self._noise,
            drop_probability=self.scenario.si.frame_drop_probability,
            rng=self._drop_rng,
        )
        self.energy.cycle(self.now_s, frames)
        for can_id, data in frames:
            self.frames_sent += 1
            self._outbox.append(FrameOut(self.now_s, can_id, data))

    def _apply(self, event: ScenarioEvent, source: str) -> None:
        now = self.now_s
        self.recorder.record(
            now,
            EventKind.SCENARIO,
            source=source,
            **event.model_dump(mode="json", exclude={"at_s"}),
        )
        edge = EDGE_EVENTS.get(type(event))
        if edge is not None:
            self.venus.note_state(now, event)
            detail = event.model_dump(exclude={"at_s", "action", "state"})
            self._outbox.append(EdgeAction(now, edge, str(getattr(event, "state", "")), detail))
            return
        APPLY[type(event)](self, event)


def _dvcc(sim: Simulation, event: DvccEvent) -> None:
    sim.venus.dvcc.apply(event)
    sim._outbox.append(EdgeAction(sim.now_s, "dvcc", "changed"))  # systemcalc shows it at once


#: How each model-side scenario event changes the simulation.
APPLY: dict[type[Any], Callable[[Simulation, Any], None]] = {**MODEL_EVENTS, DvccEvent: _dvcc}
