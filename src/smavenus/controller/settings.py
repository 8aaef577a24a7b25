"""The controller's settings in Venus localsettings, and how a change is judged.

Every ``[controller]`` key a user may want to tune while the system runs is also a setting under
``/Settings/SmaVenus/Controller/<Name>`` (:data:`SETTINGS`). Nothing here is a second copy of the
rules: the default is the TOML value, min/max come from the field's bounds in
:class:`smavenus.config.ControllerConfig` (tightened by the ``[battery]`` hard limit where one
applies, e.g. the absorption voltage's max is ``battery.max_charge_voltage_v``), and a change
is accepted only if the whole configuration with it still validates — the same pydantic
field rules and :func:`smavenus.config.cross_field_problems` that check the TOML file.

Types on the bus (localsettings knows integers, doubles and strings): floats are doubles,
integers integers, booleans 0/1, the grid-assist mode an integer index into its choices
(Venus style), times of day "HH:MM" strings.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, get_args

import annotated_types
from pydantic import ValidationError

from smavenus.config import (
    AppConfig,
    ControllerConfig,
    cross_field_problems,
    format_validation_error,
)
from smavenus.config.envelope import cell_bounds

SETTINGS_PREFIX = "/Settings/SmaVenus/Controller/"
#: Settings that choose among words: stored as an index into their choices (Venus style).
CHOICES: dict[str, tuple[str, ...]] = {
    key: get_args(ControllerConfig.model_fields[key].annotation)
    for key in ("grid_assist_mode", "charge_control")
}
GRID_MODES = CHOICES["grid_assist_mode"]

SettingValue = int | float | str


@dataclass(frozen=True, slots=True)
class SettingDef:
    key: str  #: the ControllerConfig field
    name: str  #: the localsettings leaf
    #: A tighter maximum derived from the rest of the configuration (a hard limit, the
    #: [battery] envelope), and a tighter minimum.
    ceiling: Callable[[AppConfig], float] | None = None
    floor: Callable[[AppConfig], float] | None = None

    @property
    def path(self) -> str:
        return SETTINGS_PREFIX + self.name


def _max_charge_v(cfg: AppConfig) -> float:
    return cfg.battery.max_charge_voltage_v


def _max_charge_a(cfg: AppConfig) -> float:
    return cfg.battery.max_charge_current_a


def _max_discharge_a(cfg: AppConfig) -> float:
    return cfg.battery.max_discharge_current_a


def _cell_max_v(cfg: AppConfig) -> float:
    return cell_bounds(cfg.battery)[1]


def _cell_min_v(cfg: AppConfig) -> float:
    return cell_bounds(cfg.battery)[0]


SETTINGS: tuple[SettingDef, ...] = (
    SettingDef("absorption_voltage_v", "AbsorptionVoltage", _max_charge_v),
    SettingDef("float_voltage_v", "FloatVoltage", _max_charge_v),
    SettingDef("rebulk_voltage_v", "RebulkVoltage", _max_charge_v),
    SettingDef("bulk_current_a", "BulkCurrent", _max_charge_a),
    SettingDef("tail_current_a", "TailCurrent", _max_charge_a),
    SettingDef("absorption_max_s", "AbsorptionMaxTime"),
    SettingDef("tail_current_hold_s", "TailCurrentHoldTime"),
    SettingDef("rebulk_delay_s", "RebulkDelay"),
    SettingDef("full_charge_interval_days", "FullChargeIntervalDays"),
    SettingDef("soc_reset_at_full", "SocResetAtFull"),
    SettingDef("kp_a_per_v_per_ah", "KpPerAh"),
    SettingDef("ki_a_per_v_s_per_ah", "KiPerAh"),
    SettingDef("limit_ramp_up_s", "LimitRampUpTime"),
    SettingDef("degraded_charge_current_a", "DegradedChargeCurrent", _max_charge_a),
    SettingDef("cell_regulate_voltage_v", "CellRegulateVoltage", _cell_max_v),
    SettingDef("cell_high_voltage_v", "CellHighVoltage", _cell_max_v),
    SettingDef("cell_high_voltage_alarm_v", "CellHighVoltageAlarm", _cell_max_v),
    SettingDef("cell_low_voltage_v", "CellLowVoltage", floor=_cell_min_v),
    SettingDef("cell_low_voltage_alarm_v", "CellLowVoltageAlarm", floor=_cell_min_v),
    SettingDef("cell_imbalance_warning_v", "CellImbalanceWarning"),
    SettingDef("cell_hysteresis_v", "CellHysteresis"),
    SettingDef("high_voltage_alarm_margin_v", "HighVoltageAlarmMargin"),
    SettingDef("low_voltage_v", "LowVoltage"),
    SettingDef("low_voltage_discharge_current_a", "LowVoltageDischargeCurrent", _max_discharge_a),
    SettingDef("voltage_hysteresis_v", "VoltageHysteresis"),
    SettingDef("voltage_mismatch_v", "VoltageMismatch", lambda c: c.battery.voltage_mismatch_max_v),
    SettingDef("alarm_delay_s", "AlarmDelay", lambda c: c.battery.alarm_delay_max_s),
    SettingDef("charge_min_temperature_c", "ChargeMinTemperature",
               floor=lambda c: c.battery.charge_temperature_min_c),
    SettingDef("charge_derate_temperature_c", "ChargeDerateTemperature"),
    SettingDef("charge_max_temperature_c", "ChargeMaxTemperature",
               lambda c: c.battery.charge_temperature_max_c),
    SettingDef("min_temperature_c", "MinTemperature", floor=lambda c: c.battery.temperature_min_c),
    SettingDef("max_temperature_c", "MaxTemperature", lambda c: c.battery.temperature_max_c),
    SettingDef("temperature_hysteresis_c", "TemperatureHysteresis"),
    SettingDef("grid_assist_mode", "GridAssistMode"),
    SettingDef("grid_request_soc_pct", "GridRequestSoc"),
    SettingDef("grid_low_voltage_v", "GridLowVoltage"),
    SettingDef("grid_low_voltage_delay_s", "GridLowVoltageDelay"),
    SettingDef("grid_low_soc_pct", "GridLowSoc"),
    SettingDef("keep_charged_soc_pct", "KeepChargedSoc"),
    SettingDef("grid_soc_hysteresis_pct", "GridSocHysteresis"),
    SettingDef("grid_window1_start", "GridWindow1Start"),
    SettingDef("grid_window1_end", "GridWindow1End"),
    SettingDef("grid_window2_start", "GridWindow2Start"),
    SettingDef("grid_window2_end", "GridWindow2End"),
    SettingDef("charge_control", "ChargeControl"),
    SettingDef("bms_lost_grace_s", "BmsLostGraceTime"),
    SettingDef("bms_lost_timeout_s", "BmsLostTimeout"),
    SettingDef("bms_lost_cell_min_v", "BmsLostCellMin"),
    SettingDef("bms_lost_cell_max_v", "BmsLostCellMax"),
    SettingDef("block_discharge_on_bms_lost", "BlockDischargeOnBmsLost"),
    SettingDef("alarm_min_hold_s", "AlarmMinHoldTime"),
    SettingDef("mismatch_clear_s", "MismatchClearTime"),
    SettingDef("empty_hold_s", "EmptyHoldTime"),
)  # fmt: skip

BY_PATH = {s.path: s for s in SETTINGS}
BY_KEY = {s.key: s for s in SETTINGS}


def _field_kind(key: str) -> type:
    annotation = ControllerConfig.model_fields[key].annotation
    if key in CHOICES:
        return int
    if annotation in (bool, int, float, str):
        return annotation  # type: ignore[return-value]
    raise TypeError(f"controller.{key}: no localsettings type for {annotation!r}")


def to_setting(key: str, value: Any) -> SettingValue:
    """A config value as localsettings stores it."""
    kind = _field_kind(key)
    if key in CHOICES:
        return CHOICES[key].index(value)
    if kind is bool:
        return int(bool(value))
    if kind is float:
        return float(value)
    if kind is int:
        return int(value)
    return str(value)


def from_setting(key: str, raw: Any) -> Any:
    """A localsettings value as the config field takes it. Raises ValueError."""
    kind = _field_kind(key)
    if raw is None:
        raise ValueError("no value (invalid)")
    if key in CHOICES:
        choices = CHOICES[key]
        if isinstance(raw, str) and raw in choices:
            return raw
        if isinstance(raw, bool) or not isinstance(raw, int) or not 0 <= raw < len(choices):
            raise ValueError(f"must be 0..{len(choices) - 1} ({', '.join(choices)})")
        return choices[raw]
    if kind is bool:
        if raw not in (0, 1):
            raise ValueError("must be 0 or 1")
        return bool(raw)
    return raw


def bounds(key: str, cfg: AppConfig) -> tuple[SettingValue | None, SettingValue | None]:
    """(min, max) for localsettings, from the field's pydantic bounds and any hard limit."""
    kind = _field_kind(key)
    if key in CHOICES:
        return 0, len(CHOICES[key]) - 1
    if kind is bool:
        return 0, 1
    if kind is str:
        return None, None
    low: float | None = None
    high: float | None = None
    for meta in ControllerConfig.model_fields[key].metadata:
        bound = _numeric_bound(meta)
        if bound is None:
            continue
        side, number = bound
        if side == "low":
            low = number if low is None else max(low, number)
        else:
            high = number if high is None else min(high, number)
    ceiling, floor = BY_KEY[key].ceiling, BY_KEY[key].floor
    if ceiling is not None:
        limit = ceiling(cfg)
        high = limit if high is None else min(high, limit)
    if floor is not None:
        limit = floor(cfg)
        low = limit if low is None else max(low, limit)
    if kind is int:
        return (None if low is None else int(low)), (None if high is None else int(high))
    return low, high


def _numeric_bound(meta: object) -> tuple[str, float] | None:
    """("low" | "high", number) for a pydantic bound (exclusive bounds count as inclusive:
    localsettings knows only inclusive ones, and pydantic still refuses the bound itself)."""
    if isinstance(meta, annotated_types.Ge):
        return "low", float(meta.ge)  # type: ignore[arg-type]
    if isinstance(meta, annotated_types.Gt):
        return "low", float(meta.gt)  # type: ignore[arg-type]
    if isinstance(meta, annotated_types.Le):
        return "high", float(meta.le)  # type: ignore[arg-type]
    if isinstance(meta, annotated_types.Lt):
        return "high", float(meta.lt)  # type: ignore[arg-type]
    return None


def _validated(cfg: AppConfig, updates: Mapping[str, Any]) -> AppConfig | list[str]:
    data = {**cfg.controller.model_dump(), **updates}
    try:
        section = ControllerConfig.model_validate(data)
    except ValidationError as exc:
        return [f"controller.{line}" for line in format_validation_error(exc)]
    candidate = cfg.model_copy(update={"controller": section})
    problems = cross_field_problems(candidate)
    return problems or candidate


@dataclass(frozen=True, slots=True)
class Outcome:
    config: AppConfig
    accepted: dict[str, Any]  #: key → value now in force
    rejected: dict[str, str]  #: key → why (the old value stays)


def apply(cfg: AppConfig, changes: Mapping[str, Any]) -> Outcome:
    """Apply localsettings values (by ControllerConfig key). All together if they agree; otherwise
    one at a time in order, keeping each that leaves a valid configuration."""
    converted: dict[str, Any] = {}
    rejected: dict[str, str] = {}
    for key, raw in changes.items():
        try:
            converted[key] = from_setting(key, raw)
        except ValueError as exc:
            rejected[key] = str(exc)
    changed = {k: v for k, v in converted.items() if getattr(cfg.controller, k) != v}
    if not changed:
        return Outcome(cfg, {}, rejected)
    together = _validated(cfg, changed)
    if isinstance(together, AppConfig):
        return Outcome(together, {k: getattr(together.controller, k) for k in changed}, rejected)
    accepted: dict[str, Any] = {}
    for key, value in changed.items():
        result = _validated(cfg, {key: value})
        if isinstance(result, AppConfig):
            cfg = result
            accepted[key] = getattr(cfg.controller, key)
        else:
            rejected[key] = "; ".join(result)
    return Outcome(cfg, accepted, rejected)
