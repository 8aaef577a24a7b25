"""The protection engine: each rule's level, its hysteresis and delays, and the alarm hold.

The rules themselves are tables (:mod:`smavenus.controller.rules`,
:mod:`smavenus.controller.bms_rules`). This module steps them once per cycle:

* a level rises at once to *warning*, and to *alarm* after ``alarm_delay_s`` past the alarm
  threshold; it falls only once the quantity is back by the rule's hysteresis;
* **missing data never lifts a protection**: a rule whose quantity is ``None`` this cycle
  keeps its level (and its effect) until a reading comes back to judge it;
* an **SMA alarm, once raised, is held** for at least ``alarm_min_hold_s`` even if its rule
  clears sooner: an alarm puts the SI in standby, so it must never flicker;
* the latched levels and alarm times can be saved and restored, so a restarted controller
  keeps what was latched before (:meth:`Protections.latched`, :meth:`Protections.restore`).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field

from smavenus.config import AppConfig
from smavenus.controller.bms_rules import BMS_RULES
from smavenus.controller.rules import INPUT_RULES, MEASURED_RULES, Context, Effect, Rule
from smavenus.events import LogEvent
from smavenus.ipc.messages import ActiveProtection, ConditionName

RULES: tuple[Rule, ...] = (*MEASURED_RULES, *INPUT_RULES, *BMS_RULES)
RULES_BY_NAME = {rule.name: rule for rule in RULES}


class Level(enum.IntEnum):
    OK = 0
    WARNING = 1
    ALARM = 2


@dataclass(slots=True)
class RuleState:
    level: Level = Level.OK
    since: float = 0.0
    alarm_pending_since: float | None = None
    warn_pending_since: float | None = None
    value: float | None = None
    threshold: float | None = None


def _past(sign: int, value: float, threshold: float) -> bool:
    return value * sign >= threshold * sign


def _back_by(sign: int, value: float, threshold: float, hysteresis: float) -> bool:
    """True once ``value`` has come back past the threshold by the hysteresis."""
    return value * sign < (threshold - sign * hysteresis) * sign


def next_level(
    rule: Rule, state: RuleState, value: float | None, ctx: Context, now: float
) -> tuple[Level, float | None]:
    """The rule's level this cycle, and the threshold it is measured against."""
    cfg = ctx.cfg
    warn, alarm = rule.warn_at(cfg), rule.alarm_at(cfg)
    if value is None or warn is None:
        state.alarm_pending_since = state.warn_pending_since = None
        if value is None and warn is not None:
            return state.level, state.threshold  # missing: kept, never lifted
        return Level.OK, None
    if rule.voltage_alarm and ctx.voltage_alarm_needs_agreement:
        alarm = None  # one source alone may not stop the SI (single_source_alarm = false)
    if alarm is not None and _alarmed(rule, state, value, alarm, cfg=cfg, now=now):
        return Level.ALARM, alarm
    past_alarm = state.alarm_pending_since is not None  # at least a warning meanwhile
    if past_alarm or _warned(rule, state, value, warn, cfg=cfg, now=now):
        return Level.WARNING, warn
    return Level.OK, warn


def _alarmed(
    rule: Rule, state: RuleState, value: float, alarm: float, *, cfg: AppConfig, now: float
) -> bool:
    sign = int(rule.side)
    if state.level is Level.ALARM:
        if not _back_by(sign, value, alarm, rule.hysteresis(cfg)):
            return True
        state.alarm_pending_since = None
        return False
    if not _past(sign, value, alarm):
        state.alarm_pending_since = None
        return False
    if state.alarm_pending_since is None:
        state.alarm_pending_since = now
    return now - state.alarm_pending_since >= cfg.controller.alarm_delay_s


def _warned(
    rule: Rule, state: RuleState, value: float, warn: float, *, cfg: AppConfig, now: float
) -> bool:
    sign = int(rule.side)
    if state.level >= Level.WARNING:
        state.warn_pending_since = None
        return not _back_by(sign, value, warn, rule.hysteresis(cfg))
    if not _past(sign, value, warn):
        state.warn_pending_since = None
        return False
    if state.warn_pending_since is None:
        state.warn_pending_since = now
    return now - state.warn_pending_since >= rule.warn_delay(cfg)


@dataclass(frozen=True, slots=True)
class Verdict:
    """The protections' combined result for one cycle."""

    effects: Effect
    alarms: frozenset[ConditionName]
    warnings: frozenset[ConditionName]
    active: tuple[ActiveProtection, ...]
    #: The rule that caused each effect (for the limits' reasons).
    causes: dict[Effect, str]
    #: When a pending alarm would be raised or a held one released (a deadline).
    next_alarm_at: float | None


@dataclass(frozen=True, slots=True)
class LatchedRule:
    """A rule's active level, for the state file (``since_unix``: wall clock)."""

    name: str
    level: int
    since_unix: float


@dataclass
class Protections:
    """The state of every rule; :meth:`evaluate` once per cycle."""

    states: dict[str, RuleState] = field(
        default_factory=lambda: {rule.name: RuleState() for rule in RULES}
    )
    #: SMA condition → when its alarm was (last) raised.
    alarm_raised_at: dict[ConditionName, float] = field(default_factory=dict)

    def evaluate(self, ctx: Context, now: float, events: list[LogEvent]) -> Verdict:
        effects = Effect.NONE
        alarms: set[ConditionName] = set()
        warnings: set[ConditionName] = set()
        active: list[ActiveProtection] = []
        causes: dict[Effect, str] = {}
        deadlines: list[float] = []
        for rule in RULES:
            state = self.states[rule.name]
            value = rule.measure(ctx)
            level, threshold = next_level(rule, state, value, ctx, now)
            if level is not state.level:
                events.append(_change_event(rule, state.level, level, value, threshold))
                state.level, state.since = level, now
            if value is not None:
                state.value = value
            state.threshold = threshold
            if state.alarm_pending_since is not None and level is not Level.ALARM:
                deadlines.append(state.alarm_pending_since + ctx.cfg.controller.alarm_delay_s)
            if state.warn_pending_since is not None and level is Level.OK:
                deadlines.append(state.warn_pending_since + rule.warn_delay(ctx.cfg))
            if level is Level.OK:
                continue
            if rule.condition is not None:
                warnings.add(rule.condition)
                if level is Level.ALARM:
                    alarms.add(rule.condition)
            acting = rule.effect_when is None or (
                state.value is not None and rule.effect_when(state.value)
            )
            if acting:
                for effect in Effect:
                    if effect.value and effect in rule.effect and effect not in causes:
                        causes[effect] = rule.name
                effects |= rule.effect
            active.append(
                ActiveProtection(
                    name=rule.name,
                    condition=rule.condition,
                    level="alarm" if level is Level.ALARM else "warning",
                    value=state.value,
                    threshold=threshold,
                    since_monotonic=state.since,
                )
            )
        held = self._hold(alarms, now, ctx.cfg, events)
        deadlines.extend(at + ctx.cfg.controller.alarm_min_hold_s for at in held.values())
        alarms |= set(held)
        warnings |= set(held)
        return Verdict(
            effects, frozenset(alarms), frozenset(warnings), tuple(active), causes,
            min(deadlines, default=None),
        )  # fmt: skip

    def _hold(
        self, alarms: set[ConditionName], now: float, cfg: AppConfig, events: list[LogEvent]
    ) -> dict[ConditionName, float]:
        """Alarms no rule raises now but that must still be held: condition → raised at."""
        for condition in alarms:
            self.alarm_raised_at.setdefault(condition, now)
        held: dict[ConditionName, float] = {}
        for condition, raised_at in list(self.alarm_raised_at.items()):
            if condition in alarms:
                continue
            if now - raised_at < cfg.controller.alarm_min_hold_s:
                held[condition] = raised_at
                continue
            del self.alarm_raised_at[condition]
            events.append(
                LogEvent("sma_alarm_released", "info", {"condition": condition,
                         "held_s": round(now - raised_at, 1)})
            )  # fmt: skip
        return held

    def acknowledge(self, now: float, events: list[LogEvent]) -> list[ConditionName]:
        """Release now the held alarms whose rules are no longer at alarm level (a person
        acknowledged them); an alarm a rule still raises is never released."""
        raised = {
            rule.condition
            for rule in RULES
            if rule.condition is not None and self.states[rule.name].level is Level.ALARM
        }
        released: list[ConditionName] = []
        for condition, raised_at in list(self.alarm_raised_at.items()):
            if condition in raised:
                continue
            del self.alarm_raised_at[condition]
            released.append(condition)
            events.append(
                LogEvent("sma_alarm_acknowledged", "info", {"condition": condition,
                         "held_s": round(now - raised_at, 1)})
            )  # fmt: skip
        return released

    def level(self, name: str) -> Level:
        return self.states[name].level

    def latched(self, now: float, now_unix: float) -> tuple[LatchedRule, ...]:
        """The active levels, for a restarted controller to take over."""
        return tuple(
            LatchedRule(name, int(state.level), now_unix - (now - state.since))
            for name, state in self.states.items()
            if state.level > Level.OK
        )

    def restore(self, rules: Iterable[LatchedRule], now: float, now_unix: float) -> list[str]:
        """Take over latched levels from a previous run; returns the names restored."""
        restored = []
        for saved in rules:
            state = self.states.get(saved.name)
            if state is None or saved.level not in (1, 2):
                continue
            state.level = Level(saved.level)
            state.since = now - max(now_unix - saved.since_unix, 0.0)
            rule = RULES_BY_NAME[saved.name]
            if state.level is Level.ALARM and rule.condition is not None:
                # Held again in full: the SI may have left standby while we were away.
                self.alarm_raised_at[rule.condition] = now
            restored.append(saved.name)
        return restored


def _change_event(
    rule: Rule, old: Level, new: Level, value: float | None, threshold: float | None
) -> LogEvent:
    return LogEvent(
        "protection_changed",
        "warning" if new > old else "info",
        {
            "rule": rule.name,
            "condition": rule.condition,
            "old": old.name.lower(),
            "new": new.name.lower(),
            "value": None if value is None else round(value, 3),
            "threshold": None if threshold is None else round(threshold, 3),
            "effect": effect_name(rule.effect) if new else "none",
            "why": rule.description,
        },
    )


def effect_name(effect: Effect) -> str:
    return "+".join(str(e.name).lower() for e in Effect if e.value and e in effect) or "none"


def charge_temperature_factor(temperature_c: float | None, cfg: AppConfig) -> float:
    """1 below charge_derate_temperature_c, falling linearly to 0 at charge_max_temperature_c.

    (Below charge_min_temperature_c the ``charge_low_temperature`` rule blocks charging, with
    hysteresis; the derating above is continuous and needs none.)
    """
    if temperature_c is None:
        return 1.0
    start, stop = (
        cfg.controller.charge_derate_temperature_c,
        cfg.controller.charge_max_temperature_c,
    )
    if temperature_c <= start:
        return 1.0
    if temperature_c >= stop:
        return 0.0
    return (stop - temperature_c) / (stop - start)
