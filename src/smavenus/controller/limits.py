"""From wanted limits to the limits sent: rate limits, the 1 A step and the hard limits.

Order matters, and each stage says why a value changed (its *reason*):

1. **Tighten at once, relax smoothly.** A limit that protects the battery more (lower
   charge voltage, charge current or discharge current; higher discharge voltage) is sent at
   once. A limit that relaxes rises at most at a rate: a current from 0 to its hard maximum
   in ``[controller] limit_ramp_up_s``; a voltage at :data:`VOLTAGE_RAMP_V_PER_S`.
2. **The charge current steps through 1 A before 0 A.** Some SIs ignore a charge current
   limit that drops straight to 0 (reported in the field, solardirector's ``si`` agent): we
   send 1 A first and hold it long enough that the gateway puts it in at least one frame set,
   then 0 A. Values between 0 and 1 A are not sent: they become 1 A (on the way down) or 0 A.
3. **Hard limits last.** ``[battery]`` is never exceeded, whatever came before (the gateway
   clamps again; we do not rely on it). SMA's ranges (CVL 41-63 V, DVL 41-48 V) too.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace

from smavenus.config import AppConfig
from smavenus.protocol import CVL_RANGE_V, DVL_RANGE_V

#: How fast a voltage limit may relax (V per second).
VOLTAGE_RAMP_V_PER_S = 0.1
#: SMA-TI ranges of 0x351.
SMA_CVL_MIN_V, SMA_CVL_MAX_V = CVL_RANGE_V
SMA_DVL_MIN_V, SMA_DVL_MAX_V = DVL_RANGE_V
STEP_CURRENT_A = 1.0


@dataclass(frozen=True, slots=True)
class Limit:
    value: float
    reason: str


@dataclass(frozen=True, slots=True)
class Limits:
    charge_voltage_v: Limit
    charge_current_a: Limit
    discharge_current_a: Limit
    discharge_voltage_v: Limit


class Tighter(enum.Enum):
    LOWER = -1
    HIGHER = 1


#: Which direction protects the battery more, per limit.
TIGHTER = {
    "charge_voltage_v": Tighter.LOWER,
    "charge_current_a": Tighter.LOWER,
    "discharge_current_a": Tighter.LOWER,
    "discharge_voltage_v": Tighter.HIGHER,
}


def relax_rate_per_s(name: str, cfg: AppConfig) -> float | None:
    """Units per second a limit may relax; None = no limit."""
    if name in ("charge_voltage_v", "discharge_voltage_v"):
        return VOLTAGE_RAMP_V_PER_S
    if cfg.controller.limit_ramp_up_s <= 0:
        return None
    ceiling = (
        cfg.battery.max_charge_current_a
        if name == "charge_current_a"
        else cfg.battery.max_discharge_current_a
    )
    return ceiling / cfg.controller.limit_ramp_up_s


def hard_range(name: str, cfg: AppConfig) -> tuple[float, float]:
    bat = cfg.battery
    if name == "charge_voltage_v":
        return SMA_CVL_MIN_V, min(bat.max_charge_voltage_v, SMA_CVL_MAX_V)
    if name == "discharge_voltage_v":
        return max(bat.min_discharge_voltage_v, SMA_DVL_MIN_V), SMA_DVL_MAX_V
    if name == "charge_current_a":
        return 0.0, bat.max_charge_current_a
    return 0.0, bat.max_discharge_current_a


@dataclass
class LimitShaper:
    """Remembers what was sent last; :meth:`shape` once per cycle."""

    sent: Limits | None = None
    step_since: float | None = None

    def shape(self, wanted: Limits, now: float, dt_s: float, cfg: AppConfig) -> Limits:
        out: dict[str, Limit] = {}
        for name in TIGHTER:
            limit: Limit = getattr(wanted, name)
            previous = None if self.sent is None else getattr(self.sent, name).value
            limit = _rate_limit(name, limit, previous, dt_s, cfg)
            if name == "charge_current_a":
                limit = self._step_through_1a(limit, previous, now, cfg)
            out[name] = _clamp(name, limit, cfg)
        shaped = Limits(**out)
        self.sent = shaped
        return shaped

    def _step_through_1a(
        self, limit: Limit, previous: float | None, now: float, cfg: AppConfig
    ) -> Limit:
        if limit.value >= STEP_CURRENT_A:
            self.step_since = None
            return limit
        coming_down = previous is not None and previous > STEP_CURRENT_A
        if coming_down:
            self.step_since = now
        holding = self.step_since is not None and now - self.step_since < self.step_hold_s(cfg)
        if coming_down or holding:
            return Limit(STEP_CURRENT_A, f"{limit.reason}, stepping through 1 A")
        self.step_since = None
        return replace(limit, value=0.0)

    @staticmethod
    def step_hold_s(cfg: AppConfig) -> float:
        """Long enough for the gateway to send 1 A in at least one frame set."""
        return 1.5 * cfg.can.bms_period_s

    def next_deadline(self, cfg: AppConfig) -> float | None:
        return None if self.step_since is None else self.step_since + self.step_hold_s(cfg)


def _rate_limit(
    name: str, limit: Limit, previous: float | None, dt_s: float, cfg: AppConfig
) -> Limit:
    if previous is None:
        return limit
    direction = TIGHTER[name].value
    relaxing = (limit.value - previous) * direction < 0
    rate = relax_rate_per_s(name, cfg)
    if not relaxing or rate is None:
        return limit
    step = rate * max(dt_s, 0.0)
    if abs(limit.value - previous) <= step:
        return limit
    return Limit(previous - direction * step, f"{limit.reason}, ramping")


def _clamp(name: str, limit: Limit, cfg: AppConfig) -> Limit:
    low, high = hard_range(name, cfg)
    if limit.value > high:
        return Limit(high, "hard_limit")
    if limit.value < low:
        return Limit(low, "hard_limit")
    return limit
