"""Live settings: bounds derived from the config schema, changes judged by its rules."""

from __future__ import annotations

from typing import Any

import pytest

from smavenus.config import AppConfig, ControllerConfig
from smavenus.controller.settings import BY_KEY, SETTINGS, apply, bounds, from_setting, to_setting
from tests.unit.controller.rig import Rig, config

NOT_SETTINGS = {
    "period_s",
    "input_max_age_s",
    "battery_service",
    "bms_service",
    "bol_max_age_s",
    "frozen_after_s",
    "single_source_alarm",
    "stop_inverting_on_zero_dcl",
}


def test_every_bms_key_but_the_plumbing_is_a_setting() -> None:
    assert set(ControllerConfig.model_fields) - NOT_SETTINGS == {s.key for s in SETTINGS}
    assert len({s.path for s in SETTINGS}) == len(SETTINGS)
    assert all(s.path.startswith("/Settings/SmaVenus/Controller/") for s in SETTINGS)


@pytest.mark.parametrize("setting", SETTINGS, ids=[s.key for s in SETTINGS])
def test_bounds_are_the_schemas_and_defaults_round_trip(setting: Any) -> None:
    cfg = AppConfig()
    default = to_setting(setting.key, getattr(cfg.controller, setting.key))
    assert from_setting(setting.key, default) == getattr(cfg.controller, setting.key)
    low, high = bounds(setting.key, cfg)
    if isinstance(default, str):
        assert (low, high) == (None, None)
        return
    assert low is not None and high is not None
    assert low <= default <= high
    step = 1 if isinstance(default, int) else 0.001
    for outside in (low - step, high + step):
        if (setting.ceiling is not None and outside > high) or (
            setting.floor is not None and outside < low
        ):
            continue  # beyond a hard limit or the envelope: the cross-field rules refuse it
        with pytest.raises(ValueError):  # pydantic's ValidationError is a ValueError
            value = from_setting(setting.key, outside)
            ControllerConfig.model_validate({**cfg.controller.model_dump(), setting.key: value})


def test_a_hard_limit_tightens_the_maximum() -> None:
    cfg = config(battery={"max_charge_voltage_v": 57.6})
    assert bounds("absorption_voltage_v", cfg) == (41.0, 57.6)
    assert bounds("bulk_current_a", cfg) == (0.0, 140.0)
    assert bounds("grid_assist_mode", cfg) == (0, 3)
    assert BY_KEY["absorption_voltage_v"].path == "/Settings/SmaVenus/Controller/AbsorptionVoltage"


def test_float_above_absorption_is_refused_with_the_reason_and_the_old_value_kept() -> None:
    cfg = AppConfig()
    outcome = apply(cfg, {"float_voltage_v": 56.5})
    assert outcome.config is cfg and outcome.accepted == {}
    assert outcome.rejected == {
        "float_voltage_v": "controller.float_voltage_v: 56.5 V must be below "
        "controller.absorption_voltage_v (56.0 V)"
    }


def test_changes_valid_together_are_applied_together() -> None:
    # each alone would break "rebulk < float < absorption"; together they are fine
    outcome = apply(
        AppConfig(),
        {"absorption_voltage_v": 53.6, "float_voltage_v": 53.2, "rebulk_voltage_v": 52.0},
    )
    assert outcome.rejected == {}
    assert outcome.config.controller.float_voltage_v == 53.2


def test_one_bad_change_in_a_batch_leaves_the_good_ones() -> None:
    outcome = apply(AppConfig(), {"tail_current_a": 10.0, "cell_high_voltage_v": 3.2})
    assert outcome.accepted == {"tail_current_a": 10.0}
    assert "cell_high_voltage_v" in outcome.rejected
    assert outcome.config.controller.cell_high_voltage_v == 3.65


@pytest.mark.parametrize(
    ("key", "raw", "expected"),
    [
        ("grid_assist_mode", 2, "keep_charged"),
        ("soc_reset_at_full", 1, True),
        ("full_charge_interval_days", 14, 14),
        ("grid_window1_start", "22:30", "22:30"),
    ],
)
def test_venus_types_become_config_values(key: str, raw: Any, expected: Any) -> None:
    assert apply(AppConfig(), {key: raw}).accepted == {key: expected}


@pytest.mark.parametrize(
    ("key", "raw"),
    [
        ("grid_assist_mode", 7),
        ("soc_reset_at_full", 2),
        ("absorption_voltage_v", "fifty"),
        ("grid_window1_start", "25:00"),
        ("absorption_voltage_v", None),
    ],
)
def test_malformed_values_are_refused(key: str, raw: Any) -> None:
    assert key in apply(AppConfig(), {key: raw}).rejected


def test_a_change_takes_effect_on_the_next_cycle() -> None:
    rig = Rig(config())
    rig.run(10)
    assert rig.cvl == 56.0
    rig.controller.apply_settings({"absorption_voltage_v": 55.2})
    rig.run(1)
    assert rig.cvl == 55.2
