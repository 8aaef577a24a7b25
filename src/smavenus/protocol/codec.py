"""Bytes ⇄ frame models, derived from :data:`smavenus.protocol.specs.FRAME_SPECS`.

Pure functions: no bus, no clock. ``decode`` raises only :class:`FrameDecodeError` (or a
subclass) whatever the bytes; ``encode`` raises only :class:`FrameEncodeError`.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import fields as dataclass_fields
from typing import Any

from smavenus.errors import FrameDecodeError, FrameEncodeError, FrameLengthError, UnknownFrameError
from smavenus.protocol.specs import SPECS_BY_ID, SPECS_BY_MODEL, FrameSpec


def spec_for(can_id: int) -> FrameSpec:
    """The specification of ``can_id``, or :class:`UnknownFrameError`."""
    try:
        return SPECS_BY_ID[can_id]
    except KeyError:
        raise UnknownFrameError(can_id) from None


def decode(can_id: int, data: bytes | bytearray) -> Any:
    """Decode one frame's data into its model. Raises :class:`FrameDecodeError` only."""
    spec = spec_for(can_id)
    if len(data) not in spec.lengths:
        raise FrameLengthError(can_id, tuple(sorted(spec.lengths)), len(data))
    payload = bytes(data)
    try:
        values = {field.name: field.decode(payload) for field in spec.fields}
    except ValueError as exc:  # an enum code the protocol does not define
        raise FrameDecodeError(can_id, str(exc)) from None
    return spec.model(**values)


def encode(frame: Any) -> tuple[int, bytes]:
    """Encode a frame model into ``(can_id, data)``. Raises :class:`FrameEncodeError` only."""
    spec = SPECS_BY_MODEL.get(type(frame))
    if spec is None:
        raise FrameEncodeError(f"{type(frame).__name__} is not an SMA frame model")
    buf = bytearray(spec.send_length)
    for field in spec.fields:
        field.encode(getattr(frame, field.name), buf)
    return spec.can_id, bytes(buf)


def _jsonable(value: Any) -> Any:
    if isinstance(value, enum.IntFlag):
        members = [m for m in type(value) if m in value]
        names = sorted(str(m.name).lower() for m in members)
        unknown = int(value) & ~sum(int(m) for m in type(value))
        return names + ([f"unknown_0x{unknown:04x}"] if unknown else [])
    if isinstance(value, enum.Enum):
        return value.name.lower()
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, Mapping):
        return {_jsonable(k): _jsonable(v) for k, v in value.items()}
    return value


def frame_to_dict(frame: Any) -> dict[str, Any]:
    """A JSON-ready view: ``{"can_id": "0x305", "name": ..., "fields": {...}}``.

    Flags become sorted lists of set bit names, enums their lower-case names, bytes hex.
    """
    spec = SPECS_BY_MODEL[type(frame)]
    values = {f.name: _jsonable(getattr(frame, f.name)) for f in dataclass_fields(frame)}
    if spec.can_id == 0x306:
        values["operating_state_name"] = frame.operating_state_name
    if spec.can_id == 0x35A:
        values = {
            "raised_alarms": sorted(c.name.lower() for c in frame.raised_alarms),
            "raised_warnings": sorted(c.name.lower() for c in frame.raised_warnings),
            **values,
        }
    return {"can_id": f"0x{spec.can_id:03X}", "name": spec.name, "fields": values}
