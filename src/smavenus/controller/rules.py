"""The protection table: every rule, what it watches, its thresholds and what it does.

Every rule watches one quantity against thresholds taken from the configuration:

* crossing the **warning** threshold raises the SMA *warning* of the rule's 0x35A condition
  at once (the SI only displays and logs warnings) and applies the rule's *effect* on the
  limits (charge current 0, discharge current limited, conservative limits);
* staying past the **alarm** threshold for ``[controller] alarm_delay_s`` raises the *alarm*:
  the SI stops and waits in standby until it clears. The delay exists because the SI needs up
  to 10 s to follow a lower charge current (SMA-TI §5.3): an alarm is for when the limits did
  not help. Rules without an alarm threshold never raise one;
* a level clears only once the quantity is back by the rule's hysteresis — and **never
  because the quantity went missing**: a rule whose reading vanishes keeps its level until a
  reading comes back and clears it (:mod:`smavenus.controller.protections`).

The measured rules see the **worst fresh reading** of every live source
(:class:`~smavenus.controller.sources.Readings`). The *inputs* rules say when something the
controller needs is missing, frozen or contradicted; the *BMS* rules carry the battery BMS's
own alarms and permissions (:mod:`smavenus.controller.bms_rules`).

The table is the single source: docs/controller.md lists the same rules, and the tests walk
every row.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from smavenus.config import AppConfig
from smavenus.controller.sources import Measurements, Readings
from smavenus.ipc.messages import ConditionName

#: Warning this far before the temperature alarm limits (``min/max_temperature_c``).
TEMPERATURE_WARNING_MARGIN_C = 5.0
#: Battery current this much above the configured maximum raises the current warnings.
OVER_CURRENT_FACTOR = 1.1


class Effect(enum.Flag):
    """What an active rule does to the limits."""

    NONE = 0
    BLOCK_CHARGE = enum.auto()  #: charge current 0 (through 1 A), CVL held near the voltage
    LIMIT_DISCHARGE = enum.auto()  #: discharge current at most low_voltage_discharge_current_a
    DEGRADED = enum.auto()  #: conservative limits: float voltage, degraded charge current
    BLOCK_DISCHARGE = enum.auto()  #: discharge current 0
    HALVE_CHARGE = enum.auto()  #: charge current at most half its ceiling


class Side(enum.IntEnum):
    HIGH = 1  #: the rule trips when the quantity rises to the threshold
    LOW = -1  #: ... when it falls to it


@dataclass(frozen=True, slots=True)
class BmsView:
    """What the protections need of the battery BMS this cycle (fresh values only)."""

    alarms: Mapping[str, int] = field(default_factory=dict)
    charge_blocked: str | None = None  #: why the BMS forbids charging (R12)
    discharge_blocked: str | None = None  #: why it forbids discharging (R13)
    lost: bool = False  #: a BMS was there and is not fresh (past the grace time)
    dvl_above_sma_range: bool = False


@dataclass(frozen=True, slots=True)
class Context:
    """What the rules look at on one cycle."""

    r: Readings  #: the worst fresh reading of each quantity
    m: Measurements  #: the primary source's (regulation)
    cfg: AppConfig
    #: The monitor should be there by now (start-up grace of input_max_age_s has passed).
    monitor_expected: bool
    cells_seen: bool = False
    disagreement: bool = False
    frozen_sources: tuple[str, ...] = ()
    implausible_sources: tuple[str, ...] = ()
    bms: BmsView = field(default_factory=BmsView)
    #: The SI is off grid (AC2 not connected) and discharging more than 2 A.
    inverting_off_grid: bool = False
    #: Voltage alarms need every live source past the threshold (single_source_alarm off).
    voltage_alarm_needs_agreement: bool = False

    @property
    def stop_inverting_on_zero_dcl(self) -> bool:
        ctl = self.cfg.controller
        if ctl.stop_inverting_on_zero_dcl is not None:
            return ctl.stop_inverting_on_zero_dcl
        return ctl.charge_control != "own"


Measure = Callable[[Context], float | None]
Threshold = Callable[[AppConfig], float | None]


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    #: The SMA 0x35A condition raised; None: the rule acts on the limits only.
    condition: ConditionName | None
    side: Side
    measure: Measure
    warn_at: Threshold
    alarm_at: Threshold
    hysteresis: Callable[[AppConfig], float]
    effect: Effect = Effect.NONE
    description: str = ""
    #: How long the quantity must stay past the warning threshold before the warning.
    warn_delay: Callable[[AppConfig], float] = lambda cfg: 0.0
    #: The effect applies only while this holds for the measured value (default: always).
    effect_when: Callable[[float], bool] | None = None
    #: With single_source_alarm off, no SMA alarm while the live sources disagree (D4).
    voltage_alarm: bool = False


def flag(value: bool) -> float:
    return 1.0 if value else 0.0


FLAG_ON = 1.0  # flag rules: the quantity is 1.0 while the condition holds, 0.0 otherwise


def _flag_rule(
    name: str, condition: ConditionName | None, holds: Callable[[Context], bool],
    effect: Effect, description: str, *, alarm: Threshold = lambda cfg: None,
) -> Rule:  # fmt: skip
    return Rule(
        name, condition, Side.HIGH, lambda c: flag(holds(c)), lambda cfg: FLAG_ON, alarm,
        lambda cfg: 0.5, effect, description,
    )  # fmt: skip


MEASURED_RULES: tuple[Rule, ...] = (
    Rule(
        "pack_high_voltage", "high_voltage", Side.HIGH,
        lambda c: c.r.high_voltage_v,
        lambda cfg: cfg.battery.max_charge_voltage_v,
        lambda cfg: cfg.battery.max_charge_voltage_v + cfg.controller.high_voltage_alarm_margin_v,
        lambda cfg: cfg.controller.voltage_hysteresis_v,
        Effect.BLOCK_CHARGE,
        "highest pack voltage of any live source at battery.max_charge_voltage_v",
        voltage_alarm=True,
    ),
    Rule(
        "cell_high_voltage", "high_voltage", Side.HIGH,
        lambda c: c.r.max_cell_v,
        lambda cfg: cfg.controller.cell_high_voltage_v,
        lambda cfg: cfg.controller.cell_high_voltage_alarm_v,
        lambda cfg: cfg.controller.cell_hysteresis_v,
        Effect.BLOCK_CHARGE,
        "highest cell of any source at cell_high_voltage_v",
    ),
    Rule(
        "pack_low_voltage", "low_voltage", Side.LOW,
        lambda c: c.r.low_voltage_v,
        lambda cfg: cfg.controller.low_voltage_v,
        lambda cfg: None,  # the SI stops at DVL itself; an alarm would also stop recharging
        lambda cfg: cfg.controller.voltage_hysteresis_v,
        Effect.LIMIT_DISCHARGE,
        "lowest pack voltage of any live source at low_voltage_v",
    ),
    Rule(
        "cell_low_voltage", "low_voltage", Side.LOW,
        lambda c: c.r.min_cell_v,
        lambda cfg: cfg.controller.cell_low_voltage_v,
        lambda cfg: cfg.controller.cell_low_voltage_alarm_v,
        lambda cfg: cfg.controller.cell_hysteresis_v,
        Effect.LIMIT_DISCHARGE,
        "lowest cell of any source at cell_low_voltage_v",
    ),
    Rule(
        "cell_imbalance", "cell_imbalance", Side.HIGH,
        lambda c: c.r.cell_spread_v,
        lambda cfg: cfg.controller.cell_imbalance_warning_v,
        lambda cfg: None,
        lambda cfg: cfg.controller.cell_hysteresis_v / 2,
        Effect.NONE,
        "highest minus lowest cell at cell_imbalance_warning_v",
    ),
    Rule(
        "charge_low_temperature", "low_temperature_charge", Side.LOW,
        lambda c: c.r.low_temperature_c,
        lambda cfg: cfg.controller.charge_min_temperature_c,
        lambda cfg: None,
        lambda cfg: cfg.controller.temperature_hysteresis_c,
        Effect.BLOCK_CHARGE,
        "coldest sensor below charge_min_temperature_c: no charging",
    ),
    Rule(
        "charge_high_temperature", "high_temperature_charge", Side.HIGH,
        lambda c: c.r.high_temperature_c,
        lambda cfg: cfg.controller.charge_derate_temperature_c,
        lambda cfg: None,
        lambda cfg: cfg.controller.temperature_hysteresis_c,
        Effect.NONE,  # the derating itself is continuous (see charge_temperature_factor)
        "hottest sensor above charge_derate_temperature_c: charge current derated",
    ),
    Rule(
        "low_temperature", "low_temperature", Side.LOW,
        lambda c: c.r.low_temperature_c,
        lambda cfg: cfg.controller.min_temperature_c + TEMPERATURE_WARNING_MARGIN_C,
        lambda cfg: cfg.controller.min_temperature_c,
        lambda cfg: cfg.controller.temperature_hysteresis_c,
        Effect.NONE,
        "coldest sensor near / below min_temperature_c",
    ),
    Rule(
        "high_temperature", "high_temperature", Side.HIGH,
        lambda c: c.r.high_temperature_c,
        lambda cfg: cfg.controller.max_temperature_c - TEMPERATURE_WARNING_MARGIN_C,
        lambda cfg: cfg.controller.max_temperature_c,
        lambda cfg: cfg.controller.temperature_hysteresis_c,
        Effect.NONE,
        "hottest sensor near / above max_temperature_c",
    ),
    Rule(
        "high_charge_current", "high_charge_current", Side.HIGH,
        lambda c: c.r.charge_current_a,
        lambda cfg: cfg.battery.max_charge_current_a * OVER_CURRENT_FACTOR,
        lambda cfg: None,
        lambda cfg: cfg.battery.max_charge_current_a * 0.05,
        Effect.NONE,
        "charge current 10 % above battery.max_charge_current_a (other chargers?)",
    ),
    Rule(
        "high_discharge_current", "high_current", Side.HIGH,
        lambda c: c.r.discharge_current_a,
        lambda cfg: cfg.battery.max_discharge_current_a * OVER_CURRENT_FACTOR,
        lambda cfg: None,
        lambda cfg: cfg.battery.max_discharge_current_a * 0.05,
        Effect.NONE,
        "discharge current 10 % above battery.max_discharge_current_a",
    ),
)  # fmt: skip

INPUT_RULES: tuple[Rule, ...] = (
    _flag_rule(
        "battery_monitor_stale", "general",
        lambda c: c.monitor_expected and c.m.monitor_stale,
        Effect.DEGRADED,  # never stop the SI for a missing monitor: degrade instead
        "no fresh battery-monitor data: another source regulates, conservatively",
    ),
    _flag_rule(
        "no_measurements", "general",
        lambda c: c.monitor_expected and c.m.source == "none",
        Effect.BLOCK_CHARGE,
        "neither the monitor, the BMS nor the SI gives a voltage: no charging",
    ),
    _flag_rule(
        "temperature_unknown", "general",
        lambda c: c.monitor_expected and c.r.low_temperature_c is None,
        Effect.BLOCK_CHARGE,  # it may be below charge_min_temperature_c: no charging
        "no battery temperature from any source: no charging",
    ),
    _flag_rule(
        "cells_unknown", "general",
        lambda c: c.cells_seen and c.r.max_cell_v is None,
        Effect.DEGRADED,  # the cell protections cannot act: float voltage, reduced current
        "cell voltages were published and are gone: charging conservatively",
    ),
    _flag_rule(
        "sensor_disagreement", "general",
        lambda c: c.disagreement,
        Effect.BLOCK_CHARGE | Effect.LIMIT_DISCHARGE,
        "two live sources disagree about the pack voltage by voltage_mismatch_v or more "
        "(latched until they agree for mismatch_clear_s)",
    ),
    _flag_rule(
        "implausible_reading", "general",
        lambda c: bool(c.implausible_sources),
        Effect.NONE,  # the value is missing: the protections it fed keep their levels
        "a source publishes a value no battery can show (a sensor fault): it is not used",
    ),
    _flag_rule(
        "source_frozen", "general",
        lambda c: bool(c.frozen_sources),
        Effect.NONE,  # the frozen source is left out as if stale (its own rules degrade)
        "a source's voltage has not changed for frozen_after_s while the SI's moved",
    ),
)  # fmt: skip
