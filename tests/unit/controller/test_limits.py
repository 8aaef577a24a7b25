"""Limits tighten at once and relax slowly, the charge current steps through 1 A, and no
sequence of inputs ever produces a limit outside the hard limits."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smavenus.controller.limits import SMA_CVL_MAX_V, SMA_CVL_MIN_V, SMA_DVL_MAX_V
from tests.unit.controller.rig import Rig, config


def test_charge_current_comes_back_at_the_ramp_rate_after_a_block() -> None:
    rig = Rig(config())
    rig.run(30)
    assert rig.ccl == 140.0
    rig.set(temperature_c=0.0)
    rig.run(5)
    assert rig.ccl == 0.0
    rig.set(temperature_c=20.0)
    values = [rig.run(1).limits.charge_current_a.value for _ in range(11)]
    # 140 A / limit_ramp_up_s (10 s) = 14 A per second, never a jump
    assert values[:10] == [14.0 * k for k in range(1, 11)]
    assert values[10] == 140.0
    assert all(b - a <= 14.0 + 1e-9 for a, b in zip([0.0, *values], values, strict=False))


def test_discharge_current_drops_at_once_and_recovers_slowly() -> None:
    rig = Rig(config())
    rig.run(10)
    assert rig.dcl == 200.0
    rig.set(voltage_v=47.5)
    rig.run(1)
    assert rig.dcl == 20.0
    rig.set(voltage_v=50.0)
    rig.run(1)
    assert rig.dcl == 40.0  # 200 A / 10 s = 20 A/s
    rig.run(9)
    assert rig.dcl == 200.0


def test_charge_voltage_rises_slowly_from_float_to_absorption() -> None:
    rig = Rig(config())
    rig.set(voltage_v=56.0, current_a=50.0)
    rig.run(1)
    rig.set(current_a=5.0)
    rig.run(70)
    assert rig.state == "float"
    rig.set(voltage_v=53.9, current_a=-5.0)
    rig.run(1)
    assert rig.cvl == 54.0
    rig.set(voltage_v=52.0, current_a=-50.0)
    rig.run(61)
    assert rig.state == "bulk"
    rig.run(1)
    assert 54.0 < rig.cvl <= 54.2 + 1e-9  # 0.1 V/s
    rig.run(20)
    assert rig.cvl == 56.0


def test_entering_float_the_charge_voltage_follows_the_battery_down_never_below_it() -> None:
    """A charge voltage below the battery makes the SI discharge it (SMA-TI §5.3)."""
    rig = Rig(config())
    rig.set(voltage_v=56.0, current_a=50.0)
    rig.run(1)
    rig.set(current_a=5.0)
    rig.run(70)
    assert rig.state == "float"
    assert rig.cvl == 56.0 and rig.ccl == 0.0
    assert rig.last.limits.charge_voltage_v.reason == "float_voltage, following the battery down"
    rig.set(voltage_v=55.2, current_a=0.0)
    rig.run(1)
    assert rig.cvl == pytest.approx(55.3)  # 0.1 V above: the SI neither charges nor discharges
    rig.set(voltage_v=55.6)  # it never follows the battery back up
    rig.run(1)
    assert rig.cvl == pytest.approx(55.3)
    rig.set(voltage_v=53.0, current_a=-10.0)
    rig.run(1)
    assert rig.cvl == 54.0 and rig.last.limits.charge_voltage_v.reason == "float_voltage"


def test_the_1a_step_is_held_long_enough_for_a_frame_set() -> None:
    cfg = config(can={"bms_period_s": 2.0}, controller={"period_s": 0.5})
    rig = Rig(cfg)
    rig.run(30)
    rig.set(temperature_c=-1.0)
    values = [rig.run(0.5).limits.charge_current_a.value for _ in range(8)]
    # held 1.5 × the gateway's 2 s frame period (3 s, six 0.5 s cycles): a frame set falls in it
    assert values == [1.0] * 6 + [0.0] * 2


measurements = st.fixed_dictionaries(
    {
        "voltage_v": st.one_of(st.none(), st.floats(40.0, 62.0)),
        "current_a": st.one_of(st.none(), st.floats(-400.0, 400.0)),
        "temperature_c": st.one_of(st.none(), st.floats(-30.0, 70.0)),
        "soc_pct": st.one_of(st.none(), st.floats(0.0, 100.0)),
        "min_cell_v": st.one_of(st.none(), st.floats(2.0, 3.7)),
        "max_cell_v": st.one_of(st.none(), st.floats(2.0, 4.0)),
    }
)
events = st.lists(
    st.tuples(measurements, st.booleans(), st.booleans(), st.integers(1, 120)),
    min_size=1,
    max_size=12,
)
batteries = st.fixed_dictionaries(
    {
        "max_charge_voltage_v": st.floats(56.0, 58.0),
        "max_charge_current_a": st.floats(0.0, 200.0),
        "max_discharge_current_a": st.floats(0.0, 300.0),
    }
)


@settings(max_examples=60, deadline=None)
@given(events, batteries, st.sampled_from(["off", "low_battery", "keep_charged"]))
def test_no_input_sequence_produces_a_limit_beyond_the_hard_limits(
    sequence: list[tuple[dict[str, Any], bool, bool, int]],
    battery: dict[str, Any],
    mode: str,
) -> None:
    bms = {
        "absorption_voltage_v": 56.0,
        "bulk_current_a": battery["max_charge_current_a"],
        "tail_current_a": battery["max_charge_current_a"] / 10,
        "degraded_charge_current_a": battery["max_charge_current_a"] / 10,
        "low_voltage_discharge_current_a": battery["max_discharge_current_a"] / 10,
        "grid_assist_mode": mode,
    }
    gateway = {"safe_discharge_current_a": min(50.0, battery["max_discharge_current_a"])}
    cfg = config(battery=battery, controller=bms, gateway=gateway)
    rig = Rig(cfg)
    previous_ccl: float | None = None
    for values, monitor_alive, si_alive, seconds in sequence:
        rig.set(**values)
        rig.monitor_alive = monitor_alive
        if not si_alive:
            rig.si_values = None
        for _ in range(seconds):
            limits = rig.run(1).limits
            ccl = limits.charge_current_a.value
            assert (
                SMA_CVL_MIN_V <= limits.charge_voltage_v.value <= cfg.battery.max_charge_voltage_v
            )
            assert cfg.battery.min_discharge_voltage_v <= limits.discharge_voltage_v.value
            assert limits.discharge_voltage_v.value <= SMA_DVL_MAX_V
            assert limits.charge_voltage_v.value <= SMA_CVL_MAX_V
            assert 0.0 <= ccl <= cfg.battery.max_charge_current_a
            assert 0.0 <= limits.discharge_current_a.value <= cfg.battery.max_discharge_current_a
            assert 0.0 <= rig.last.soc_pct <= 100.0
            if (
                previous_ccl is not None
                and previous_ccl > 1.0
                and cfg.battery.max_charge_current_a >= 1.0
            ):
                assert ccl >= 1.0 or ccl == previous_ccl, "charge current went to 0 without 1 A"
            previous_ccl = ccl
