"""How the gateway's values degrade the longer nobody renews them (cold start and stale).

The SI must never run indefinitely on a command nobody renews: with the controller gone
for hours, a frozen SoC would keep the SI's own battery protection (which acts on SoC) from
ever acting, and discharge would stay allowed down to ``battery.min_discharge_voltage_v``.
So the degraded sources escalate with their age, each step logged once:

At once (not a logged step, the source change is)
    The SoC keeps moving: the last known SoC plus the charge counted from the SI's own
    battery current (0x305) since then. The SI's battery protection sees the battery empty
    as it empties.
``warning`` (after ``gateway.stale_soc_hold_s``)
    Warning *BMS internal* (W947) is raised, so the SI's display and log say something is
    wrong beyond a late command.
``discharge_limited`` (after ``gateway.stale_discharge_limit_s``)
    DVL rises to ``controller.low_voltage_v`` (a higher DVL only stops discharging sooner)
    and DCL falls to ``controller.low_voltage_discharge_current_a``.

Nothing here relaxes a limit: each step only lowers a ceiling or raises a floor.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from smavenus.gateway.limits import Limits
from smavenus.gateway.settings import GatewaySettings
from smavenus.protocol.frames import AlarmCondition


@dataclass(frozen=True, slots=True)
class StaleStep:
    name: str
    after_s: float
    effect: str


def stale_steps(s: GatewaySettings) -> tuple[StaleStep, ...]:
    return (
        StaleStep("warning", s.stale_soc_hold_s, "warning BMS internal (W947) raised"),
        StaleStep(
            "discharge_limited",
            s.stale_discharge_limit_s,
            f"DVL at least {s.stale_discharge_voltage_v} V, "
            f"DCL at most {s.stale_discharge_current_a} A",
        ),
    )


class SocIntegrator:
    """Charge counted from the SI's battery current since the last reset. Time is passed in.

    The current is SMA's (negative while charging). A gap longer than ``max_gap_s`` between
    two readings (the SI silent) is not integrated: the SoC holds rather than guesses.
    """

    def __init__(self, capacity_ah: float, max_gap_s: float) -> None:
        self._capacity_ah = capacity_ah
        self._max_gap_s = max_gap_s
        self._ah = 0.0
        self._last: tuple[float, float] | None = None

    def reset(self) -> None:
        """A fresh SoC is known (a command arrived): count from zero again."""
        self._ah = 0.0

    def observe(self, current_a: float | None, now: float) -> None:
        last = self._last
        if last is not None:
            dt = now - last[0]
            if 0.0 < dt <= self._max_gap_s:
                self._ah -= last[1] * dt / 3600.0
        usable = current_a is not None and math.isfinite(current_a)
        self._last = (now, current_a) if usable and current_a is not None else None

    @property
    def delta_pct(self) -> float:
        if self._capacity_ah <= 0:
            return 0.0
        return 100.0 * self._ah / self._capacity_ah


def escalate(
    limits: Limits,
    warnings: frozenset[AlarmCondition],
    reasons: dict[str, str],
    age_s: float,
    s: GatewaySettings,
) -> tuple[Limits, frozenset[AlarmCondition]]:
    """The limits and warnings of a source degraded for ``age_s``, with the reasons updated."""
    if age_s >= s.stale_soc_hold_s:
        warnings = warnings | {AlarmCondition.BMS_INTERNAL}
    if age_s < s.stale_discharge_limit_s:
        return limits, warnings
    why = f"no command for {s.stale_discharge_limit_s:g} s (gateway.stale_discharge_limit_s)"
    if s.stale_discharge_voltage_v > limits.discharge_voltage_v:
        reasons["discharge_voltage_v"] = f"{why}: controller.low_voltage_v"
    if s.stale_discharge_current_a < limits.discharge_current_a:
        reasons["discharge_current_a"] = f"{why}: controller.low_voltage_discharge_current_a"
    return (
        Limits(
            charge_voltage_v=limits.charge_voltage_v,
            charge_current_a=limits.charge_current_a,
            discharge_current_a=min(limits.discharge_current_a, s.stale_discharge_current_a),
            discharge_voltage_v=max(limits.discharge_voltage_v, s.stale_discharge_voltage_v),
        ),
        warnings,
    )
