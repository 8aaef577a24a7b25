"""``[controller]``: the charge controller's section, and its own cross-field rules.

(Spelt ``[bms]`` before 0.2; the old name is still read, with a deprecation notice.)
"""

from __future__ import annotations

from itertools import pairwise
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from smavenus.config.sections import SMA_INHIBIT_TIME_S, BatteryConfig, Volts, _Section

#: A local time of day, "HH:MM" (24 h), in the system's time zone.
TimeOfDay = Annotated[str, Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")]
Celsius = Annotated[float, Field(ge=-40.0, le=100.0, allow_inf_nan=False)]
CellVolts = Annotated[float, Field(ge=1.0, le=5.0, allow_inf_nan=False)]
Amps = Annotated[float, Field(ge=0.0, le=1200.0, allow_inf_nan=False)]
Pct = Annotated[float, Field(ge=0.0, le=100.0, allow_inf_nan=False)]


class ControllerConfig(_Section):
    """``[controller]``: the charge controller (bms-controller). See ``docs/controller.md``.

    Most keys can also be changed live through Venus localsettings
    (``/Settings/SmaVenus/Controller/…``); the bounds below are the bounds offered there.
    """

    # -- charge stages ---------------------------------------------------------------------
    absorption_voltage_v: Volts = Field(56.0, ge=41.0, le=63.0)
    float_voltage_v: Volts = Field(54.0, ge=41.0, le=63.0)
    rebulk_voltage_v: Volts = Field(52.8, ge=41.0, le=63.0)
    bulk_current_a: float = Field(140.0, ge=0.0, le=1200.0, allow_inf_nan=False)
    tail_current_a: float = Field(14.0, ge=0.0, le=1200.0, allow_inf_nan=False)
    absorption_max_s: float = Field(7200.0, gt=0, le=7 * 86400)
    tail_current_hold_s: float = Field(
        60.0,
        ge=0.0,
        le=3600.0,
        description="the tail current must hold this long to end absorption",
    )
    rebulk_delay_s: float = Field(
        60.0, ge=0.0, le=3600.0, description="the voltage must stay below rebulk this long"
    )
    full_charge_interval_days: int = Field(
        0, ge=0, le=365, description="a full charge (bulk + absorption) at least this often; 0 off"
    )
    soc_reset_at_full: bool = Field(
        False,
        description="report 100 % when absorption ends on tail current, even if the monitor "
        "reads less (the difference fades as the monitor catches up)",
    )
    # -- regulation ------------------------------------------------------------------------
    kp_a_per_v_per_ah: float = Field(
        0.5, gt=0.0, le=10.0, description="proportional gain, A of charge current per V per Ah"
    )
    ki_a_per_v_s_per_ah: float = Field(
        0.05, ge=0.0, le=1.0, description="integral gain, A per V·s per Ah of capacity"
    )
    limit_ramp_up_s: float = Field(
        10.0,
        ge=0.0,
        le=600.0,
        description="a current limit rises from 0 to its hard maximum in "
        "no less than this (limits fall at once)",
    )
    degraded_charge_current_a: Amps = Field(
        20.0,
        description="charge current ceiling while charging conservatively (no fresh monitor, "
        "cells unknown, a lost BMS in its safe window)",
    )
    # -- cell protection (used when the monitor publishes /System/Min|MaxCellVoltage) ------
    cell_regulate_voltage_v: CellVolts = Field(
        3.55, description="the highest cell is held at or below this while charging"
    )
    cell_high_voltage_v: CellVolts = Field(3.65, description="warning; charge current 0")
    cell_high_voltage_alarm_v: CellVolts = Field(3.75, description="alarm (the SI stops)")
    cell_low_voltage_v: CellVolts = Field(2.90, description="warning; discharge current limited")
    cell_low_voltage_alarm_v: CellVolts = Field(2.50, description="alarm (the SI stops)")
    cell_imbalance_warning_v: float = Field(
        0.10, gt=0.0, le=2.0, description="max - min cell above this: cell-imbalance warning"
    )
    cell_hysteresis_v: float = Field(0.05, gt=0.0, le=0.5)
    # -- pack voltage protection ------------------------------------------------------------
    high_voltage_alarm_margin_v: float = Field(
        0.4,
        gt=0.0,
        le=5.0,
        description="alarm this far above battery.max_charge_voltage_v (warning at it)",
    )
    low_voltage_v: Volts = Field(
        48.0, ge=41.0, le=63.0, description="warning; discharge current limited below this"
    )
    low_voltage_discharge_current_a: Amps = Field(
        20.0, description="discharge current ceiling while a low-voltage warning is active"
    )
    voltage_hysteresis_v: float = Field(0.4, gt=0.0, le=5.0)
    voltage_mismatch_v: float = Field(
        1.0, gt=0.0, le=10.0, description="monitor and SI voltages differing more: warning"
    )
    alarm_delay_s: float = Field(
        10.0,
        ge=0.0,
        le=300.0,
        description="a condition past its alarm threshold this long raises the alarm "
        "(SMA: the SI needs up to 10 s to follow a lower charge current)",
    )
    alarm_min_hold_s: float = Field(
        30.0,
        ge=5.0,
        le=3600.0,
        description="an SMA alarm, once raised, is held at least this long (it puts the SI "
        "in standby: it must never flicker)",
    )
    mismatch_clear_s: float = Field(
        60.0,
        ge=0.0,
        le=3600.0,
        description="a latched sensor disagreement clears only after the sources agree this long",
    )
    frozen_after_s: float = Field(
        120.0,
        ge=10.0,
        le=3600.0,
        description="a source whose voltage has not changed this long while another moved "
        "is frozen: treated as stale",
    )
    single_source_alarm: bool = Field(
        True,
        description="one fresh source past an alarm threshold raises the SMA alarm even if "
        "another disagrees (false: warnings and blocked charging only)",
    )
    empty_hold_s: float = Field(
        10.0,
        ge=0.0,
        le=600.0,
        description="the battery must look truly empty this long before 0 % SoC is sent",
    )
    # -- temperature protection -------------------------------------------------------------
    charge_min_temperature_c: Celsius = Field(5.0, description="no charging below")
    charge_derate_temperature_c: Celsius = Field(45.0, description="charge current derated above")
    charge_max_temperature_c: Celsius = Field(55.0, description="no charging above")
    min_temperature_c: Celsius = Field(-20.0, description="alarm below (warning 5 °C before)")
    max_temperature_c: Celsius = Field(60.0, description="alarm above (warning 5 °C before)")
    temperature_hysteresis_c: float = Field(2.0, gt=0.0, le=20.0)
    # -- grid assist through the SI's SoC-based grid start ---------------------------------
    grid_assist_mode: Literal["off", "low_battery", "keep_charged", "time_window"] = Field(
        "off", description="see docs/controller.md; needs SI 232.41 GdSocEna = Enable"
    )
    grid_request_soc_pct: float = Field(
        30.0,
        ge=1.0,
        le=100.0,
        allow_inf_nan=False,
        description="SoC reported to make the SI connect the grid: below the SI's 233.01 "
        "GdSocTm1Str (and 233.03), above its 223.05-07 battery-protection SoCs",
    )
    grid_low_voltage_v: Volts = Field(49.6, ge=41.0, le=63.0)
    grid_low_voltage_delay_s: float = Field(60.0, ge=0.0, le=3600.0)
    grid_low_soc_pct: Pct = Field(20.0)
    keep_charged_soc_pct: Pct = Field(80.0)
    grid_soc_hysteresis_pct: float = Field(5.0, gt=0.0, le=50.0)
    grid_window1_start: TimeOfDay = "00:00"
    grid_window1_end: TimeOfDay = Field("00:00", description="equal start and end: no window")
    grid_window2_start: TimeOfDay = "00:00"
    grid_window2_end: TimeOfDay = "00:00"
    # -- the battery's own BMS and Venus's DVCC (docs/controller.md, "Sources") -------------
    charge_control: Literal["own", "follow_bms", "auto"] = Field(
        "own",
        description="own: our charge stages, the BMS's and DVCC's limits as ceilings; "
        "follow_bms: charge to the BMS's voltage; auto: follow_bms while a BMS is fresh",
    )
    bms_lost_grace_s: float = Field(
        10.0, ge=0.0, le=600.0, description="a BMS silent this long is lost (warning)"
    )
    bms_lost_timeout_s: float = Field(
        300.0,
        ge=0.0,
        le=3600.0,
        description="after losing the BMS, reduced charging stops after this (no charging)",
    )
    bms_lost_cell_min_v: CellVolts = Field(
        3.225, description="reduced charging without the BMS only while every cell was above"
    )
    bms_lost_cell_max_v: CellVolts = Field(
        3.375, description="... and below this (a safe window: far from both ends)"
    )
    block_discharge_on_bms_lost: bool = Field(
        False, description="discharge current 0 while the BMS is lost"
    )
    stop_inverting_on_zero_dcl: bool | None = Field(
        None,
        description="the BMS forbids discharging and the SI, off grid, still discharges: raise "
        "an SMA alarm so it stops (default: yes in follow_bms/auto, no in own)",
    )
    # -- plumbing (TOML only) ---------------------------------------------------------------
    period_s: float = Field(
        1.0, ge=SMA_INHIBIT_TIME_S, le=10.0, description="how often a command is sent"
    )
    input_max_age_s: float = Field(
        10.0, gt=0, le=300, description="a monitor, BMS or SI value older than this is stale"
    )
    battery_service: str | None = Field(
        None,
        description="a com.victronenergy.battery.* service to use; default: the one "
        "systemcalc selected (/ActiveBatteryService)",
    )
    bms_service: str | None = Field(
        None,
        pattern=r"^com\.victronenergy\.battery\.[A-Za-z0-9_.]+$",
        description="the battery BMS to follow (com.victronenergy.battery.*); default: the one "
        "systemcalc selected (/ActiveBmsService)",
    )
    bol_max_age_s: float = Field(
        10.0,
        ge=4.0,
        le=300.0,
        description="a DVCC limit written longer ago than this is stale (DVCC writes every 3 s)",
    )


def _chain(section: str, model: BaseModel, keys: tuple[str, ...], unit: str) -> list[str]:
    """``keys`` must be strictly increasing: one line per pair that is not."""
    lines = []
    for low, high in pairwise(keys):
        low_value, high_value = getattr(model, low), getattr(model, high)
        if not low_value < high_value:
            lines.append(
                f"{section}.{low}: {low_value} {unit} must be below {section}.{high} "
                f"({high_value} {unit})"
            )
    return lines


def controller_cross_field_problems(bat: BatteryConfig, ctl: ControllerConfig) -> list[str]:
    """The ``[controller]`` rules beyond the charge voltages (also for live setting changes)."""
    problems = _chain(
        "controller",
        ctl,
        (
            "cell_low_voltage_alarm_v",
            "cell_low_voltage_v",
            "cell_regulate_voltage_v",
            "cell_high_voltage_v",
            "cell_high_voltage_alarm_v",
        ),
        "V",
    )
    problems += _chain(
        "controller",
        ctl,
        (
            "min_temperature_c",
            "charge_min_temperature_c",
            "charge_derate_temperature_c",
            "charge_max_temperature_c",
            "max_temperature_c",
        ),
        "°C",
    )
    problems += _chain("controller", ctl, ("low_voltage_v", "rebulk_voltage_v"), "V")
    problems += _chain("controller", ctl, ("bms_lost_cell_min_v", "bms_lost_cell_max_v"), "V")
    if not bat.min_discharge_voltage_v < ctl.low_voltage_v:
        problems.append(
            f"controller.low_voltage_v: {ctl.low_voltage_v} V must be above "
            f"battery.min_discharge_voltage_v ({bat.min_discharge_voltage_v} V)"
        )
    if not bat.min_discharge_voltage_v < ctl.grid_low_voltage_v:
        problems.append(
            f"controller.grid_low_voltage_v: {ctl.grid_low_voltage_v} V must be above "
            f"battery.min_discharge_voltage_v ({bat.min_discharge_voltage_v} V)"
        )
    if ctl.degraded_charge_current_a > ctl.bulk_current_a:
        problems.append(
            f"controller.degraded_charge_current_a: {ctl.degraded_charge_current_a} A must not "
            f"exceed controller.bulk_current_a ({ctl.bulk_current_a} A)"
        )
    if ctl.low_voltage_discharge_current_a > bat.max_discharge_current_a:
        problems.append(
            f"controller.low_voltage_discharge_current_a: {ctl.low_voltage_discharge_current_a} A "
            f"must not exceed battery.max_discharge_current_a ({bat.max_discharge_current_a} A)"
        )
    if ctl.keep_charged_soc_pct + ctl.grid_soc_hysteresis_pct > 100.0:
        problems.append(
            f"controller.keep_charged_soc_pct: {ctl.keep_charged_soc_pct} % plus "
            f"controller.grid_soc_hysteresis_pct ({ctl.grid_soc_hysteresis_pct} %) must not "
            "exceed 100 %"
        )
    return problems
