"""The status frames the simulated SI sends: cadence, resolution, presets, and determinism."""

from __future__ import annotations

from collections import Counter

import pytest

from smavenus.protocol import FunctionBits1, OperatingState
from smavenus.protocol.specs import SI_STATUS_IDS
from smavenus.sim import FrameOut, Simulation
from tests.unit.sim.support import event, feed, frames_of, last, make, outputs


def sent(sim: Simulation) -> list[FrameOut]:
    return [o for o in outputs(sim) if isinstance(o, FrameOut)]


def test_all_eleven_status_frames_once_a_second_in_id_order() -> None:
    sim = make()
    sim.advance_to(9.95)
    frames = sent(sim)
    assert [f.can_id for f in frames] == list(SI_STATUS_IDS) * 10
    assert sorted({f.time_s for f in frames}) == [float(t) for t in range(10)]


def test_values_carry_the_si_resolution() -> None:
    sim = make(grid={"present": False}, loads={"power_w": [1234]}, si={"noise": 0})
    feed(sim, 0, 10, soc=57.3, cvl=55.5)
    assert last(sim, 0x301).l1_w == 1200  # 100 W steps
    assert last(sim, 0x308).total_load_w == 1200
    assert last(sim, 0x300).l1_w == 0  # off grid: nothing from AC2
    output = last(sim, 0x304)
    assert round(output.l1_v * 10) == output.l1_v * 10  # 0.1 V
    assert 225.0 < output.l1_v < 230.0  # droops a little under load
    assert output.frequency_hz == 50.0
    battery = last(sim, 0x305)
    assert battery.soc_pct == 57.3  # HiResSOC echoed at 0.1 %
    assert battery.current_a > 0  # SMA sign: positive while discharging
    assert last(sim, 0x306).charge_voltage_setpoint_v == 55.5
    status = last(sim, 0x307)
    assert status.functions1 == FunctionBits1.RUN  # no grid: no ExtVfOk, no GdOn


def test_noise_keeps_measurements_moving_but_within_a_few_steps() -> None:
    sim = make(grid={"present": False}, loads={"power_w": [1000]})
    feed(sim, 0, 60)
    volts = [f.l1_v for f in frames_of(outputs(sim), 0x304)[5:]]
    assert len(set(volts)) > 1
    assert max(volts) - min(volts) < 3.0


@pytest.mark.parametrize(
    ("preset", "lines", "volts", "hertz"),
    [
        ("single_230_50", 1, 230.0, 50.0),
        ("split_120_240_60", 2, 120.0, 60.0),
        ("three_230_50", 3, 230.0, 50.0),
    ],
)
def test_presets_fill_their_lines_and_send_zero_for_the_others(
    preset: str, lines: int, volts: float, hertz: float
) -> None:
    sim = make(si={"preset": preset, "noise": 0}, loads={"power_w": [0.0] * lines})
    sim.advance_to(5)
    out, ac2 = last(sim, 0x304), last(sim, 0x309)
    present = [out.l1_v, out.l2_v, out.l3_v][:lines]
    assert all(v == pytest.approx(volts, abs=0.1) for v in present)
    assert [out.l1_v, out.l2_v, out.l3_v][lines:] == [0.0] * (3 - lines)
    assert out.frequency_hz == hertz
    assert [ac2.l1_v, ac2.l2_v, ac2.l3_v][:lines] == [volts] * lines
    assert ac2.frequency_hz == hertz


def test_on_grid_external_plus_inverter_power_is_the_load() -> None:
    sim = make(
        grid={"request": "always", "valid_time_s": 0}, loads={"power_w": [2000]}, si={"noise": 0}
    )
    feed(sim, 0, 30, ccl=20.0)
    ext, inv = last(sim, 0x300).l1_w, last(sim, 0x301).l1_w
    assert inv < 0  # charging the battery from AC
    assert ext + inv == pytest.approx(2000, abs=100)
    assert last(sim, 0x30A).grid_consumption_power_w == ext


def run(seed: int, noise: float = 1.0, drop: float = 0.0) -> list[tuple[float, int, bytes]]:
    sim = make(
        seed=seed,
        si={"noise": noise, "frame_drop_probability": drop},
        grid={"request": "always", "valid_time_s": 30},
        pv={"dc_current_a": 10},
        events=[
            {"at_s": 40, "action": "load", "power_w": 2500, "ramp_s": 30},
            {"at_s": 100, "action": "grid", "present": False},
        ],
    )
    feed(sim, 0, 80, ccl=30.0)
    sim.advance_to(150)  # F952 at 139 s
    feed(sim, 150, 200, soc=20.0, ccl=0.0)
    return [(f.time_s, f.can_id, f.data) for f in sent(sim)]


def test_same_seed_gives_the_same_frames() -> None:
    first = run(seed=7)
    assert len(first) > 2000
    assert run(seed=7) == first


def test_another_seed_gives_other_noise_and_no_noise_makes_seeds_equal() -> None:
    assert run(seed=7) != run(seed=8)
    assert run(seed=7, noise=0) == run(seed=8, noise=0)


def test_frames_left_out_for_a_cycle_are_random_but_repeatable() -> None:
    dropped = run(seed=3, drop=0.2)
    full = run(seed=3)
    assert 0.7 < len(dropped) / len(full) < 0.9
    assert run(seed=3, drop=0.2) == dropped
    per_id = Counter(can_id for _t, can_id, _d in dropped)
    assert set(per_id) == set(SI_STATUS_IDS)


def test_switched_off_si_is_silent_and_standby_si_is_not() -> None:
    sim = make()
    sim.advance_to(100)  # F952 at 60 s: standby, still talking
    assert last(sim, 0x306).operating_state == OperatingState.FAILURE
    sim.advance_to(300.5)  # battery protection level 3 at 300 s: off
    outputs(sim)
    sim.advance_to(400)
    assert [f for f in sent(sim) if f.time_s > 300] == []
    sim.apply(event("button", press="start"), 400)
    sim.advance_to(402)
    assert [f.time_s for f in sent(sim) if f.time_s > 300][:1] == [401.0]
