"""The controller closing the loop around a battery and an SI that only obeys the current
limit (the pessimistic SI: no voltage regulation of its own), over hours of battery time."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from smavenus.config import AppConfig
from smavenus.controller import ChargeController
from tests.unit.controller.plant import Plant, monitor_sample, si_snapshot
from tests.unit.controller.rig import UNIX0, config

SUBSTEPS = 5


@dataclass
class Trace:
    max_voltage_v: float = 0.0
    max_cell_v: float = 0.0
    states: list[tuple[float, str, str]] = field(default_factory=list)
    max_ccl_a: float = 0.0


def charge(plant: Plant, cfg: AppConfig, hours: float, cells: bool = False) -> Trace:
    controller = ChargeController(cfg, started_at=0.0)
    trace = Trace()
    t = 0.0
    while t < hours * 3600:
        controller.update_monitor(monitor_sample(plant, t, cells=cells))
        controller.update_snapshot(
            si_snapshot(t, plant.voltage_v(), plant.si_current_a, plant.temperature_c)
        )
        decision = controller.step(t, UNIX0 + t)
        state = decision.charge_state.value
        if not trace.states or trace.states[-1][1] != state:
            trace.states.append((t, state, controller.charger.reason))
        ccl = decision.limits.charge_current_a.value
        trace.max_ccl_a = max(trace.max_ccl_a, ccl)
        for _ in range(SUBSTEPS):
            plant.step(ccl, cfg.controller.period_s / SUBSTEPS)
            trace.max_voltage_v = max(trace.max_voltage_v, plant.voltage_v())
            trace.max_cell_v = max(trace.max_cell_v, plant.cell_voltages_v()[1])
        t += cfg.controller.period_s
    return trace


@pytest.mark.parametrize(
    ("resistance_ohm", "lag_s"),
    [(0.004, 3.0), (0.010, 3.0), (0.004, 10.0), (0.002, 1.0), (0.010, 10.0)],
    ids=["4mohm-3s", "10mohm-3s", "4mohm-10s", "2mohm-1s", "10mohm-10s"],
)
def test_a_charge_from_20_percent_to_float_holds_absorption_within_50_mv(
    resistance_ohm: float, lag_s: float
) -> None:
    cfg = config()
    plant = Plant(resistance_ohm=resistance_ohm, lag_s=lag_s, soc_pct=20.0)
    trace = charge(plant, cfg, hours=3.0)
    assert [(s, r) for _t, s, r in trace.states] == [
        ("bulk", "start"),
        ("absorption", "absorption_voltage_reached"),
        ("float", "tail_current"),
    ]
    assert trace.max_voltage_v <= cfg.controller.absorption_voltage_v + 0.05
    assert trace.max_ccl_a == cfg.controller.bulk_current_a
    assert plant.soc_pct > 99.0


def test_a_runner_cell_is_held_at_the_cell_regulation_voltage_until_absorption_times_out() -> None:
    cfg = config(controller={"absorption_max_s": 1800})
    plant = Plant(soc_pct=80.0, cell_offsets_pct=(0.0, 0.0, 0.8))  # one cell 0.8 % ahead
    trace = charge(plant, cfg, hours=2.0, cells=True)
    assert trace.max_cell_v <= cfg.controller.cell_regulate_voltage_v + 0.02
    assert trace.max_cell_v < cfg.controller.cell_high_voltage_v
    # the pack never reached 56 V: not "full" on tail current, but absorption on time
    assert [(s, r) for _t, s, r in trace.states] == [
        ("bulk", "start"),
        ("absorption", "absorption_voltage_reached"),
        ("float", "absorption_time_up"),
    ]


def test_a_cold_battery_gets_no_charge_current_for_hours() -> None:
    cfg = config()
    plant = Plant(soc_pct=40.0, temperature_c=1.0)
    trace = charge(plant, cfg, hours=4.0)
    assert trace.max_ccl_a == 0.0
    assert plant.soc_pct == pytest.approx(40.0)
