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

import enum
from collections.abc import Callable
from dataclasses import dataclass, field

from smavenus.config import AppConfig
from smavenus.controller.inputs import Measurements
from smavenus.events import LogEvent
from smavenus.ipc.messages import ActiveProtection, ConditionName

#: Warning this far before the temperature alarm limits (``min/max_temperature_c``).
TEMPERATURE_WARNING_MARGIN_C = 5.0
#: Battery current this much above the configured maximum raises the current warnings.
OVER_CURRENT_FACTOR = 1.1


class Level(enum.IntEnum):
    OK = 0
    WARNING = 1
    ALARM = 2


class Effect(enum.Flag):
    """What an active rule does to the limits."""

    NONE = 0
    BLOCK_CHARGE = enum.auto()  #: charge current 0 (through 1 A), CVL held near the voltage
    LIMIT_DISCHARGE = enum.auto()  #: discharge current at most low_voltage_discharge_current_a
    DEGRADED = enum.auto()  #: conservative limits: float voltage, degraded charge current


class Side(enum.IntEnum):
    HIGH = 1  #: the rule trips when the quantity rises to the threshold
    LOW = -1  #: ... when it falls to it


@dataclass(frozen=True, slots=True)
class Context:
    """What the rules look at on one cycle."""

    m: Measurements
    cfg: AppConfig
    #: The monitor should be there by now (start-up grace of input_max_age_s has passed).
    monitor_expected: bool


Measure = Callable[[Context], float | None]
Threshold = Callable[[AppConfig], float | None]


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    condition: ConditionName
    side: Side
    measure: Measure
    warn_at: Threshold
    alarm_at: Threshold
    hysteresis: Callable[[AppConfig], float]
    effect: Effect = Effect.NONE
    description: str = ""
    #: How long the quantity must stay past the warning threshold before the warning.
    warn_delay: Callable[[AppConfig], float] = lambda cfg: 0.0


def _flag(value: bool) -> float:
    return 1.0 if value else 0.0


def _mismatch(ctx: Context) -> float | None:
    m = ctx.m
    if m.monitor_voltage_v is None or m.si_voltage_v is None:
        return None
    return abs(m.monitor_voltage_v - m.si_voltage_v)


def _charge_current(ctx: Context) -> float | None:
    return ctx.m.current_a


def _discharge_current(ctx: Context) -> float | None:
    return None if ctx.m.current_a is None else -ctx.m.current_a


_FLAG_ON = 1.0  # flag rules: the quantity is 1.0 while the condition holds, 0.0 otherwise

RULES: tuple[Rule, ...] = (
    Rule(
        "pack_high_voltage", "high_voltage", Side.HIGH,
        lambda c: c.m.voltage_v,
        lambda cfg: cfg.battery.max_charge_voltage_v,
        lambda cfg: cfg.battery.max_charge_voltage_v + cfg.controller.high_voltage_alarm_margin_v,
        lambda cfg: cfg.controller.voltage_hysteresis_v,
        Effect.BLOCK_CHARGE,
        "pack voltage at battery.max_charge_voltage_v",
    ),
    Rule(
        "cell_high_voltage", "high_voltage", Side.HIGH,
        lambda c: c.m.max_cell_v,
        lambda cfg: cfg.controller.cell_high_voltage_v,
        lambda cfg: cfg.controller.cell_high_voltage_alarm_v,
        lambda cfg: cfg.controller.cell_hysteresis_v,
        Effect.BLOCK_CHARGE,
        "highest cell at cell_high_voltage_v",
    ),
    Rule(
        "pack_low_voltage", "low_voltage", Side.LOW,
        lambda c: c.m.voltage_v,
        lambda cfg: cfg.controller.low_voltage_v,
        lambda cfg: None,  # the SI stops at DVL itself; an alarm would also stop recharging
        lambda cfg: cfg.controller.voltage_hysteresis_v,
        Effect.LIMIT_DISCHARGE,
        "pack voltage at low_voltage_v",
    ),
    Rule(
        "cell_low_voltage", "low_voltage", Side.LOW,
        lambda c: c.m.min_cell_v,
        lambda cfg: cfg.controller.cell_low_voltage_v,
        lambda cfg: cfg.controller.cell_low_voltage_alarm_v,
        lambda cfg: cfg.controller.cell_hysteresis_v,
        Effect.LIMIT_DISCHARGE,
        "lowest cell at cell_low_voltage_v",
    ),
    Rule(
        "cell_imbalance", "cell_imbalance", Side.HIGH,
        lambda c: c.m.cell_spread_v,
        lambda cfg: cfg.controller.cell_imbalance_warning_v,
        lambda cfg: None,
        lambda cfg: cfg.controller.cell_hysteresis_v / 2,
        Effect.NONE,
        "highest minus lowest cell at cell_imbalance_warning_v",
    ),
    Rule(
        "charge_low_temperature", "low_temperature_charge", Side.LOW,
        lambda c: c.m.temperature_c,
        lambda cfg: cfg.controller.charge_min_temperature_c,
        lambda cfg: None,
        lambda cfg: cfg.controller.temperature_hysteresis_c,
        Effect.BLOCK_CHARGE,
        "battery colder than charge_min_temperature_c: no charging",
    ),
    Rule(
        "charge_high_temperature", "high_temperature_charge", Side.HIGH,
        lambda c: c.m.temperature_c,
        lambda cfg: cfg.controller.charge_derate_temperature_c,
        lambda cfg: None,
        lambda cfg: cfg.controller.temperature_hysteresis_c,
        Effect.NONE,  # the derating itself is continuous (see charge_temperature_factor)
        "battery warmer than charge_derate_temperature_c: charge current derated",
    ),
    Rule(
        "low_temperature", "low_temperature", Side.LOW,
        lambda c: c.m.temperature_c,
        lambda cfg: cfg.controller.min_temperature_c + TEMPERATURE_WARNING_MARGIN_C,
        lambda cfg: cfg.controller.min_temperature_c,
        lambda cfg: cfg.controller.temperature_hysteresis_c,
        Effect.NONE,
        "battery near / below min_temperature_c",
    ),
    Rule(
        "high_temperature", "high_temperature", Side.HIGH,
        lambda c: c.m.temperature_c,
        lambda cfg: cfg.controller.max_temperature_c - TEMPERATURE_WARNING_MARGIN_C,
        lambda cfg: cfg.controller.max_temperature_c,
        lambda cfg: cfg.controller.temperature_hysteresis_c,
        Effect.NONE,
        "battery near / above max_temperature_c",
    ),
    Rule(
        "high_charge_current", "high_charge_current", Side.HIGH,
        _charge_current,
        lambda cfg: cfg.battery.max_charge_current_a * OVER_CURRENT_FACTOR,
        lambda cfg: None,
        lambda cfg: cfg.battery.max_charge_current_a * 0.05,
        Effect.NONE,
        "battery charge current 10 % above battery.max_charge_current_a (other chargers?)",
    ),
    Rule(
        "high_discharge_current", "high_current", Side.HIGH,
        _discharge_current,
        lambda cfg: cfg.battery.max_discharge_current_a * OVER_CURRENT_FACTOR,
        lambda cfg: None,
        lambda cfg: cfg.battery.max_discharge_current_a * 0.05,
        Effect.NONE,
        "battery discharge current 10 % above battery.max_discharge_current_a",
    ),
    # -- inputs ------------------------------------------------------------------------------
    Rule(
        "battery_monitor_stale", "general", Side.HIGH,
        lambda c: _flag(c.monitor_expected and c.m.monitor_stale),
        lambda cfg: _FLAG_ON,
        lambda cfg: None,  # never stop the SI for a missing monitor: degrade instead
        lambda cfg: 0.5,
        Effect.DEGRADED,
        "no fresh battery-monitor data: the SI's own voltage and current are used",
    ),
    Rule(
        "no_measurements", "general", Side.HIGH,
        lambda c: _flag(c.monitor_expected and c.m.source == "none"),
        lambda cfg: _FLAG_ON,
        lambda cfg: None,
        lambda cfg: 0.5,
        Effect.BLOCK_CHARGE,
        "neither the monitor nor the SI gives a voltage: no charging",
    ),
    Rule(
        "temperature_unknown", "general", Side.HIGH,
        lambda c: _flag(c.monitor_expected and c.m.temperature_c is None),
        lambda cfg: _FLAG_ON,
        lambda cfg: None,
        lambda cfg: 0.5,
        Effect.BLOCK_CHARGE,  # it may be below charge_min_temperature_c: no charging
        "no battery temperature from the monitor or the SI: no charging",
    ),
    Rule(
        "voltage_mismatch", "general", Side.HIGH,
        _mismatch,
        lambda cfg: cfg.controller.voltage_mismatch_v,
        lambda cfg: None,
        lambda cfg: cfg.controller.voltage_mismatch_v / 4,
        Effect.DEGRADED,  # and the monitor is not trusted (a frozen monitor looks like this)
        "the monitor's and the SI's voltages differ by more than voltage_mismatch_v: the "
        "SI's own measurements are used",
        lambda cfg: cfg.controller.alarm_delay_s,
    ),
)  # fmt: skip

RULES_BY_NAME = {rule.name: rule for rule in RULES}


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
