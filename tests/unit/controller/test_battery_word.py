"""The battery's BMS and DVCC, rule by rule (R1–R17 of the reference), on the pure controller."""

from __future__ import annotations

from typing import Any

import pytest

from smavenus.controller.continuity import restore, saved_state, seed_limits
from smavenus.controller.inputs import UserDvccLimits
from tests.unit.controller.rig import MONITOR, Rig, config

AT_REST: dict[str, Any] = {
    "voltage_v": 53.0,
    "current_a": 0.0,
    "temperature_c": 20.0,
    "soc_pct": 50.0,
    "min_cell_v": 3.30,
    "max_cell_v": 3.32,
}


def rig(**controller: Any) -> Rig:
    r = Rig(config(controller=controller) if controller else config())
    r.set(**AT_REST)
    return r


# -- R8–R11: the four limits -------------------------------------------------------------------


def test_the_bms_limits_are_ceilings_in_own_mode() -> None:
    r = rig()
    r.bms_values = {
        "max_charge_voltage_v": 55.2, "max_charge_current_a": 30.0,
        "max_discharge_current_a": 80.0, "battery_low_voltage_v": 46.0,
    }  # fmt: skip
    r.run(60)
    assert (r.cvl, r.ccl, r.dcl) == (55.2, 30.0, 80.0)
    assert r.last.limits.discharge_voltage_v.value == 46.0
    assert {r.last.limits.charge_current_a.reason, r.last.limits.charge_voltage_v.reason} == {
        "bms_info"
    }
    assert r.state == "bulk" and r.last.mode == "own"


def test_a_stale_bms_is_no_ceiling_but_a_fresh_one_is_at_once() -> None:
    r = rig()
    r.bms_values = {"max_charge_current_a": 30.0}
    r.run(30)
    assert r.ccl == 30.0
    r.bms_alive = False  # no more updates: stale after input_max_age_s
    r.run(40)
    assert r.ccl == 140.0 and "bms_lost" in {p.name for p in r.controller.status(
        r.last, 0, r.t, 0.0).protections}  # fmt: skip
    r.bms_alive = True
    r.run(1)
    assert r.ccl == 30.0  # tightening is immediate


@pytest.mark.parametrize(("dvcc_on", "age_s", "expected"), [
    (True, 2.0, 25.0), (True, 30.0, 30.0), (False, 2.0, 30.0), (None, 2.0, 30.0),
])  # fmt: skip
def test_dvcc_bol_counts_only_while_dvcc_is_on_and_the_write_is_young(
    dvcc_on: bool | None, age_s: float, expected: float
) -> None:
    r = rig()
    r.bms_values = {"max_charge_current_a": 30.0}
    r.dvcc_on, r.dvcc_age_s = dvcc_on, age_s
    r.dvcc_values = {"max_charge_current_a": 25.0}
    r.run(60)
    assert r.ccl == expected


def test_the_smaller_of_dvccs_and_the_bms_own_current_wins() -> None:
    """Unlike Victron's DVCC quirks, a BMS's own 0 A is never raised."""
    r = rig()
    r.bms_values = {"max_charge_current_a": 0.0}
    r.dvcc_on, r.dvcc_values = True, {"max_charge_current_a": 40.0}  # BYD's float current
    r.run(30)
    assert r.ccl == 0.0


@pytest.mark.parametrize(("written", "expected"), [(25.0, 25.0), (0.8, 0.0), (10000.0, 140.0)])
def test_without_a_bms_dvcc_limits_the_charger_through_dc_max_charge_current(
    written: float, expected: float
) -> None:
    r = rig()
    r.dvcc_on, r.dvcc_age_s = True, 120.0  # written long ago: still in force while DVCC is on
    r.dvcc_values = {"dc_max_charge_current_a": written}
    r.run(60)
    assert r.ccl == expected


def test_the_users_dvcc_limits_apply_with_a_bms_while_dvccs_own_current_is_stale() -> None:
    r = rig()
    r.bms_values = {"max_charge_current_a": 60.0, "max_charge_voltage_v": 56.0}
    r.dvcc_on, r.dvcc_age_s = True, 30.0
    r.dvcc_values = {"max_charge_current_a": 20.0}  # stale
    r.user_dvcc = UserDvccLimits(max_charge_current_a=35.0, max_charge_voltage_v=55.0)
    r.run(60)
    assert (r.ccl, r.cvl) == (35.0, 55.0)
    assert r.last.limits.charge_current_a.reason == "user_dvcc_limit"


def test_other_chargers_current_is_taken_off_the_bms_limit() -> None:
    r = rig()
    r.bms_values = {"max_charge_current_a": 50.0}
    r.set(current_a=40.0)  # the monitor sees 40 A into the battery…
    assert r.si_values is not None
    r.si_values["current_a"] = 10.0  # …of which the SI brings 10 A: MPPTs bring 30 A
    r.run(60)
    assert r.ccl == pytest.approx(20.0, abs=0.5)


@pytest.mark.parametrize("cvl", [655.34, 30.0, 44.0])
def test_an_implausible_bms_charge_voltage_means_no_charging_never_a_bigger_limit(
    cvl: float,
) -> None:
    r = rig()
    r.run(30)
    r.bms_values = {"max_charge_voltage_v": cvl}
    r.run(5)
    assert r.ccl == 0.0
    assert r.cvl <= 56.0
    assert len(r.events("bms_limit_rejected")) == 1  # logged once, not every cycle


def test_a_bms_discharge_voltage_above_smas_range_is_sent_as_48_v_with_a_warning() -> None:
    r = rig()
    r.bms_values = {"battery_low_voltage_v": 49.5}
    r.run(30)
    assert r.last.limits.discharge_voltage_v.value == 48.0
    assert "general" in r.last.warnings


def test_a_charge_voltage_below_the_battery_is_held_above_it_and_charging_stops() -> None:
    """dbus-serialbattery's penalty controller asks for less than the pack has."""
    r = rig()
    r.set(voltage_v=54.5)
    r.bms_values = {"max_charge_voltage_v": 56.0}
    r.run(30)
    r.bms_values = {"max_charge_voltage_v": 53.9}
    r.run(5)
    assert r.cvl == pytest.approx(54.6)  # never below the SI's battery voltage
    assert r.ccl == 0.0
    assert r.last.limits.charge_current_a.reason == "below_battery_guard"


# -- R12–R14: permissions and requests -------------------------------------------------------


def test_allow_to_charge_0_blocks_charging_without_an_sma_warning() -> None:
    r = rig()
    r.bms_values = {"allow_to_charge": False}
    r.run(30)
    assert r.ccl == 0.0 and r.last.warnings == frozenset()


@pytest.mark.parametrize(("control", "off_grid", "alarm"), [
    ("follow_bms", True, True), ("follow_bms", False, False), ("own", True, False),
])  # fmt: skip
def test_allow_to_discharge_0_sets_dcl_0_and_off_grid_stops_the_si_when_following(
    control: str, off_grid: bool, alarm: bool
) -> None:
    """The SI heeds DCL only on grid: off grid, still discharging, an alarm stops it."""
    r = rig(charge_control=control)
    r.bms_values = {"allow_to_discharge": False, "alarms": {"LowCellVoltage": 2}}
    r.grid_connected = not off_grid
    r.set(current_a=-30.0)  # the SI inverts from the battery
    r.run(15)
    assert r.dcl == 0.0
    assert ("low_voltage" in r.last.alarms) is alarm


def test_a_bms_charge_request_asks_for_the_grid_in_grid_assist_modes() -> None:
    r = Rig(config(controller={"grid_assist_mode": "low_battery"}))
    r.set(**AT_REST)
    r.bms_values = {"charge_request": True}
    r.run(5)
    assert r.last.grid_requested and r.last.grid_reason == "bms_charge_request"


# -- R17: the BMS's alarms -----------------------------------------------------------------------


def test_a_bms_warning_warns_and_its_alarm_acts_at_once_and_stops_the_si_after_the_delay() -> None:
    r = rig()
    r.bms_values = {"alarms": {"HighCellVoltage": 1}}
    r.run(5)
    assert "high_voltage" in r.last.warnings and r.ccl == 140.0
    r.bms_values = {"alarms": {"HighCellVoltage": 2}}
    r.run(3)
    assert r.ccl == 0.0 and r.last.alarms == frozenset()
    r.run(10)
    assert "high_voltage" in r.last.alarms


def test_a_bms_alarm_with_no_sma_alarm_only_acts_on_the_limits() -> None:
    r = rig()
    r.bms_values = {"alarms": {"HighChargeTemperature": 2}}
    r.run(60)
    assert r.ccl == 0.0 and r.last.alarms == frozenset()
    assert "high_temperature_charge" in r.last.warnings


# -- modes -----------------------------------------------------------------------------------


def test_follow_bms_regulates_to_the_bms_voltage_and_reports_bulk_then_absorption() -> None:
    r = rig(charge_control="follow_bms")
    r.bms_values = {"max_charge_voltage_v": 55.2, "max_charge_current_a": 100.0}
    r.run(5)
    assert r.last.mode == "follow_bms" and r.state == "bulk"
    assert r.cvl == 55.2 and r.ccl == 100.0
    r.set(voltage_v=55.2, current_a=20.0)
    r.run(20)
    assert r.state == "absorption"
    assert r.ccl < 100.0


def test_auto_follows_a_fresh_bms_and_charges_on_its_own_without_one() -> None:
    r = rig(charge_control="auto")
    r.run(5)
    assert r.last.mode == "own"
    r.bms_values = {"max_charge_voltage_v": 55.2}
    r.run(5)
    assert r.last.mode == "follow_bms"
    r.bms_values = None  # gone: on our own again (R16), with a warning, never stuck at 0 A
    r.run(30)
    assert r.last.mode == "own" and r.last.bms_lost and "general" in r.last.warnings
    assert r.ccl > 0.0


# -- R15: a lost BMS -------------------------------------------------------------------------


@pytest.mark.parametrize(("cells", "expected_a"), [((3.30, 3.32), 20.0), ((3.30, 3.50), 0.0)])
def test_a_lost_bms_allows_only_reduced_charging_and_only_in_the_safe_cell_window(
    cells: tuple[float, float], expected_a: float
) -> None:
    r = rig(charge_control="follow_bms", limit_ramp_up_s=0.0)
    r.set(min_cell_v=cells[0], max_cell_v=cells[1])
    r.bms_values = {"max_charge_voltage_v": 56.0, "max_charge_current_a": 100.0}
    r.run(10)
    r.bms_values = None  # vanished
    r.run(12)
    d = r.last
    assert d.bms_lost and d.mode == "bms_lost" and "general" in d.warnings
    assert r.cvl <= r.cfg.controller.float_voltage_v
    assert r.ccl <= expected_a
    r.run(r.cfg.controller.bms_lost_timeout_s)
    assert r.ccl == 0.0
    assert r.dcl <= r.cfg.gateway.safe_discharge_current_a


# -- restarts ----------------------------------------------------------------------------------


def test_a_restarted_controller_keeps_latched_alarms_and_resumes_its_charge_state() -> None:
    r = rig()
    r.run(10)
    r.set(max_cell_v=3.80)
    r.run(12)
    assert "high_voltage" in r.last.alarms
    saved = saved_state(r.controller, r.t, r.unix0 + r.t)
    assert any(p.name == "cell_high_voltage" and p.level == 2 for p in saved.protections)

    after = rig()
    after.t = r.t + 5.0
    events = restore(after.controller, saved, after.t, r.unix0 + after.t)
    assert events[0].fields["latched"]
    after.set(max_cell_v=3.32)  # fine again after the restart
    after.run(0)
    assert "high_voltage" in after.last.alarms  # held in full after a restart
    after.run(after.cfg.controller.alarm_min_hold_s - 2)
    assert "high_voltage" in after.last.alarms
    after.run(3)
    assert after.last.alarms == frozenset()  # released once the hold is over: cells are fine


def test_the_first_command_after_a_restart_starts_from_what_the_gateway_sends() -> None:
    r = rig()
    seed_limits(
        r.controller, charge_voltage_v=55.0, charge_current_a=12.0,
        discharge_current_a=100.0, discharge_voltage_v=46.0,
    )  # fmt: skip
    r.run(0)
    assert r.ccl <= 12.0 + 140.0 / 10.0  # relaxes no faster than limit_ramp_up_s allows
    assert r.cvl <= 55.0 + 0.1


def test_monitor_service_may_also_be_the_bms() -> None:
    r = rig()
    r.bms_values = {"service": MONITOR, "max_charge_current_a": 40.0}
    r.run(30)
    assert r.ccl == 40.0 and r.last.measurements.source == "battery_monitor"
