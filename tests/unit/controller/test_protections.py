"""Every protection rule: warning first, alarm only past its alarm threshold for
``alarm_delay_s``, hysteresis on the way back, and what it does to the limits."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from smavenus.controller.rules import MEASURED_RULES
from tests.unit.controller.rig import Rig, config

BASE: dict[str, Any] = {
    "voltage_v": 53.0,
    "current_a": 0.0,
    "temperature_c": 20.0,
    "soc_pct": 50.0,
    "min_cell_v": 3.30,
    "max_cell_v": 3.32,
}


@dataclass(frozen=True)
class Row:
    rule: str
    condition: str
    warn: dict[str, Any]  #: trips the warning
    still: dict[str, Any]  #: back, but within the hysteresis: still a warning
    clear: dict[str, Any]  #: back by more than the hysteresis
    alarm: dict[str, Any] | None = None  #: past the alarm threshold (None: never alarms)
    si: dict[str, Any] | None = None  #: what the SI reports (default: the same as the monitor)
    warn_after_s: float = 0.0  #: how long the quantity must stay past the warning threshold


ROWS = [
    Row("pack_high_voltage", "high_voltage",
        {"voltage_v": 56.8}, {"voltage_v": 56.5}, {"voltage_v": 56.3}, {"voltage_v": 57.2}),
    Row("cell_high_voltage", "high_voltage",
        {"max_cell_v": 3.65}, {"max_cell_v": 3.61}, {"max_cell_v": 3.59}, {"max_cell_v": 3.75}),
    Row("pack_low_voltage", "low_voltage",
        {"voltage_v": 48.0}, {"voltage_v": 48.3}, {"voltage_v": 48.5}, None),
    Row("cell_low_voltage", "low_voltage",
        {"min_cell_v": 2.90}, {"min_cell_v": 2.94}, {"min_cell_v": 2.96}, {"min_cell_v": 2.50}),
    Row("cell_imbalance", "cell_imbalance",
        {"max_cell_v": 3.40}, {"max_cell_v": 3.38}, {"max_cell_v": 3.37}, None),
    Row("charge_low_temperature", "low_temperature_charge",
        {"temperature_c": 5.0}, {"temperature_c": 6.9}, {"temperature_c": 7.1}, None),
    Row("charge_high_temperature", "high_temperature_charge",
        {"temperature_c": 45.0}, {"temperature_c": 43.1}, {"temperature_c": 42.9}, None),
    Row("low_temperature", "low_temperature",
        {"temperature_c": -15.0}, {"temperature_c": -13.1}, {"temperature_c": -12.9},
        {"temperature_c": -20.0}),
    Row("high_temperature", "high_temperature",
        {"temperature_c": 55.0}, {"temperature_c": 53.1}, {"temperature_c": 52.9},
        {"temperature_c": 60.0}),
    Row("high_charge_current", "high_charge_current",
        {"current_a": 155.0}, {"current_a": 148.0}, {"current_a": 146.0}, None),
    Row("high_discharge_current", "high_current",
        {"current_a": -221.0}, {"current_a": -211.0}, {"current_a": -209.0}, None),
]  # fmt: skip


def rig_at_rest(si: dict[str, Any] | None = None) -> Rig:
    rig = Rig(config())
    rig.set(**BASE)
    if si is not None:
        assert rig.si_values is not None
        rig.si_values.update(si)
    rig.run(20)
    assert rig.last.warnings == frozenset() and rig.last.alarms == frozenset()
    return rig


def set_monitor(rig: Rig, values: dict[str, Any], pin_si: dict[str, Any] | None) -> None:
    rig.set(**values)
    if pin_si is not None:
        assert rig.si_values is not None
        rig.si_values.update(pin_si)


@pytest.mark.parametrize("row", ROWS, ids=[row.rule for row in ROWS])
def test_warning_alarm_and_hysteresis(row: Row) -> None:
    rig = rig_at_rest(row.si)
    set_monitor(rig, row.warn, row.si)
    if row.warn_after_s:
        rig.run(row.warn_after_s)
        assert row.condition not in rig.last.warnings
    rig.run(1)
    assert row.condition in rig.last.warnings
    assert rig.last.alarms == frozenset()
    active = {p.name: p for p in rig.controller.status(rig.last, 0, rig.t, 0.0).protections}
    assert active[row.rule].level == "warning"
    if row.alarm is not None:
        set_monitor(rig, row.alarm, row.si)
        rig.run(10)  # seen first one period after being set: 9 s past the threshold
        assert rig.last.alarms == frozenset()
        assert row.condition in rig.last.warnings
        rig.run(1)
        assert row.condition in rig.last.alarms
        set_monitor(rig, row.still, row.si)  # back by the alarm's hysteresis: warning again…
        rig.run(1)
        assert row.condition in rig.last.alarms, "…but the SMA alarm is held"
        rig.run(rig.cfg.controller.alarm_min_hold_s - 1)
        assert row.condition not in rig.last.alarms
    set_monitor(rig, row.still, row.si)
    rig.run(5)
    assert row.condition in rig.last.warnings, "cleared inside the hysteresis"
    set_monitor(rig, row.clear, row.si)
    rig.run(1)
    assert row.condition not in rig.last.warnings
    changes = [e for e in rig.events("protection_changed") if e["rule"] == row.rule]
    expected = 4 if row.alarm is not None else 2  # ok→warning(→alarm→warning)→ok, once each
    assert len(changes) == expected


def test_every_threshold_rule_has_a_row() -> None:
    assert {rule.name for rule in MEASURED_RULES} == {row.rule for row in ROWS}


@pytest.mark.parametrize(
    ("values", "rule"),
    [
        ({"voltage_v": 56.8}, "pack_high_voltage"),
        ({"max_cell_v": 3.66}, "cell_high_voltage"),
        ({"temperature_c": 4.0}, "charge_low_temperature"),
    ],
)
def test_blocking_rules_step_the_charge_current_through_1a_to_0(
    values: dict[str, Any], rule: str
) -> None:
    rig = rig_at_rest()
    rig.run(30)
    assert rig.ccl == 140.0
    rig.set(**values)
    ccl = [rig.run(1).limits.charge_current_a for _ in range(4)]
    assert [c.value for c in ccl] == [1.0, 1.0, 0.0, 0.0]
    assert ccl[-1].reason == rule
    # and the charge voltage is held just above the battery: nothing to charge toward
    assert rig.cvl == pytest.approx(
        min(rig.cfg.controller.absorption_voltage_v, values.get("voltage_v", 53.0) + 0.1)
    )


def test_under_voltage_limits_discharge_current_and_never_alarms() -> None:
    rig = rig_at_rest()
    rig.set(voltage_v=46.0)
    rig.run(600)
    assert rig.dcl == rig.cfg.controller.low_voltage_discharge_current_a
    assert rig.last.limits.discharge_current_a.reason == "pack_low_voltage"
    assert rig.last.alarms == frozenset()
    assert "low_voltage" in rig.last.warnings


@pytest.mark.parametrize(
    ("temperature_c", "expected_a"),
    [(44.0, 140.0), (50.0, 70.0), (54.0, 14.0), (55.0, 0.0), (58.0, 0.0)],
)
def test_charge_current_is_derated_above_the_derate_temperature(
    temperature_c: float, expected_a: float
) -> None:
    rig = rig_at_rest()
    rig.set(temperature_c=temperature_c)
    rig.run(60)
    assert rig.ccl == pytest.approx(expected_a, abs=0.01)


def test_a_stale_monitor_degrades_to_the_si_and_keeps_commanding() -> None:
    rig = rig_at_rest()
    rig.run(60)
    assert rig.ccl == 140.0
    rig.monitor_alive = False  # still on the bus, no more updates (frozen)
    rig.run(10)
    assert rig.last.measurements.source == "battery_monitor"  # 10 s old: still fresh
    rig.run(1)
    d = rig.last
    assert d.measurements.source == "si"
    assert "general" in d.warnings and d.alarms == frozenset()
    assert d.limits.charge_current_a.value <= rig.cfg.controller.degraded_charge_current_a
    assert d.limits.charge_current_a.reason == "degraded: battery_monitor_stale"
    assert d.limits.charge_voltage_v.value == rig.cfg.controller.float_voltage_v
    rig.monitor_alive = True
    rig.run(1)
    assert rig.last.measurements.source == "battery_monitor"
    assert rig.last.warnings == frozenset()
    assert [e["new"] for e in rig.events("measurement_source_changed")] == [
        "battery_monitor", "si", "battery_monitor",
    ]  # fmt: skip


def test_a_monitor_that_disagrees_with_the_si_is_a_latched_fault() -> None:
    """Nobody knows which sensor is wrong: charging stops until they agree for a while."""
    rig = Rig(config(controller={"frozen_after_s": 3600}))  # the rig's monitor never wavers
    rig.set(**BASE)
    rig.run(80)
    assert rig.ccl == 140.0
    assert rig.si_values is not None
    rig.si_values["voltage_v"] = 55.0  # the SI sees the battery rise; the monitor does not
    rig.run(10)
    assert "general" not in rig.last.warnings  # seen 9 s: not yet alarm_delay_s
    rig.run(4)
    d = rig.last
    assert "general" in d.warnings and d.alarms == frozenset()
    assert d.limits.charge_current_a.value == 0.0
    assert d.limits.charge_current_a.reason == "sensor_disagreement"
    assert d.limits.discharge_current_a.value == rig.cfg.controller.low_voltage_discharge_current_a
    assert d.measurements.source == "battery_monitor"  # regulation keeps its primary source
    rig.si_values["voltage_v"] = 53.1  # they agree again…
    rig.run(30)
    assert rig.ccl == 0.0, "…but the fault is latched until they agree for mismatch_clear_s"
    rig.run(rig.cfg.controller.mismatch_clear_s)
    assert "general" not in rig.last.warnings and rig.ccl > 0.0
    assert len(rig.events("sensor_disagreement")) == 1
    assert len(rig.events("sensor_disagreement_cleared")) == 1


def test_a_frozen_monitor_is_left_out_and_the_si_regulates_degraded() -> None:
    """Alive on the bus (its timestamp refreshed by rescans) but its value never moves."""
    rig = rig_at_rest()
    assert rig.si_values is not None
    for step in range(int(rig.cfg.controller.frozen_after_s) + 2):
        rig.si_values["voltage_v"] = 53.0 + 0.3 * (step % 2)  # the SI sees it move
        rig.run(1)
    d = rig.last
    assert rig.events("source_frozen")[0]["source"] == "battery_monitor"
    assert d.measurements.source == "si"
    assert "general" in d.warnings
    assert d.limits.charge_current_a.value <= rig.cfg.controller.degraded_charge_current_a


def test_one_source_over_voltage_protects_even_if_the_other_looks_safe() -> None:
    """The worst reading protects: a monitor at 58.8 V, the SI at 52.8 V (reference §4)."""
    rig = rig_at_rest()
    rig.run(60)
    assert rig.si_values is not None
    rig.set(voltage_v=58.8)
    rig.si_values["voltage_v"] = 52.8
    rig.run(1)
    assert "high_voltage" in rig.last.warnings  # at once: the worst of both is 58.8 V
    rig.run(3)
    assert rig.ccl == 0.0
    rig.run(10)
    assert "high_voltage" in rig.last.alarms  # 58.8 V past the alarm level for alarm_delay_s
    for _ in range(120):
        rig.run(1)
        assert rig.ccl == 0.0 and "high_voltage" in rig.last.alarms


def test_without_single_source_alarm_one_source_blocks_charging_but_never_stops_the_si() -> None:
    rig = Rig(config(controller={"single_source_alarm": False}))
    rig.set(**BASE)
    rig.run(60)
    assert rig.si_values is not None
    rig.set(voltage_v=58.8)
    rig.si_values["voltage_v"] = 52.8
    rig.run(120)
    assert rig.last.alarms == frozenset()
    assert {"high_voltage", "general"} <= rig.last.warnings
    assert rig.ccl == 0.0


def test_cells_that_vanish_during_an_alarm_keep_it() -> None:
    rig = rig_at_rest()
    rig.set(max_cell_v=3.80)
    rig.run(12)
    assert "high_voltage" in rig.last.alarms
    rig.set(min_cell_v=None, max_cell_v=None)  # the readings go invalid
    rig.run(600)
    assert "high_voltage" in rig.last.alarms and rig.ccl == 0.0
    rig.set(min_cell_v=3.30, max_cell_v=3.32)  # back, and fine
    rig.run(rig.cfg.controller.alarm_min_hold_s + 1)
    assert rig.last.alarms == frozenset()


def test_nan_from_a_source_is_missing_never_a_crash() -> None:
    rig = rig_at_rest()
    assert rig.monitor_values is not None
    rig.monitor_values.update(voltage_v=float("nan"), max_cell_v=float("inf"))
    rig.monitor_values.update(temperature_c=float("-inf"), current_a=float("nan"))
    rig.run(30)
    d = rig.last
    assert d.measurements.source == "si"  # the monitor without a voltage does not regulate
    assert d.readings.max_cell_v is None  # never a number
    assert "general" in d.warnings  # the cells were seen and are gone: cells_unknown
    assert d.limits.charge_current_a.value <= rig.cfg.controller.degraded_charge_current_a


def test_nothing_to_measure_blocks_charging_but_keeps_sending() -> None:
    rig = rig_at_rest()
    rig.monitor_values = None
    rig.si_values = None
    rig.run(30)
    d = rig.last
    assert d.measurements.source == "none"
    assert d.limits.charge_current_a.value == 0.0
    assert "general" in d.warnings and d.alarms == frozenset()
    assert d.soc_pct >= 1.0


def test_without_any_temperature_there_is_no_charging_from_the_first_cycle() -> None:
    rig = Rig(config())
    rig.set(**{**BASE, "temperature_c": None})
    assert rig.si_values is not None
    rig.si_values["temperature_c"] = None
    rig.run(0)
    assert rig.ccl == 0.0 and "general" not in rig.last.warnings  # start-up grace: no warning
    rig.run(30)
    assert "general" in rig.last.warnings
    assert rig.ccl == 0.0
    assert rig.last.limits.charge_current_a.reason == "temperature_unknown"


def test_the_si_temperature_stands_in_for_a_monitor_without_sensor() -> None:
    rig = Rig(config())
    rig.set(**{**BASE, "temperature_c": None})
    assert rig.si_values is not None
    rig.si_values["temperature_c"] = 2.0
    rig.run(5)
    assert "low_temperature_charge" in rig.last.warnings
    assert rig.ccl == 0.0


def test_monitor_grace_at_start_no_warning_while_it_is_being_found() -> None:
    rig = Rig(config())
    rig.monitor_values = None
    rig.run(9)
    assert "general" not in rig.last.warnings
    assert rig.last.measurements.source == "si"
    rig.run(1)
    assert "general" in rig.last.warnings


@pytest.mark.parametrize(
    "values",
    [{"voltage_v": 655.34}, {"max_cell_v": 0.0}, {"temperature_c": 1000.0}],
)
def test_a_value_no_battery_can_show_is_a_sensor_fault_not_an_alarm(values: dict[str, Any]) -> None:
    rig = rig_at_rest()
    assert rig.monitor_values is not None
    rig.monitor_values.update(values)  # the SI keeps measuring the real battery
    rig.run(30)
    d = rig.last
    assert d.alarms == frozenset()
    assert "general" in d.warnings  # implausible_reading
    assert "implausible_reading" in {
        p.name for p in rig.controller.status(d, 0, rig.t, 0.0).protections
    }
    assert len(rig.events("reading_implausible")) == 1


def test_an_implausible_reading_during_an_alarm_keeps_it() -> None:
    rig = rig_at_rest()
    rig.set(max_cell_v=3.80)
    rig.run(12)
    assert "high_voltage" in rig.last.alarms
    assert rig.monitor_values is not None
    rig.monitor_values["max_cell_v"] = 0.0  # the reading turns to garbage: missing, kept
    rig.run(60)
    assert "high_voltage" in rig.last.alarms
