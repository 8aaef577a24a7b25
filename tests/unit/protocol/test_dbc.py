"""The shipped DBC and the codec describe the same frames (cantools is the independent oracle)."""

from __future__ import annotations

from importlib import resources
from typing import Any

import cantools
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smavenus.protocol import FRAME_SPECS, decode, encode
from smavenus.protocol.fields import AlarmPairs, Ascii, Code, RawBytes, Scaled
from smavenus.protocol.specs import FrameSpec
from tests.fixtures.frames import GOLDEN


@pytest.fixture(scope="module")
def dbc() -> Any:
    path = resources.files("smavenus") / "data" / "sma_sunny_island.dbc"
    return cantools.database.load_string(path.read_text("utf-8"), database_format="dbc")


def _assert_same(dbc: Any, spec: FrameSpec, data: bytes) -> None:
    message = dbc.get_message_by_frame_id(spec.can_id)
    assert message.name == spec.name
    ours = decode(spec.can_id, data)
    physical = message.decode(data, decode_choices=False, scaling=True, allow_truncated=True)
    raw = message.decode(data, decode_choices=False, scaling=False, allow_truncated=True)
    for field in spec.fields:
        value = getattr(ours, field.name)
        if isinstance(field, Scaled):
            marker = field.kind.invalid_raw
            if value is None:
                assert raw[field.name] == marker
            else:
                assert value == pytest.approx(physical[field.name], abs=field.scale / 1000)
        elif isinstance(field, Code):
            if value is None:
                assert raw[field.name] == field.kind.invalid_raw
            elif (
                field.decode_as is int
                or not issubclass(field.decode_as, int)
                or field.name == "command"
            ):
                assert int(value) == raw[field.name]
            else:  # bit sets: one 1-bit DBC signal per named bit
                for member in field.decode_as:  # type: ignore[attr-defined]
                    assert raw[str(member.name).lower()] == (1 if member in value else 0)
        elif isinstance(field, AlarmPairs):
            for condition, state in value.items():
                assert raw[f"{field.name[:-1]}_{condition.name.lower()}"] == int(state)
        elif isinstance(field, Ascii):
            text = bytes(raw[f"char{i}"] for i in range(len(data))).decode("ascii", "replace")
            assert value == text.rstrip(" \x00")
        elif isinstance(field, RawBytes):
            assert value == int(raw[field.name]).to_bytes(8, "little")
        else:
            raise AssertionError(field)


def test_dbc_lists_every_frame_with_the_same_length(dbc: Any) -> None:
    assert {m.frame_id for m in dbc.messages} == {s.can_id for s in FRAME_SPECS}
    for spec in FRAME_SPECS:
        assert dbc.get_message_by_frame_id(spec.can_id).length == spec.send_length


@pytest.mark.parametrize(("can_id", "hexdata", "value"), GOLDEN, ids=lambda x: str(x)[:24])
def test_dbc_agrees_on_golden_frames(dbc: Any, can_id: int, hexdata: str, value: object) -> None:
    spec = next(s for s in FRAME_SPECS if s.can_id == can_id)
    _assert_same(dbc, spec, bytes.fromhex(hexdata))


@pytest.mark.parametrize(
    "spec", [s for s in FRAME_SPECS if s.can_id != 0x35C], ids=lambda s: f"0x{s.can_id:03X}"
)
@settings(max_examples=200)
@given(data=st.data())
def test_dbc_agrees_on_random_frames(dbc: Any, spec: FrameSpec, data: st.DataObject) -> None:
    payload = data.draw(st.binary(min_size=spec.send_length, max_size=spec.send_length))
    _assert_same(dbc, spec, payload)


@given(command=st.sampled_from([1, 2]))
def test_dbc_agrees_on_remote_on_off(dbc: Any, command: int) -> None:
    spec = next(s for s in FRAME_SPECS if s.can_id == 0x35C)
    _assert_same(dbc, spec, bytes([command, 0, 0, 0]))


def test_dbc_encodes_what_the_codec_encodes(dbc: Any) -> None:
    """Encoding direction too: cantools encoding our decoded values gives our bytes."""
    for can_id, hexdata, value in GOLDEN:
        if can_id not in (0x351, 0x355, 0x356, 0x305, 0x304, 0x300):
            continue
        message = dbc.get_message_by_frame_id(can_id)
        fields = {
            f.name: getattr(value, f.name)
            for f in next(s for s in FRAME_SPECS if s.can_id == can_id).fields
        }
        if any(v is None for v in fields.values()):
            continue
        assert message.encode(fields, strict=False) == encode(value)[1] == bytes.fromhex(hexdata)
