"""The simulator's energy account: what really flowed, and what the SI's frames said."""

from __future__ import annotations

import pytest

from smavenus.protocol import AlarmCondition
from smavenus.sim.energy import node_watts

from .support import feed, frames_of, make, outputs


def test_node_watts_split_every_quadrant_into_the_six_node_sums() -> None:
    # importing 1000 W, charging 400 W from it: out 600 W
    assert node_watts([1000.0], [-400.0]) == {
        "ac_in_import": 1000.0,
        "ac_in_export": 0.0,
        "inverter_out": 0.0,
        "inverter_in": 400.0,
        "ac_out_consumed": 600.0,
        "ac_out_fed": 0.0,
    }
    # exporting 500 W while the inverter delivers 2000 W; lines add up
    watts = node_watts([-500.0, 0.0], [2000.0, 300.0])
    assert watts["ac_in_export"] == 500.0
    assert watts["inverter_out"] == 2300.0
    assert watts["ac_out_consumed"] == 1800.0


def test_off_grid_the_inverter_delivers_the_load_and_both_accounts_agree() -> None:
    sim = make(grid={"present": False}, loads={"power_w": [2000]}, si={"noise": 0})
    feed(sim, 0, 600, ccl=20.0)
    energy = sim.status()["energy"]
    physical, reported = energy["physical_wh"], energy["reported_wh"]
    # 2000 W for 600 s = 333.3 Wh, the first cycle's frames at 0 s count from then on
    assert physical["inverter_out"] == pytest.approx(2000 * 600 / 3600, rel=1e-3)
    assert reported["inverter_out"] == pytest.approx(physical["inverter_out"], rel=1e-3)
    assert reported["ac_out_consumed"] == reported["inverter_out"]
    assert reported["ac_in_import"] == 0.0


def test_reported_energy_is_what_the_frames_said_at_their_resolution() -> None:
    sim = make(grid={"present": False}, loads={"power_w": [2040]}, si={"noise": 0})
    feed(sim, 0, 100, ccl=20.0)
    said = {f.l1_w for f in frames_of(outputs(sim), 0x301)}
    assert said == {2000.0}  # 100 W steps on the wire
    energy = sim.status()["energy"]
    assert energy["reported_wh"]["inverter_out"] == pytest.approx(2000 * 100 / 3600, rel=1e-3)
    assert energy["physical_wh"]["inverter_out"] == pytest.approx(2040 * 100 / 3600, rel=1e-3)


def test_a_silent_si_adds_nothing_to_the_reported_account() -> None:
    sim = make(grid={"present": False}, loads={"power_w": [1000]}, si={"noise": 0})
    feed(sim, 0, 10, ccl=20.0)
    before = sim.status()["energy"]["reported_wh"]["inverter_out"]
    sim.energy.cycle(sim.now_s, [])  # a cycle without power frames: nothing to hold
    sim.advance_to(sim.now_s + 0.5)
    sim.energy.cycle(sim.now_s, [])
    assert sim.energy.to_dict(sim.now_s)["reported_wh"]["inverter_out"] == before


def test_an_alarm_carries_the_battery_as_it_really_was() -> None:
    sim = make(grid={"present": False})
    feed(sim, 0, 5, alarms=[AlarmCondition.HIGH_VOLTAGE])
    raised = [e for e in sim.recorder.events if e.kind.value == "alarm_raised"]
    assert raised
    truth = raised[0].detail["truth"]
    assert set(truth) == {
        "pack_v",
        "cell_min_v",
        "cell_max_v",
        "current_a",
        "temperature_c",
        "soc_pct",
    }
    assert truth["cell_min_v"] <= truth["cell_max_v"]
