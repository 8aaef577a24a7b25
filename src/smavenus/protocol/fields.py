"""Field kinds: how one named value sits in the bytes of a CAN frame.

Every frame in :mod:`smavenus.protocol.specs` is a tuple of these. A field knows its byte
offset, its wire type and its scale, and turns bytes into a Python value and back. All SMA
fields are little-endian (SMA-TI §5.2).

Encoding rules (the same for every numeric field, so they are stated once here):

* ``None`` means "not provided" and is written as SMA's invalid marker (0x8000 for signed,
  0xFFFF for unsigned 16-bit fields), which tells the Sunny Island to use its internal default.
* Values are **rounded** to the field's resolution in the field's own direction
  (:class:`Rounding`), never truncated (the original driver truncated: 16.4 % went out as
  16.39 %). Measurements round half away from zero; a safety limit rounds toward its safe
  side, so that no caller can turn a 56.85 V charge-voltage ceiling into 56.9 V on the wire.
* Values are **clamped** to the field's documented range (SMA-TI tables) and always to the
  range the raw integer can carry without colliding with the invalid marker.
* NaN is refused with :class:`FrameEncodeError`: it is a bug in the caller, not a value.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from smavenus.errors import FrameEncodeError


class IntKind(enum.Enum):
    """The wire integer types SMA uses, with their raw ranges and invalid markers."""

    U8 = (1, False)
    U16 = (2, False)
    S16 = (2, True)

    def __init__(self, size: int, signed: bool) -> None:
        self.size = size
        self.signed = signed

    @property
    def invalid_raw(self) -> int | None:
        """The raw value SMA reserves for "invalid / not provided" (16-bit fields only)."""
        if self is IntKind.U16:
            return 0xFFFF
        if self is IntKind.S16:
            return -0x8000
        return None

    @property
    def raw_min(self) -> int:
        """Smallest raw value that still means a number (the marker is excluded)."""
        if self.signed:
            return -(1 << (8 * self.size - 1)) + 1
        return 0

    @property
    def raw_max(self) -> int:
        """Largest raw value that still means a number (the marker is excluded)."""
        if self.signed:
            return (1 << (8 * self.size - 1)) - 1
        top = (1 << (8 * self.size)) - 1
        return top - 1 if self.invalid_raw is not None else top

    def read(self, data: bytes, offset: int) -> int:
        return int.from_bytes(data[offset : offset + self.size], "little", signed=self.signed)

    def write(self, raw: int, buf: bytearray, offset: int) -> None:
        buf[offset : offset + self.size] = raw.to_bytes(self.size, "little", signed=self.signed)


def _decimals(scale: float) -> int:
    """Digits after the point that a multiple of ``scale`` needs (0.1 → 1, 100 → 0)."""
    return max(0, -math.floor(math.log10(scale) + 1e-9))


def round_half_away(value: float) -> int:
    """Round to the nearest integer, ties away from zero (not Python's banker's rounding).

    The value is first rounded to 9 decimals so that 0.15 / 0.1 (= 1.4999999999999998 in
    binary floating point) rounds to 2 as a person would expect.
    """
    cleaned = round(value, 9)
    return int(math.copysign(math.floor(abs(cleaned) + 0.5), cleaned))


def _whole_steps(value: float, step: float) -> float:
    # Rounded to 6 decimals first: 56.8 / 0.1 is 567.9999999999999 in binary floating point,
    # which must not lose a whole step when rounded down.
    return round(value / step, 6)


class Rounding(enum.Enum):
    """Which way a value between two steps of a field goes on the wire."""

    #: Half away from zero: a measurement, where neither side is safer.
    NEAREST = "nearest"
    #: Toward −∞: a ceiling (CVL, CCL, DCL), where a larger value is less safe.
    DOWN = "down"
    #: Toward +∞: a floor (DVL), where a smaller value is less safe.
    UP = "up"

    def steps(self, value: float, step: float) -> int:
        """``value`` as a whole number of ``step`` s, rounded this way (``value`` finite)."""
        if self is Rounding.NEAREST:
            return round_half_away(value / step)
        steps = _whole_steps(value, step)
        return math.floor(steps) if self is Rounding.DOWN else math.ceil(steps)


def floor_to(value: float, step: float) -> float:
    """``value`` rounded down to a multiple of ``step`` (what :attr:`Rounding.DOWN` sends)."""
    # round(…, 9): 568 × 0.1 is 56.800000000000004, which reads as above a 56.8 V ceiling.
    return round(Rounding.DOWN.steps(value, step) * step, 9)


def ceil_to(value: float, step: float) -> float:
    """``value`` rounded up to a multiple of ``step`` (what :attr:`Rounding.UP` sends)."""
    return round(Rounding.UP.steps(value, step) * step, 9)


class Field(Protocol):
    """What every field kind offers the codec."""

    @property
    def name(self) -> str: ...

    @property
    def offset(self) -> int: ...

    @property
    def size(self) -> int: ...

    def decode(self, data: bytes) -> Any: ...

    def encode(self, value: Any, buf: bytearray) -> None: ...


@dataclass(frozen=True)
class Scaled:
    """A number: ``physical = raw × scale``, optionally limited to ``[minimum, maximum]``."""

    name: str
    offset: int
    kind: IntKind
    scale: float
    unit: str
    minimum: float | None = None
    maximum: float | None = None
    #: Whether the raw marker (0x8000/0xFFFF) decodes to ``None``. True for every SMA field.
    has_invalid_marker: bool = True
    #: Which way a value between two steps goes: toward safety for a limit.
    rounding: Rounding = Rounding.NEAREST
    description: str = ""

    @property
    def size(self) -> int:
        return self.kind.size

    @property
    def resolution(self) -> float:
        return self.scale

    @property
    def range(self) -> tuple[float, float]:
        """``(minimum, maximum)``; only for a field whose range SMA documents."""
        if self.minimum is None or self.maximum is None:
            raise LookupError(f"{self.name}: no documented range")
        return self.minimum, self.maximum

    def decode(self, data: bytes) -> float | None:
        raw = self.kind.read(data, self.offset)
        if self.has_invalid_marker and raw == self.kind.invalid_raw:
            return None
        return self.to_physical(raw)

    def to_physical(self, raw: int) -> float:
        if self.scale >= 1 and float(self.scale).is_integer():
            return raw * int(self.scale)
        return round(raw * self.scale, _decimals(self.scale))

    def quantize(self, value: float) -> float:
        """The finite ``value`` on this field's grid, rounded in its direction (not clamped)."""
        return self.to_physical(self.rounding.steps(value, self.scale))

    def to_raw(self, value: float | None) -> int:
        """The raw integer this field puts on the wire for ``value`` (rules in the module doc)."""
        if value is None:
            marker = self.kind.invalid_raw
            if marker is None or not self.has_invalid_marker:
                raise FrameEncodeError(f"{self.name}: this field has no 'not provided' marker")
            return marker
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise FrameEncodeError(f"{self.name}: expected a number, got {value!r}")
        if math.isnan(value):
            raise FrameEncodeError(f"{self.name}: NaN cannot be encoded")
        if self.minimum is not None:
            value = max(value, self.minimum)
        if self.maximum is not None:
            value = min(value, self.maximum)
        if math.isinf(value):
            raw = self.kind.raw_max if value > 0 else self.kind.raw_min
        else:
            raw = self.rounding.steps(value, self.scale)
        return min(max(raw, self.kind.raw_min), self.kind.raw_max)

    def encode(self, value: float | None, buf: bytearray) -> None:
        self.kind.write(self.to_raw(value), buf, self.offset)


@dataclass(frozen=True)
class Code:
    """An integer code (state, error number, bit set) carried as-is, no scaling.

    ``decode_as`` turns the raw integer into a richer type (an ``IntFlag`` keeps unknown bits).
    """

    name: str
    offset: int
    kind: IntKind
    decode_as: type[int] = int
    #: Whether ``None`` ↔ SMA's invalid marker (for reserved or optional codes).
    optional: bool = False
    description: str = ""

    @property
    def size(self) -> int:
        return self.kind.size

    def decode(self, data: bytes) -> int | None:
        raw = self.kind.read(data, self.offset)
        if self.optional and raw == self.kind.invalid_raw:
            return None
        return self.decode_as(raw)

    def encode(self, value: int | None, buf: bytearray) -> None:
        if value is None:
            marker = self.kind.invalid_raw
            if not self.optional or marker is None:
                raise FrameEncodeError(f"{self.name}: a value is required")
            self.kind.write(marker, buf, self.offset)
            return
        raw = int(value)
        lowest = -(1 << (8 * self.size - 1)) if self.kind.signed else 0
        highest = (1 << (8 * self.size - 1)) - 1 if self.kind.signed else (1 << (8 * self.size)) - 1
        if not lowest <= raw <= highest:
            raise FrameEncodeError(f"{self.name}: {raw} does not fit {self.kind.name}")
        self.kind.write(raw, buf, self.offset)


@dataclass(frozen=True)
class Ascii:
    """Fixed-width ASCII text, padded with spaces (the Batrium capture SVD copied pads so)."""

    name: str
    offset: int
    size: int
    description: str = ""

    def decode(self, data: bytes) -> str:
        raw = bytes(data[self.offset : self.offset + self.size])
        return raw.decode("ascii", errors="replace").rstrip(" \x00")

    def encode(self, value: str, buf: bytearray) -> None:
        try:
            raw = value.encode("ascii")
        except UnicodeEncodeError as exc:
            raise FrameEncodeError(f"{self.name}: {value!r} is not ASCII") from exc
        if len(raw) > self.size:
            raise FrameEncodeError(f"{self.name}: {value!r} is longer than {self.size} characters")
        buf[self.offset : self.offset + self.size] = raw.ljust(self.size, b" ")


@dataclass(frozen=True)
class RawBytes:
    """Bytes whose layout nobody has published (0x35B "events")."""

    name: str
    offset: int
    size: int
    description: str = ""

    def decode(self, data: bytes) -> bytes:
        return bytes(data[self.offset : self.offset + self.size])

    def encode(self, value: bytes, buf: bytearray) -> None:
        if len(value) != self.size:
            raise FrameEncodeError(f"{self.name}: expected {self.size} bytes, got {len(value)}")
        buf[self.offset : self.offset + self.size] = value


class PairState(enum.IntEnum):
    """One arrive/leave bit pair of 0x35A (SMA-TI §7.1).

    The value is the two bits read as a number with the *arrive* bit as bit 0.
    """

    NO_CHANGE = 0b00  #: neither bit: the SI ignores the pair
    RAISED = 0b01  #: "arrive" bit (the lower one) set
    CLEARED = 0b10  #: "leave" bit (the higher one) set
    IGNORED = 0b11  #: both bits: invalid, the SI ignores the pair


@dataclass(frozen=True)
class AlarmPairs:
    """A block of arrive/leave pairs: bit pair ``i`` lives at byte ``offset + i // 4``.

    ``conditions`` lists the condition keys in wire order (two bits each, LSB first).
    """

    name: str
    offset: int
    conditions: tuple[Any, ...]
    description: str = ""

    @property
    def size(self) -> int:
        return (len(self.conditions) * 2 + 7) // 8

    def decode(self, data: bytes) -> dict[Any, PairState]:
        word = int.from_bytes(data[self.offset : self.offset + self.size], "little")
        return {
            condition: PairState((word >> (2 * index)) & 0b11)
            for index, condition in enumerate(self.conditions)
        }

    def encode(self, value: Mapping[Any, PairState], buf: bytearray) -> None:
        unknown = set(value) - set(self.conditions)
        if unknown:
            raise FrameEncodeError(f"{self.name}: unknown conditions {sorted(map(str, unknown))}")
        word = 0
        for index, condition in enumerate(self.conditions):
            word |= int(value.get(condition, PairState.NO_CHANGE)) << (2 * index)
        buf[self.offset : self.offset + self.size] = word.to_bytes(self.size, "little")
