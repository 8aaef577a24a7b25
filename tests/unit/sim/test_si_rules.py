"""The simulated SI obeys SMA's external-BMS rules (SMA-TI §2, §4, §5, §7), on the pure model."""

from __future__ import annotations

import pytest

from smavenus.protocol import (
    AlarmCondition,
    AlarmsWarnings,
    FunctionBits1,
    OnOffCommand,
    OperatingState,
    PairState,
    QuickStop,
    RemoteOnOff,
    encode,
)
from smavenus.sim import EventKind
from tests.unit.sim.support import event, feed, kinds, last, make, unclamped

ON_GRID = {"grid": {"request": "always", "valid_time_s": 0}, "si": {"noise": 0}}
OFF_GRID = {"grid": {"present": False}, "si": {"noise": 0}}


def test_startup_defaults_before_any_bms_frame() -> None:
    sim = make(**ON_GRID)
    sim.advance_to(30)
    battery, status = last(sim, 0x305), last(sim, 0x306)
    assert battery.soc_pct == 0.0  # SoC 0 % until the BMS speaks
    assert status.soh_pct == 100
    assert status.charge_voltage_setpoint_v == 54.0
    assert sim.flow.battery_current_a == 0.0  # CCL 0 A: no charging though on grid
    assert sim.si.relay_closed


def test_charges_at_ccl_and_follows_a_lower_ccl_within_about_10_s() -> None:
    sim = make(**ON_GRID)
    feed(sim, 0, 60, ccl=40.0)
    assert last(sim, 0x305).current_a == pytest.approx(-40.0, abs=0.1)  # SMA sign: charging < 0
    feed(sim, 60, 61, ccl=10.0)
    sim.advance_to(61 + 12)
    assert 10.0 <= sim.flow.battery_current_a <= 10.5
    feed(sim, 73, 120, ccl=10.0)
    assert last(sim, 0x305).current_a == pytest.approx(-10.0, abs=0.1)


def test_never_charges_above_cvl_the_current_tapers_instead() -> None:
    sim = make(battery={"soc_pct": 96.0, "capacity_ah": 50}, **ON_GRID)
    voltages, currents = [], []
    for t in range(0, 600, 10):
        feed(sim, t, t + 10, period_s=5.0, cvl=55.2, ccl=60.0)
        voltages.append(sim.battery.terminal_v(sim.flow.battery_current_a))
        currents.append(sim.flow.battery_current_a)
    assert max(voltages) <= 55.2 + 1e-6
    assert max(currents) == pytest.approx(60.0, abs=0.1)  # at CCL while below CVL
    assert -0.5 < currents[-1] < 5.0  # then tapered to nothing at CVL


def test_cvl_below_the_battery_voltage_discharges_towards_cvl_ignoring_dcl() -> None:
    sim = make(battery={"soc_pct": 98.5, "capacity_ah": 20}, **ON_GRID)
    feed(sim, 0, 5, cvl=53.0, ccl=50.0, dcl=0.0)
    assert sim.flow.battery_current_a < -10.0  # discharging although DCL is 0 A
    feed(sim, 5, 300, period_s=5.0, cvl=53.0, ccl=50.0, dcl=0.0)
    assert sim.battery.terminal_v(sim.flow.battery_current_a) == pytest.approx(53.0, abs=0.05)


def test_dcl_applies_on_grid_only() -> None:
    self_consumption = {"self_consumption": True, "noise": 0}
    on_grid = make(
        grid={"request": "always", "valid_time_s": 0},
        si=self_consumption,
        loads={"power_w": [3000]},
    )
    feed(on_grid, 0, 30, dcl=20.0)
    assert on_grid.flow.battery_current_a == pytest.approx(-20.0, abs=0.01)
    assert last(on_grid, 0x300).l1_w > 1500  # the grid supplies the rest

    off_grid = make(grid={"present": False}, si=self_consumption, loads={"power_w": [3000]})
    feed(off_grid, 0, 30, dcl=20.0)
    assert off_grid.flow.battery_current_a < -55.0  # the loads come first off grid


def test_discharge_voltage_stops_the_si() -> None:
    sim = make(battery={"soc_pct": 4.0}, loads={"power_w": [2000]}, **OFF_GRID)
    feed(sim, 0, 600, dvl=48.0)
    stop = sim.recorder.first(EventKind.DISCHARGE_VOLTAGE_STOP)
    assert stop is not None
    assert stop.detail["voltage_v"] <= stop.detail["dvl_v"] == 48.0
    assert "discharge_voltage" in sim.status()["causes"]
    assert sim.flow.battery_current_a == 0.0


GOOD_LIMITS = {
    "charge_voltage_v": 56.0,
    "charge_current_a": 50.0,
    "discharge_current_a": 100.0,
    "discharge_voltage_v": 44.8,
}


@pytest.mark.parametrize(
    ("field", "bad"),
    [
        ("charge_voltage_v", 63.5),
        ("charge_voltage_v", 40.0),
        ("charge_current_a", -5.0),
        ("charge_current_a", 1300.0),
        ("discharge_voltage_v", 49.0),
    ],
)
def test_out_of_range_values_are_ignored_and_the_last_good_one_kept(field: str, bad: float) -> None:
    sim = make(**ON_GRID)
    feed(sim, 0, 5)
    for t in range(5, 10):
        sim.receive(t, 0x351, unclamped(0x351, **{**GOOD_LIMITS, field: bad}))
    assert sim.si.bms == {**sim.si.bms, **GOOD_LIMITS}
    rejected = sim.recorder.of_kind(EventKind.BMS_VALUE_REJECTED)
    assert len(rejected) == 1  # reported once, not every second
    assert rejected[0].detail["field"] == field


def test_soc_above_100_is_ignored_and_invalid_marker_restores_the_default() -> None:
    sim = make(**ON_GRID)
    feed(sim, 0, 5, soc=57.3)
    # SOC 57 %, SoH 100 %, HiResSOC 123.45 %: out of range, so the SI keeps 57.3 %
    sim.receive(5.5, 0x355, bytes.fromhex("390064003930"))
    assert last(sim, 0x305).soc_pct == 57.3
    feed(sim, 6, 10, ccl=None)  # 0x8000: "reset to internal default" (0 A)
    assert sim.si.bms["charge_current_a"] == 0.0


def test_f952_exactly_60_s_after_the_last_soc_frame_and_defaults_after_it() -> None:
    sim = make(**ON_GRID)
    feed(sim, 0, 100.3, period_s=0.7)
    last_355 = max(t for t, cid in sim.recorder.bms_arrivals if cid == 0x355)
    sim.advance_to(last_355 + 59.999)
    assert sim.recorder.first(EventKind.F952_RAISED) is None
    sim.advance_to(last_355 + 200)
    f952 = sim.recorder.first(EventKind.F952_RAISED)
    assert f952 is not None
    assert f952.time_s == last_355 + 60.0
    at_f952 = [e.kind.value for e in sim.recorder.events if e.time_s == f952.time_s]
    assert at_f952[:4] == ["f952_raised", "bms_defaults_restored", "grid_disconnected", "standby"]
    status = last(sim, 0x306)
    assert (status.operating_state, status.error_number) == (OperatingState.FAILURE, 952)
    assert last(sim, 0x305).soc_pct == 0.0  # back to the defaults


def test_frames_back_clear_f952_and_the_si_restarts() -> None:
    sim = make(**ON_GRID)
    feed(sim, 0, 10)
    sim.advance_to(100)
    feed(sim, 100, 110)
    assert kinds(sim).count("f952_cleared") == 1
    assert sim.si.operating
    assert last(sim, 0x306).operating_state == OperatingState.OPERATING


def test_w952_without_0x351_is_only_a_warning_and_charging_stops() -> None:
    sim = make(**ON_GRID)
    feed(sim, 0, 10, ccl=40.0)
    feed(sim, 10, 100, ccl=40.0, skip={0x351})
    w952 = sim.recorder.first(EventKind.W952_RAISED)
    assert w952 is not None
    assert w952.time_s == pytest.approx(69.0)
    assert sim.recorder.first(EventKind.F952_RAISED) is None
    assert sim.si.operating
    status = last(sim, 0x306)
    assert (status.operating_state, status.error_number) == (OperatingState.WARNING, 952)
    assert sim.flow.battery_current_a == pytest.approx(0.0, abs=0.5)  # CCL back to 0 A


def test_f952_watches_0x355_by_default_and_any_set_of_ids_if_configured() -> None:
    only_351 = make(**ON_GRID)
    feed(only_351, 0, 120, skip={0x355})
    assert only_351.recorder.first(EventKind.F952_RAISED) is not None

    any_frame = make(si={"f952_watch_ids": [0x351, 0x355], "noise": 0}, grid=ON_GRID["grid"])
    feed(any_frame, 0, 120, skip={0x355})
    assert any_frame.recorder.first(EventKind.F952_RAISED) is None


def alarm_frame(pairs: dict[AlarmCondition, PairState]) -> bytes:
    return encode(AlarmsWarnings(alarms=pairs))[1]


def test_alarm_arrive_goes_to_standby_after_the_reaction_time_and_leave_restarts() -> None:
    sim = make(si={"alarm_reaction_s": 3.0, "noise": 0}, grid=ON_GRID["grid"])
    feed(sim, 0, 10)
    sim.receive(10.0, 0x35A, alarm_frame({AlarmCondition.HIGH_TEMPERATURE: PairState.RAISED}))
    sim.advance_to(12.9)
    assert sim.si.operating
    sim.advance_to(13.5)
    standby = sim.recorder.first(EventKind.STANDBY)
    assert standby is not None
    assert (standby.time_s, standby.detail["cause"]) == (13.0, "bms_alarm")
    status, relay = last(sim, 0x306), last(sim, 0x307)
    assert (status.operating_state, status.error_number) == (OperatingState.FAILURE, 923)
    assert FunctionBits1.ERROR in relay.functions1
    assert FunctionBits1.RUN not in relay.functions1
    # 00 ("no change") and 11 ("ignored") do not clear an alarm (SMA-TI §7.1)
    for pair in (PairState.NO_CHANGE, PairState.IGNORED):
        sim.receive(20.0, 0x35A, alarm_frame({AlarmCondition.HIGH_TEMPERATURE: pair}))
    sim.advance_to(30)
    assert not sim.si.operating
    sim.receive(30.0, 0x35A, alarm_frame({AlarmCondition.HIGH_TEMPERATURE: PairState.CLEARED}))
    assert sim.si.operating
    assert kinds(sim).count("alarm_cleared") == 1


def test_warnings_are_displayed_but_the_si_keeps_running() -> None:
    sim = make(**ON_GRID)
    feed(sim, 0, 20, warnings={AlarmCondition.CELL_IMBALANCE})
    assert sim.si.operating
    status = last(sim, 0x306)
    assert (status.operating_state, status.error_number) == (OperatingState.WARNING, 948)


def test_quick_stop_needs_a_start_command() -> None:
    sim = make(**ON_GRID)
    feed(sim, 0, 10)
    sim.receive(10.0, *encode(QuickStop()))
    feed(sim, 10, 100)
    assert not sim.si.operating  # BMS frames alone do not restart it
    assert sim.status()["causes"] == ["quick_stop"]
    sim.receive(100.0, *encode(RemoteOnOff(OnOffCommand.ON)))
    assert sim.si.operating
    assert kinds(sim).count("quick_stop") == 1


def test_remote_off_and_on() -> None:
    sim = make(**ON_GRID)
    feed(sim, 0, 10)
    sim.receive(10.0, *encode(RemoteOnOff(OnOffCommand.OFF)))
    sim.advance_to(15)
    assert last(sim, 0x306).operating_state == OperatingState.NONE  # stopped, not failed
    sim.receive(15.0, *encode(RemoteOnOff(OnOffCommand.ON)))
    assert sim.si.operating


def test_without_bms_the_si_shuts_down_after_5_min_at_soc_0_and_goes_silent() -> None:
    sim = make(**ON_GRID)
    sim.advance_to(299.9)
    assert sim.recorder.first(EventKind.SHUT_DOWN) is None
    sim.take_outputs()
    sim.advance_to(400)
    shut_down = sim.recorder.first(EventKind.SHUT_DOWN)
    assert shut_down is not None
    assert shut_down.time_s == 300.0
    assert [o for o in sim.take_outputs() if type(o).__name__ == "FrameOut"] == []
    feed(sim, 400, 500)  # too late: it is off and hears nothing
    assert sim.si.switched_off
    sim.apply(event("button", press="start"), 500.0)
    feed(sim, 500, 510)
    assert sim.si.operating
    assert last(sim, 0x305).soc_pct == 60.0


def test_battery_protection_level_1_stops_and_the_grid_restarts_it() -> None:
    sim = make(
        grid={"present": False, "valid_time_s": 30, "soc_start_pct": 20, "soc_stop_pct": 50},
        si={"noise": 0},
    )
    feed(sim, 0, 400, soc=22.0)
    protection = sim.recorder.first(EventKind.BATTERY_PROTECTION)
    assert protection is not None
    assert (protection.time_s, protection.detail["protection_level"]) == (300.0, 1)
    assert not sim.si.operating
    sim.apply(event("grid", present=True), 400.0)
    feed(sim, 400, 500, soc=22.0)
    restart = sim.recorder.of_kind(EventKind.STARTED)[-1]
    assert restart.time_s == 430.0  # once AC2 was valid for GdVldTm
    assert sim.si.relay_closed


def test_grid_requested_by_soc_with_hysteresis() -> None:
    sim = make(grid={"valid_time_s": 60, "soc_start_pct": 40, "soc_stop_pct": 80}, si={"noise": 0})
    # The SI starts with SoC 0 % (its default) and requests AC2 until the BMS says >= 80 %.
    feed(sim, 0, 50, soc=85.0)
    feed(sim, 50, 100, soc=50.0)
    assert sim.recorder.first(EventKind.GRID_CONNECTED) is None
    assert [e.time_s for e in sim.recorder.of_kind(EventKind.GRID_RELEASED)] == [0.0]
    feed(sim, 100, 200, soc=40.0)
    connected = sim.recorder.first(EventKind.GRID_CONNECTED)
    assert connected is not None
    assert connected.time_s == 100.0  # AC2 has been valid for longer than GdVldTm
    assert FunctionBits1.GD_ON in last(sim, 0x307).functions1
    feed(sim, 200, 300, soc=79.0)
    assert sim.si.relay_closed
    feed(sim, 300, 310, soc=80.0)
    assert not sim.si.relay_closed
    assert sim.recorder.of_kind(EventKind.GRID_DISCONNECTED)[-1].detail["reason"] == "released"


def test_grid_loss_disconnects_at_once_and_return_waits_for_gdvldtm() -> None:
    sim = make(grid={"request": "always", "valid_time_s": 60}, si={"noise": 0})
    feed(sim, 0, 100)
    sim.apply(event("grid", present=False), 100.0)
    sim.advance_to(101)
    relay = last(sim, 0x307)
    assert FunctionBits1.EXT_VF_OK not in relay.functions1
    assert not sim.si.relay_closed
    sim.apply(event("grid", present=True), 200.0)
    feed(sim, 200, 300)
    assert [e.time_s for e in sim.recorder.of_kind(EventKind.GRID_CONNECTED)] == [60.0, 260.0]


def test_load_requests_the_grid_when_enabled() -> None:
    sim = make(
        grid={"valid_time_s": 0, "power_start_w": 3000, "power_stop_w": 1000},
        loads={"power_w": [500]},
        si={"noise": 0},
    )
    feed(sim, 0, 10, soc=85.0)
    assert not sim.si.relay_closed
    sim.apply(event("load", power_w=3500), 10.0)
    feed(sim, 10, 20, soc=85.0)
    requested = sim.recorder.of_kind(EventKind.GRID_REQUESTED)[-1]
    assert (requested.time_s, requested.detail["reasons"]) == (10.0, ["load"])
    assert sim.si.relay_closed
    sim.apply(event("load", power_w=2000), 20.0)  # between GdPwrStp and GdPwrStr: stays on
    feed(sim, 20, 30, soc=85.0)
    assert sim.si.relay_closed
    sim.apply(event("load", power_w=900), 30.0)
    feed(sim, 30, 40, soc=85.0)
    assert not sim.si.relay_closed


def test_generator_starts_on_request_and_is_connected_after_warmup_and_gdvldtm() -> None:
    sim = make(
        grid={"kind": "generator", "generator_warmup_s": 20, "valid_time_s": 30},
        si={"noise": 0},
    )
    feed(sim, 0, 100, soc=30.0)
    connected = sim.recorder.first(EventKind.GRID_CONNECTED)
    assert connected is not None
    assert connected.time_s == 50.0
    assert connected.detail["source"] == "generator"


def test_surplus_ac_pv_off_grid_is_curtailed_by_raising_the_frequency() -> None:
    sim = make(pv={"ac_power_w": [4000]}, loads={"power_w": [500]}, **OFF_GRID)
    feed(sim, 0, 30, ccl=10.0)
    assert sim.flow.battery_current_a == pytest.approx(10.0, abs=0.2)
    assert last(sim, 0x304).frequency_hz > 50.5


def test_dc_pv_is_curtailed_to_ccl() -> None:
    sim = make(pv={"dc_current_a": 80}, loads={"power_w": [0]}, **OFF_GRID)
    feed(sim, 0, 60, ccl=30.0)
    assert sim.flow.battery_current_a == pytest.approx(30.0, abs=0.3)
    assert sim.flow.pv_dc_used_a < 80.0
