"""Clamping every value the gateway sends to the hard limits of ``[battery]``.

Defence in depth: the bms-controller already respects the limits, but a bug there (or a
forged command) must never make the gateway send more than the configured maximum charge
voltage or current, more than the maximum discharge current, or less than the minimum
discharge voltage. This is the last code every 0x351 value passes before it is encoded.

Values are also *quantized toward safety* to the wire resolution (0.1 V, 0.1 A), in each
field's own direction from the frame table (:class:`~smavenus.protocol.fields.Rounding`):
ceilings round down, the discharge-voltage floor rounds up. The codec rounds the same way
when it encodes; quantizing here as well makes the values reported as sent the wire's.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from smavenus.gateway.settings import HardLimits
from smavenus.protocol.fields import Rounding, Scaled
from smavenus.protocol.specs import CVL_RANGE_V, DVL_RANGE_V, scaled_field

#: The four 0x351 fields, from the frame table (their resolutions and rounding directions).
CVL, CCL, DCL, DVL = (
    scaled_field(0x351, name)
    for name in (
        "charge_voltage_v",
        "charge_current_a",
        "discharge_current_a",
        "discharge_voltage_v",
    )
)


@dataclass(frozen=True, slots=True)
class Limits:
    """The four values of 0x351 (charge voltage, charge current, discharge current and voltage)."""

    charge_voltage_v: float
    charge_current_a: float
    discharge_current_a: float
    discharge_voltage_v: float


@dataclass(frozen=True, slots=True)
class Clamped:
    limits: Limits
    #: field name → why it was changed ("above battery.max_charge_current_a (140.0 A)").
    changes: dict[str, str]


@dataclass(frozen=True, slots=True)
class _Bound:
    """One row of the clamping table: the range of a 0x351 value and its safe direction."""

    field: Scaled
    low: Callable[[HardLimits], float]
    high: Callable[[HardLimits], float]
    low_name: str
    high_name: str

    @property
    def larger_is_safer(self) -> bool:
        """A floor (DVL: a higher one stops discharging sooner), as its rounding says."""
        return self.field.rounding is Rounding.UP


_BOUNDS: tuple[_Bound, ...] = (
    # A CVL below the discharge floor makes no sense, and the SI discharges down to CVL.
    _Bound(
        CVL,
        lambda h: h.min_discharge_voltage_v,
        lambda h: min(h.max_charge_voltage_v, CVL_RANGE_V[1]),
        "battery.min_discharge_voltage_v",
        "battery.max_charge_voltage_v",
    ),
    _Bound(
        CCL,
        lambda h: 0.0,
        lambda h: h.max_charge_current_a,
        "zero",
        "battery.max_charge_current_a",
    ),
    _Bound(
        DCL,
        lambda h: 0.0,
        lambda h: h.max_discharge_current_a,
        "zero",
        "battery.max_discharge_current_a",
    ),
    # A higher DVL only stops discharging sooner; SMA's range ends at 48 V.
    _Bound(
        DVL,
        lambda h: h.min_discharge_voltage_v,
        lambda h: DVL_RANGE_V[1],
        "battery.min_discharge_voltage_v",
        "SMA's maximum DVL",
    ),
)


def _clamp_one(bound: _Bound, value: float, hard: HardLimits) -> tuple[float, str | None]:
    low, high = bound.low(hard), bound.high(hard)
    # Should the limits contradict each other, the hard limit itself wins: the ceiling for
    # CVL, CCL and DCL, the floor for DVL.
    if bound.larger_is_safer:
        high = max(high, low)
    else:
        low = min(low, high)
    unit = bound.field.unit
    why: str | None = None
    if not math.isfinite(value):
        # Unreachable through a validated BmsCommand; a bug upstream must still end safe.
        value = high if bound.larger_is_safer else low
        why = f"not a finite number; sent {value} {unit}"
    elif value > high:
        value, why = high, f"{value} {unit} above {bound.high_name} ({high} {unit})"
    elif value < low:
        value, why = low, f"{value} {unit} below {bound.low_name} ({low} {unit})"
    quantized = bound.field.quantize(value)
    # A floor rounded up can pass a ceiling that is not on the grid; the ceiling wins.
    return (min(quantized, high) if bound.larger_is_safer else quantized), why


def clamp_limits(requested: Limits, hard: HardLimits) -> Clamped:
    """Bound each value by the hard limits and SMA's ranges, then quantize toward safety.

    * CVL ∈ [battery.min_discharge_voltage_v, battery.max_charge_voltage_v]
    * CCL ∈ [0, battery.max_charge_current_a]; DCL ∈ [0, battery.max_discharge_current_a]
    * DVL ∈ [battery.min_discharge_voltage_v, SMA's 48 V]

    A non-finite value becomes its safe end (0 A; the lowest CVL; the highest DVL).
    """
    values: dict[str, float] = {}
    changes: dict[str, str] = {}
    for bound in _BOUNDS:
        name = bound.field.name
        values[name], why = _clamp_one(bound, getattr(requested, name), hard)
        if why is not None:
            changes[name] = why
    return Clamped(Limits(**values), changes)


def clamp_percent(value: float) -> float:
    """SoC and SoH: into [0, 100]; a non-finite value becomes 0 (the SI's own default)."""
    if not math.isfinite(value):
        return 0.0
    return min(max(value, 0.0), 100.0)
