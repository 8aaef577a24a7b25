"""Battery protections: a table of rules, each a warning first and an alarm only when needed.

Every rule watches one measured quantity against thresholds taken from the configuration:

* crossing the **warning** threshold raises the SMA *warning* of the rule's 0x35A condition
  at once (the SI only displays and logs warnings) and applies the rule's *effect* on the
  limits (charge current 0, discharge current limited, conservative limits);
* staying past the **alarm** threshold for ``[controller] alarm_delay_s`` raises the *alarm*: the
  SI stops and waits in standby until it clears. The delay exists because the SI needs up to
  10 s to follow a lower charge current (SMA-TI §5.3): an alarm is for when the limits did
  not help. Rules that have no alarm threshold never raise one;
* a level clears only once the quantity is back by the rule's hysteresis.

A rule whose quantity is unknown (no cell voltages, no temperature) is quiet; the *inputs*
rules at the end of the table say when something the controller needs is missing.

The table is the single source: docs/controller.md lists the same rules with their defaults,
and the tests walk every row.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from smavenus.config import AppConfig
from smavenus.controller.rules import RULES, Context, Effect, Level, Rule

__all__ = ["RULES", "Protections", "Verdict", "charge_temperature_factor"]
from smavenus.events import LogEvent
from smavenus.ipc.messages import ActiveProtection, ConditionName


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
    rule: Rule, state: RuleState, value: float | None, cfg: AppConfig, now: float
) -> tuple[Level, float | None]:
    """The rule's level this cycle, and the threshold it is measured against."""
    warn, alarm = rule.warn_at(cfg), rule.alarm_at(cfg)
    if value is None or warn is None:
        state.alarm_pending_since = state.warn_pending_since = None
        return Level.OK, None
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
    #: When a pending alarm would be raised (a deadline for the caller).
    next_alarm_at: float | None


@dataclass
class Protections:
    """The state of every rule; :meth:`evaluate` once per cycle."""

    states: dict[str, RuleState] = field(
        default_factory=lambda: {rule.name: RuleState() for rule in RULES}
    )

    def evaluate(self, ctx: Context, now: float, events: list[LogEvent]) -> Verdict:
        effects = Effect.NONE
        alarms: set[ConditionName] = set()
        warnings: set[ConditionName] = set()
        active: list[ActiveProtection] = []
        causes: dict[Effect, str] = {}
        next_alarm_at: float | None = None
        for rule in RULES:
            state = self.states[rule.name]
            value = rule.measure(ctx)
            level, threshold = next_level(rule, state, value, ctx.cfg, now)
            if level is not state.level:
                events.append(
                    LogEvent(
                        "protection_changed",
                        "warning" if level > state.level else "info",
                        {
                            "rule": rule.name,
                            "condition": rule.condition,
                            "old": state.level.name.lower(),
                            "new": level.name.lower(),
                            "value": None if value is None else round(value, 3),
                            "threshold": None if threshold is None else round(threshold, 3),
                            "effect": _effect_name(rule.effect) if level else "none",
                            "why": rule.description,
                        },
                    )
                )
                state.level, state.since = level, now
            state.value, state.threshold = value, threshold
            pending = []
            if state.alarm_pending_since is not None and level is not Level.ALARM:
                pending.append(state.alarm_pending_since + ctx.cfg.controller.alarm_delay_s)
            if state.warn_pending_since is not None and level is Level.OK:
                pending.append(state.warn_pending_since + rule.warn_delay(ctx.cfg))
            for due in pending:
                next_alarm_at = due if next_alarm_at is None else min(next_alarm_at, due)
            if level is Level.OK:
                continue
            warnings.add(rule.condition)
            if level is Level.ALARM:
                alarms.add(rule.condition)
            for effect in Effect:
                if effect.value and effect in rule.effect and effect not in causes:
                    causes[effect] = rule.name
            effects |= rule.effect
            active.append(
                ActiveProtection(
                    name=rule.name,
                    condition=rule.condition,
                    level="alarm" if level is Level.ALARM else "warning",
                    value=value,
                    threshold=threshold,
                    since_monotonic=state.since,
                )
            )
        return Verdict(
            effects, frozenset(alarms), frozenset(warnings), tuple(active), causes, next_alarm_at
        )


def _effect_name(effect: Effect) -> str:
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
