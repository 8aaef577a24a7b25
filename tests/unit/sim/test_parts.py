"""The simulator's smaller parts: battery, recorder, clock, monitor readings, control requests."""

from __future__ import annotations

import pytest

from smavenus.sim import EventKind, Recorder
from smavenus.sim.battery import LEAD_ACID, LIFEPO4, Battery, BatteryParams
from smavenus.sim.clock import SimClock
from smavenus.sim.control import ApplyRequest, BadRequestError, StatusRequest, answer, parse_request
from tests.unit.sim.support import feed, make, outputs, readings


@pytest.mark.parametrize("chemistry", [LIFEPO4, LEAD_ACID])
def test_ocv_rises_with_soc_and_the_top_is_steep(chemistry: object) -> None:
    table = chemistry.ocv_table  # type: ignore[attr-defined]
    volts = [v for _soc, v in table]
    assert volts == sorted(volts)
    assert chemistry.cell_ocv_v(100) - chemistry.cell_ocv_v(95) > chemistry.cell_ocv_v(
        60
    ) - chemistry.cell_ocv_v(50)  # type: ignore[attr-defined]


def battery(soc: float = 50.0, temperature: float = 25.0) -> Battery:
    return Battery(BatteryParams(LIFEPO4, 16, 100.0, 0.004), soc, temperature)


def test_charge_moves_soc_by_amp_hours_and_voltage_by_ir() -> None:
    bank = battery()
    bank.step(current_a=50.0, dt_s=3600.0, ambient_c=25.0)
    assert bank.soc_pct == pytest.approx(100.0)
    bank = battery()
    assert bank.terminal_v(100.0) - bank.terminal_v(0.0) == pytest.approx(0.4)
    assert bank.terminal_v(bank.current_for_voltage_a(54.0)) == pytest.approx(54.0)


def test_cold_cells_are_stiffer_and_current_warms_them() -> None:
    assert battery(temperature=0.0).resistance_ohm() > battery().resistance_ohm()
    bank = battery()
    bank.step(current_a=200.0, dt_s=600.0, ambient_c=25.0)
    assert bank.temperature_c > 25.0


def test_longest_gap_counts_the_window_edges() -> None:
    rec = Recorder(gap_report_s=2.5)
    for t in (1.0, 2.0, 3.0, 7.0, 8.0):
        rec.bms_frame(t, 0x351)
    assert rec.longest_bms_gap_s(since_s=1.0) == 4.0
    assert rec.longest_bms_gap_s(since_s=1.0, until_s=20.0) == 12.0
    assert rec.longest_bms_gap_s(since_s=0.0, can_id=0x355) == 0.0
    gaps = rec.of_kind(EventKind.BMS_GAP)
    assert [(g.time_s, g.detail["gap_s"]) for g in gaps] == [(7.0, 4.0)]


def test_clock_maps_loop_time_to_simulated_time_and_back() -> None:
    clock = SimClock(speed=10.0)
    assert clock.sim_time(100.0) == 0.0  # paused until started
    assert clock.wall_time(5.0) is None
    clock.start(100.0)
    assert clock.sim_time(101.5) == 15.0
    assert clock.wall_time(15.0) == 101.5
    with pytest.raises(ValueError, match="positive"):
        SimClock(speed=0)


def test_monitor_readings_use_victron_signs_and_invalid_time_to_go_when_charging() -> None:
    sim = make(grid={"request": "always", "valid_time_s": 0}, si={"noise": 0})
    feed(sim, 0, 30, ccl=40.0)
    reading = readings(outputs(sim))[-1]
    assert reading.current_a == pytest.approx(40.0, abs=0.5)  # + while charging
    assert reading.time_to_go_s is None
    assert reading.min_cell_v <= reading.max_cell_v
    assert reading.consumed_ah == pytest.approx(-(100 - reading.soc_pct) * 2.8, abs=0.01)


def test_control_requests_are_validated() -> None:
    assert isinstance(parse_request(b'{"cmd": "status"}'), StatusRequest)
    apply = parse_request('{"cmd": "apply", "event": {"action": "adapter", "state": "unplug"}}')
    assert isinstance(apply, ApplyRequest)
    for bad, reason in (
        (b"not json", "Invalid JSON"),
        (b'{"cmd": "explode"}', "does not match"),
        (b'{"cmd": "status", "extra": 1}', "extra"),
        (
            b'{"cmd": "apply", "event": {"action": "adapter", "state": "melt"}}',
            "event.adapter.state",
        ),
    ):
        with pytest.raises(BadRequestError, match=reason):
            parse_request(bad)


def test_control_answers_from_the_simulation() -> None:
    sim = make()
    sim.advance_to(61)
    status = answer(sim, parse_request('{"cmd": "status"}'))
    assert status["f952"] is True
    events = answer(sim, parse_request('{"cmd": "events", "since": 1}'))
    assert events["events"][0]["t_s"] == 0.0
    assert events["next"] == len(sim.recorder.events)
