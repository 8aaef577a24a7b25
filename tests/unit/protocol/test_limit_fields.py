"""The 0x351 limits in the frame table: each rounds toward its safe side, and SMA's voltage
ranges are written there once for the configuration and the clamps to read."""

from __future__ import annotations

import dataclasses

import pytest
from pydantic import ValidationError

from smavenus.config.sections import BatteryConfig
from smavenus.protocol import (
    CVL_RANGE_V,
    DVL_RANGE_V,
    SPECS_BY_ID,
    BatteryMeasurements,
    ChargeLimits,
    Rounding,
    decode,
    encode,
    scaled_field,
)

ON_THE_GRID = ChargeLimits(56.0, 10.0, 100.0, 44.0)
#: (field, a value between two 0.1 steps, the step that must go on the wire)
BETWEEN_STEPS = [
    ("charge_voltage_v", 56.85, 56.8),  # a larger CVL is less safe: down
    ("charge_current_a", 10.05, 10.0),  # a larger CCL is less safe: down
    ("discharge_current_a", 99.99, 99.9),  # a larger DCL is less safe: down
    ("discharge_voltage_v", 44.81, 44.9),  # a smaller DVL is less safe: up
]


@pytest.mark.parametrize(("name", "value", "sent"), BETWEEN_STEPS)
def test_encoding_a_limit_between_two_steps_goes_to_its_safe_side(
    name: str, value: float, sent: float
) -> None:
    frame = dataclasses.replace(ON_THE_GRID, **{name: value})
    assert getattr(decode(*encode(frame)), name) == sent


@pytest.mark.parametrize(("name", "value", "sent"), BETWEEN_STEPS)
def test_quantize_gives_what_the_codec_sends(name: str, value: float, sent: float) -> None:
    assert scaled_field(0x351, name).quantize(value) == sent


def test_the_frame_table_names_each_limits_direction() -> None:
    directions = {
        field.name: getattr(field, "rounding", None) for field in SPECS_BY_ID[0x351].fields
    }
    assert directions == {
        "charge_voltage_v": Rounding.DOWN,
        "charge_current_a": Rounding.DOWN,
        "discharge_current_a": Rounding.DOWN,
        "discharge_voltage_v": Rounding.UP,
    }


def test_a_limit_on_a_step_stays_on_it_despite_binary_float_noise() -> None:
    # 56.8 / 0.1 is 567.999… and 44.8 / 0.1 is 448.000…1: neither may lose or gain a step.
    assert decode(*encode(ChargeLimits(56.8, 0.3, 0.7, 44.8))) == ChargeLimits(56.8, 0.3, 0.7, 44.8)


def test_measurements_still_round_to_the_nearest_step() -> None:
    sent = BatteryMeasurements(voltage_v=52.805, current_a=-10.05, temperature_c=20.04)
    assert decode(*encode(sent)) == BatteryMeasurements(52.81, -10.1, 20.0)


def test_smas_voltage_ranges_come_from_the_frame_table() -> None:
    assert CVL_RANGE_V == scaled_field(0x351, "charge_voltage_v").range == (41.0, 63.0)
    assert DVL_RANGE_V == scaled_field(0x351, "discharge_voltage_v").range == (41.0, 48.0)


@pytest.mark.parametrize(
    ("key", "sma_range"),
    [("max_charge_voltage_v", CVL_RANGE_V), ("min_discharge_voltage_v", DVL_RANGE_V)],
)
def test_the_battery_section_accepts_exactly_smas_range(
    key: str, sma_range: tuple[float, float]
) -> None:
    low, high = sma_range
    for inside in (low, high):
        assert getattr(BatteryConfig.model_validate({key: inside}), key) == inside
    for outside in (low - 0.1, high + 0.1):
        with pytest.raises(ValidationError):
            BatteryConfig.model_validate({key: outside})
