"""The four limits this cycle wants, before shaping: targets, ceilings, holds and the regulator.

* **Charge voltage**: the target — our charge stage's voltage (``own``), the BMS's
  (``follow_bms``), or the reduced one of a lost BMS — lowered by any fresh ceiling (the BMS,
  DVCC, the user's DVCC limit) and by degraded mode; then held a margin above the SI's battery
  voltage while charging is blocked, and **never below it** (a CVL under the battery makes the
  SI discharge it to that voltage, ignoring DCL, SMA-TI §5.3): the restriction goes through
  the charge current instead (``below_battery_guard``).
* **Charge current**: the PI regulator toward the target, under the tightest of every cap
  (bulk current, the BMS's and DVCC's share, degraded mode, temperature derating, a lost BMS,
  blocked charging, missing measurements); the cap that binds names the reason.
* **Discharge current**: the smallest of the hard limit, the protections', the BMS's and
  DVCC's, a lost BMS's.
* **Discharge voltage**: the largest of the hard floor and the BMS's and DVCC's.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from smavenus.config import AppConfig
from smavenus.controller import limits as lim
from smavenus.controller.battery_limits import BatteryWord
from smavenus.controller.bms_presence import LostCaps
from smavenus.controller.charger import ChargeState, PiRegulator, pack_target_v, regulation_error_v
from smavenus.controller.protections import Verdict, charge_temperature_factor
from smavenus.controller.rules import Effect
from smavenus.controller.sources import Measurements, Readings
from smavenus.events import LogEvent

#: While charging is blocked, the charge voltage is held this far above the battery voltage:
#: below it the SI would discharge the battery to it, ignoring DCL (SMA-TI §5.3); at it the
#: SI has nothing to charge towards even if it ignored a 0 A limit (solardirector's trick).
BLOCK_CVL_MARGIN_V = 0.1


@dataclass(frozen=True, slots=True)
class Cycle:
    """What one cycle knows when it plans the limits."""

    cfg: AppConfig
    m: Measurements  #: the primary source (regulation)
    r: Readings  #: the worst fresh readings (protection)
    verdict: Verdict
    word: BatteryWord
    mode: str  #: "own", "follow_bms" or "bms_lost"
    lost: LostCaps | None
    degraded: bool
    dt_s: float
    state: ChargeState
    sent: lim.Limits | None  #: what was sent last cycle


def _tightest(caps: list[tuple[float, str]]) -> tuple[float, str]:
    return min(caps, key=lambda cap: cap[0])


@dataclass
class LimitPlanner:
    """Holds the regulator; :meth:`plan` once per cycle."""

    regulator: PiRegulator = field(default_factory=PiRegulator)
    #: Last cycle the regulator held the charge current below its ceiling.
    regulating: bool = False
    #: Why each limit had its value last cycle (a change is logged once).
    reasons: dict[str, str] = field(default_factory=dict)

    def note_reasons(self, wanted: lim.Limits, events: list[LogEvent]) -> None:
        """One ``limit_reason_changed`` event per limit whose reason changed."""
        for name in lim.TIGHTER:
            limit = getattr(wanted, name)
            if self.reasons.get(name) != limit.reason:
                events.append(
                    LogEvent("limit_reason_changed", "info",
                             {"limit": name, "old": self.reasons.get(name),
                              "new": limit.reason, "value": round(limit.value, 2)})
                )  # fmt: skip
                self.reasons[name] = limit.reason

    def plan(self, c: Cycle) -> lim.Limits:
        target = charge_target(c)
        charge_voltage, held = charge_voltage_limit(c, target)
        charge_current = self._charge_current(c, target.value, held)
        self.regulating = charge_current.reason.endswith("_regulation")
        return lim.Limits(
            charge_voltage, charge_current, discharge_current_limit(c), discharge_voltage_limit(c)
        )

    def _charge_current(self, c: Cycle, target: float, held: bool) -> lim.Limit:
        cfg, m, verdict = c.cfg, c.m, c.verdict
        max_a, cap_reason = _tightest(charge_current_caps(c, held))
        max_a = max(max_a, 0.0)
        error = regulation_error_v(m, target, cfg)
        if error is None or m.voltage_v is None:
            self.regulator.reset(0.0)
            return lim.Limit(0.0, cap_reason)
        value = self.regulator.step(
            error, voltage_v=m.voltage_v, dt_s=c.dt_s, cfg=cfg, max_a=max_a,
            delivered_a=m.charger_current_a,
        )  # fmt: skip
        del verdict
        if value >= max_a - 1e-6:
            return lim.Limit(value, cap_reason)
        if error < target - m.voltage_v:
            return lim.Limit(value, "cell_regulation")
        return lim.Limit(value, f"{c.state.value}_regulation")


def charge_target(c: Cycle) -> lim.Limit:
    """The charge voltage to regulate to, before any hold near the battery voltage."""
    cfg, word, ctl = c.cfg, c.word, c.cfg.controller
    if c.mode == "follow_bms":
        ceiling = word.charge_voltage_v
        if ceiling is None:  # refused as implausible: charging is blocked; float is a safe hold
            target = lim.Limit(ctl.float_voltage_v, "bms_charge_voltage refused")
        else:
            target = lim.Limit(ceiling.value, f"bms_charge_voltage ({ceiling.reason})")
    elif c.mode == "bms_lost" and c.lost is not None and c.lost.charge_voltage_v is not None:
        target = lim.Limit(c.lost.charge_voltage_v, "bms_lost")
    else:
        value = pack_target_v(c.state, cfg, c.degraded)
        reason = "float_voltage" if value == ctl.float_voltage_v else "absorption_voltage"
        if c.degraded and c.state is not ChargeState.FLOAT:
            cause = c.verdict.causes.get(Effect.DEGRADED, "waiting_for_battery_monitor")
            reason = f"float_voltage, degraded: {cause}"
        target = lim.Limit(value, reason)
    if c.degraded and target.value > ctl.float_voltage_v:
        target = lim.Limit(ctl.float_voltage_v, f"float_voltage, degraded ({target.reason})")
    voltage_ceiling = word.charge_voltage_v
    if voltage_ceiling is not None and voltage_ceiling.value < target.value:
        target = lim.Limit(voltage_ceiling.value, voltage_ceiling.reason)
    return target


def charge_voltage_limit(c: Cycle, target: lim.Limit) -> tuple[lim.Limit, bool]:
    """The CVL to send, and whether it is held above the target (charging must stop)."""
    m, verdict = c.m, c.verdict
    # The voltage the SI compares CVL with: its own (else the primary source's).
    battery_v = m.si_voltage_v if m.si_voltage_v is not None else m.voltage_v
    if battery_v is None:
        return target, False
    margin = battery_v + BLOCK_CVL_MARGIN_V
    if target.value < battery_v:
        # Below-battery guard: a CVL under the SI's battery voltage makes the SI discharge the
        # battery to it, ignoring DCL (SMA-TI §5.3). Follow the battery down a margin above it
        # and stop charging through CCL instead.
        previous = None if c.sent is None else c.sent.charge_voltage_v.value
        followed = margin if previous is None else min(previous, margin)
        if followed > target.value:
            return lim.Limit(followed, f"{target.reason}, following the battery down"), True
    if Effect.BLOCK_CHARGE in verdict.effects and margin < target.value:
        return lim.Limit(margin, verdict.causes[Effect.BLOCK_CHARGE]), False
    return target, False


def charge_current_caps(c: Cycle, held: bool) -> list[tuple[float, str]]:
    """Every ceiling on the charge current this cycle, each with its reason."""
    cfg, verdict, word, ctl = c.cfg, c.verdict, c.word, c.cfg.controller
    caps: list[tuple[float, str]] = [(ctl.bulk_current_a, "bulk_current")]
    if word.charge_current_a is not None:
        caps.append((word.charge_current_a.value, word.charge_current_a.reason))
    if c.lost is not None:
        caps.append((c.lost.charge_current_a, c.lost.reason))
    if held:
        caps.append((0.0, "below_battery_guard"))
    if c.degraded:
        cause = verdict.causes.get(Effect.DEGRADED, "waiting_for_battery_monitor")
        caps.append((ctl.degraded_charge_current_a, f"degraded: {cause}"))
    # The derating protects on the hottest sensor of any source.
    factor = charge_temperature_factor(c.r.high_temperature_c, cfg)
    if factor < 1.0:
        caps.append((ctl.bulk_current_a * factor, "charge_high_temperature"))
    if Effect.HALVE_CHARGE in verdict.effects:
        caps.append((_tightest(caps)[0] / 2, verdict.causes[Effect.HALVE_CHARGE]))
    if Effect.BLOCK_CHARGE in verdict.effects:
        caps.append((0.0, verdict.causes[Effect.BLOCK_CHARGE]))
    if c.m.voltage_v is None:
        caps.append((0.0, "no_measurements"))
    if c.r.low_temperature_c is None:  # also before the start-up grace ends: never charge blind
        caps.append((0.0, "temperature_unknown"))
    return caps


def discharge_current_limit(c: Cycle) -> lim.Limit:
    bat, ctl, verdict, word = c.cfg.battery, c.cfg.controller, c.verdict, c.word
    caps = [(bat.max_discharge_current_a, "max_discharge_current")]
    if Effect.LIMIT_DISCHARGE in verdict.effects:
        caps.append((ctl.low_voltage_discharge_current_a, verdict.causes[Effect.LIMIT_DISCHARGE]))
    if word.discharge_current_a is not None:
        caps.append((word.discharge_current_a.value, word.discharge_current_a.reason))
    if c.lost is not None:
        caps.append((c.lost.discharge_current_a, "bms_lost"))
    if Effect.BLOCK_DISCHARGE in verdict.effects:
        caps.append((0.0, verdict.causes[Effect.BLOCK_DISCHARGE]))
    return lim.Limit(*_tightest(caps))


def discharge_voltage_limit(c: Cycle) -> lim.Limit:
    floor = c.word.discharge_voltage_v
    hard = c.cfg.battery.min_discharge_voltage_v
    if floor is not None and floor.value > hard:
        return lim.Limit(floor.value, floor.reason)
    return lim.Limit(hard, "min_discharge_voltage")
