"""Scenario files: validation at the trust boundary, and the shipped examples."""

from __future__ import annotations

from pathlib import Path

import pytest

from smavenus.errors import ConfigError
from smavenus.sim import EventKind, Simulation, load_scenario, parse_scenario
from smavenus.sim.scenario import packaged_scenarios


def problems(data: dict[str, object]) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_scenario(data)
    return info.value.problems


def test_defaults_are_a_single_phase_si_on_lifepo4_with_grid() -> None:
    scenario = parse_scenario({})
    assert (scenario.si.lines, scenario.si.nominal_voltage_v, scenario.si.nominal_frequency_hz) == (
        1,
        230.0,
        50.0,
    )
    assert scenario.battery.chemistry.value == "lifepo4"
    assert scenario.grid.present


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"si": {"presett": "x"}}, "si.presett: unknown key"),
        ({"colour": "red"}, "colour: unknown key"),
        ({"events": [{"at_s": 1, "action": "load", "power_w": 1, "watts": 2}]}, "unknown key"),
        (
            {"events": [{"at_s": 1, "action": "teleport"}]},
            "does not match any of the expected tags",
        ),
        ({"loads": {"power_w": [1, 2]}}, "loads.power_w: 2 lines, cluster has 1"),
        (
            {"events": [{"action": "load", "line": 2, "power_w": 1}]},
            "events[0]: line 2, cluster has 1",
        ),
        ({"grid": {"soc_start_pct": 80, "soc_stop_pct": 40}}, "soc_stop_pct must be above"),
        ({"si": {"bat_pro_soc_pct": [10, 20, 5]}}, "level 1 >= level 2 >= level 3"),
        ({"si": {"f952_watch_ids": [0x305]}}, "are not BMS frame IDs"),
        ({"events": [{"at_s": -1, "action": "battery", "soc_pct": 5}]}, "events.0.battery.at_s"),
        ({"battery": {"soc_pct": 101}}, "battery.soc_pct"),
    ],
)
def test_invalid_scenarios_say_where_and_why(data: dict[str, object], expected: str) -> None:
    assert any(expected in line for line in problems(data)), problems(data)


def test_toml_file_and_unreadable_files(tmp_path: Path) -> None:
    good = tmp_path / "s.toml"
    good.write_text(
        'name = "mine"\n[si]\npreset = "split_120_240_60"\n[loads]\npower_w = [100, 200]\n'
    )
    assert load_scenario(good).name == "mine"
    bad = tmp_path / "bad.toml"
    bad.write_text("name = \n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_scenario(bad)
    with pytest.raises(ConfigError, match="cannot read"):
        load_scenario(tmp_path / "missing.toml")


def test_events_apply_in_time_order_and_file_order_at_equal_times() -> None:
    scenario = parse_scenario(
        {
            "events": [
                {"at_s": 20, "action": "load", "power_w": 300},
                {"at_s": 10, "action": "load", "power_w": 100},
                {"at_s": 10, "action": "load", "power_w": 200},
            ]
        }
    )
    sim = Simulation(scenario)
    sim.advance_to(30)
    applied = [e for e in sim.recorder.events if e.kind is EventKind.SCENARIO]
    assert [(e.time_s, e.detail["power_w"]) for e in applied] == [
        (10.0, 100.0),
        (10.0, 200.0),
        (20.0, 300.0),
    ]


SHIPPED = sorted(packaged_scenarios())


def test_examples_are_shipped() -> None:
    assert {
        "grid-outage",
        "split-phase-us",
        "bms-silence",
        "monitor-faults",
        "pv-day",
        "bms-dvcc",
    } <= set(SHIPPED)


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_example_loads_and_runs(name: str) -> None:
    scenario = load_scenario(name)
    assert scenario.description
    sim = Simulation(scenario)
    sim.advance_to(900.0)
    assert sim.frames_sent > 0
