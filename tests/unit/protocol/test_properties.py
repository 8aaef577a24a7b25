"""Properties of the codec that must hold for any input, checked with hypothesis."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smavenus.errors import FrameDecodeError
from smavenus.protocol import (
    FRAME_SPECS,
    AlarmCondition,
    AlarmsWarnings,
    ChargeLimits,
    PairState,
    decode,
    encode,
)
from smavenus.protocol.fields import Ascii, Code, RawBytes, Rounding, Scaled
from smavenus.protocol.specs import Direction, FrameSpec

BMS_SPECS = [s for s in FRAME_SPECS if s.direction is Direction.BMS_TO_SI]


def _scaled_values(field: Scaled) -> st.SearchStrategy[float | None]:
    lo = field.minimum if field.minimum is not None else field.kind.raw_min * field.scale
    hi = field.maximum if field.maximum is not None else field.kind.raw_max * field.scale
    numbers = st.floats(min_value=lo, max_value=hi, allow_nan=False, allow_infinity=False)
    return st.none() | numbers if field.has_invalid_marker else numbers


def _field_values(field: Any) -> st.SearchStrategy[Any]:
    if isinstance(field, Scaled):
        return _scaled_values(field)
    if isinstance(field, Ascii):
        return st.text(
            alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=field.size
        )
    if isinstance(field, RawBytes):
        return st.binary(min_size=field.size, max_size=field.size)
    if isinstance(field, Code):
        if field.decode_as is not int:
            return st.sampled_from(list(field.decode_as))  # type: ignore[call-overload]
        values = st.integers(0, (1 << (8 * field.size)) - 2)
        return st.none() | values if field.optional else values
    raise AssertionError(f"no strategy for {field!r}")


def _frames(spec: FrameSpec) -> st.SearchStrategy[Any]:
    if spec.can_id == 0x35A:
        usable = [c for c in AlarmCondition if c.usable]
        return st.builds(
            AlarmsWarnings.from_active,
            st.sets(st.sampled_from(usable)),
            st.sets(st.sampled_from(usable)),
        )
    return st.fixed_dictionaries({f.name: _field_values(f) for f in spec.fields}).map(
        lambda values: spec.model(**values)
    )


def _close_enough(field: Any, sent: Any, received: Any) -> bool:
    """Within half a step of what was sent, or, for a limit, less than a step on its safe side."""
    if isinstance(field, Scaled) and sent is not None:
        if received is None:
            return False
        error = received - sent
        # The codec takes a value within a millionth of a step of a step as that step.
        snapped = field.scale * 1e-6 + 1e-9
        if field.rounding is Rounding.DOWN:
            return -field.scale < error <= snapped
        if field.rounding is Rounding.UP:
            return -snapped <= error < field.scale
        return abs(error) <= field.scale / 2 + 1e-9
    return bool(sent == received)


@pytest.mark.parametrize("spec", BMS_SPECS, ids=lambda s: f"0x{s.can_id:03X}")
@given(data=st.data())
def test_bms_frames_round_trip_within_resolution(spec: FrameSpec, data: st.DataObject) -> None:
    frame = data.draw(_frames(spec))
    can_id, payload = encode(frame)
    assert can_id == spec.can_id and len(payload) == spec.send_length
    back = decode(can_id, payload)
    for field in spec.fields:
        sent, received = getattr(frame, field.name), getattr(back, field.name)
        assert _close_enough(field, sent, received), (field.name, sent, received)


@pytest.mark.parametrize(
    "spec", [s for s in FRAME_SPECS if s not in BMS_SPECS], ids=lambda s: f"0x{s.can_id:03X}"
)
@given(data=st.data())
def test_si_frames_round_trip_within_resolution(spec: FrameSpec, data: st.DataObject) -> None:
    # The simulator encodes these; the gateway decodes them.
    frame = data.draw(_frames(spec))
    back = decode(*encode(frame))
    for field in spec.fields:
        assert _close_enough(field, getattr(frame, field.name), getattr(back, field.name))


@given(
    can_id=st.sampled_from([s.can_id for s in FRAME_SPECS]) | st.integers(0, 0x7FF),
    data=st.binary(max_size=8),
)
def test_decoding_random_bytes_raises_only_the_typed_error(can_id: int, data: bytes) -> None:
    try:
        frame = decode(can_id, data)
    except FrameDecodeError:
        return
    assert dataclasses.is_dataclass(frame)


@given(
    alarms=st.sets(st.sampled_from([c for c in AlarmCondition if c.usable])),
    warnings=st.sets(st.sampled_from([c for c in AlarmCondition if c.usable])),
)
def test_every_usable_condition_is_either_raised_or_explicitly_left(
    alarms: set[AlarmCondition], warnings: set[AlarmCondition]
) -> None:
    decoded = decode(*encode(AlarmsWarnings.from_active(alarms, warnings)))
    for states, raised in ((decoded.alarms, alarms), (decoded.warnings, warnings)):
        for condition, state in states.items():
            if not condition.usable:
                assert state is PairState.NO_CHANGE
            elif condition in raised:
                assert state is PairState.RAISED
            else:
                assert state is PairState.CLEARED  # never 00: the SI would keep the alarm


@given(value=st.floats(allow_nan=False))
def test_charge_current_never_leaves_smas_range(value: float) -> None:
    frame = decode(*encode(ChargeLimits(value, value, value, value)))
    assert 41.0 <= frame.charge_voltage_v <= 63.0
    assert 0.0 <= frame.charge_current_a <= 1200.0
    assert 0.0 <= frame.discharge_current_a <= 1200.0
    assert 41.0 <= frame.discharge_voltage_v <= 48.0
    assert not math.isnan(frame.charge_current_a)
