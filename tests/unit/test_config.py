"""The configuration file: defaults, unknown keys, single-field bounds and cross-field rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from smavenus.config import AppConfig, dump_config, load_config, parse_config
from smavenus.errors import ConfigError

EXAMPLE = Path(__file__).parents[2] / "src" / "smavenus" / "data" / "smavenus.example.toml"


def problems_of(data: dict[str, object]) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(data)
    return info.value.problems


def test_defaults_describe_a_16_cell_lifepo4_bank() -> None:
    cfg = AppConfig()
    assert (cfg.battery.chemistry, cfg.battery.cell_count) == ("lifepo4", 16)
    assert (
        cfg.controller.float_voltage_v
        < cfg.controller.absorption_voltage_v
        <= cfg.battery.max_charge_voltage_v
    )
    assert 41.0 <= cfg.battery.min_discharge_voltage_v <= 48.0
    assert cfg.can.bms_period_s == 1.0


def test_shipped_example_is_valid_and_equals_the_defaults() -> None:
    assert load_config(EXAMPLE) == AppConfig()


def test_unknown_keys_are_rejected_with_their_location() -> None:
    assert problems_of({"controller": {"absorbtion_voltage_v": 56}}) == [
        "controller.absorbtion_voltage_v: "
        "unknown key (check the spelling against the example config)"
    ]
    assert problems_of({"canbus": {}})[0].startswith("canbus: unknown key")


def test_every_problem_is_reported_at_once() -> None:
    problems = problems_of(
        {"can": {"bitrate": 250000, "bms_period_s": 0.1}, "battery": {"capacity_ah": -1}}
    )
    assert len(problems) == 3
    assert any(p.startswith("can.bms_period_s: ") and "0.2" in p for p in problems)
    assert any(p.startswith("can.bitrate: ") for p in problems)
    assert any(p.startswith("battery.capacity_ah: ") for p in problems)


@pytest.mark.parametrize(
    ("data", "expected_start"),
    [
        (
            {"controller": {"float_voltage_v": 56.5}},
            "controller.float_voltage_v: 56.5 V must be below controller.absorption_voltage_v",
        ),
        (
            {"controller": {"absorption_voltage_v": 57.0}},
            "controller.absorption_voltage_v: 57.0 V must not exceed battery.max_charge_voltage_v",
        ),
        (
            {"controller": {"rebulk_voltage_v": 54.5}},
            "controller.rebulk_voltage_v: 54.5 V must be below controller.float_voltage_v",
        ),
        (
            {"controller": {"bulk_current_a": 150}},
            "controller.bulk_current_a: 150.0 A must not exceed battery.max_charge_current_a",
        ),
        (
            {"gateway": {"safe_discharge_current_a": 300}},
            "gateway.safe_discharge_current_a: 300.0 A must not exceed",
        ),
        (
            {"gateway": {"command_max_age_s": 1.5}},
            "gateway.command_max_age_s: 1.5 s must be at least twice",
        ),
    ],
)
def test_cross_field_rules(data: dict[str, object], expected_start: str) -> None:
    problems = problems_of(data)
    assert len(problems) == 1
    assert problems[0].startswith(expected_start)


@pytest.mark.parametrize(
    ("section", "key", "value"),
    [
        ("battery", "min_discharge_voltage_v", 40.9),  # SMA's DVL range is 41-48 V
        ("battery", "min_discharge_voltage_v", 48.1),
        ("battery", "max_charge_voltage_v", 63.1),  # SMA's CVL range is 41-63 V
        ("battery", "max_charge_current_a", 1200.1),  # SMA's current range is 0-1200 A
        ("battery", "max_discharge_current_a", -1),
        ("battery", "manufacturer", "NINECHARS"),
        ("battery", "manufacturer", "BATTERIÉ"),
        ("battery", "capacity_ah", float("nan")),
        ("can", "interface", "kvaser"),
    ],
)
def test_single_field_bounds(section: str, key: str, value: object) -> None:
    problems = problems_of({section: {key: value}})
    assert problems and problems[0].startswith(f"{section}.{key}: ")


def test_unreadable_and_malformed_files_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[can\ninterface = 1\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad)


def test_dumped_config_reads_back_identically(tmp_path: Path) -> None:
    cfg = parse_config(
        {
            "battery": {"capacity_ah": 100.0, "max_charge_current_a": 50.0},
            "controller": {"bulk_current_a": 50.0, "tail_current_a": 5.0},
            "gateway": {"safe_discharge_current_a": 20.0},
        }
    )
    path = tmp_path / "effective.toml"
    path.write_text(dump_config(cfg))
    assert load_config(path) == cfg
