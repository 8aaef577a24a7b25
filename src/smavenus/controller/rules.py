"""The protection table: every rule, what it watches, its thresholds and what it does.

The engine that steps these rules is :mod:`smavenus.controller.protections`; the table is the
single source: docs/controller.md lists the same rules, and the tests walk every row.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass

from smavenus.config import AppConfig
from smavenus.controller.inputs import Measurements
from smavenus.ipc.messages import ConditionName

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
