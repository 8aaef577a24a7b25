"""The whole configuration file: one TOML document, validated once at start-up.

Every process reads and validates the **whole** file (one schema, one truth) and then hands
each component only its own section. Unknown keys are errors, so a typo never silently falls
back to a default. Keys renamed since an earlier version are still read, moved to their new
name with a notice (:mod:`smavenus.config.legacy`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, model_validator

from smavenus.config.controller import ControllerConfig, controller_cross_field_problems
from smavenus.config.envelope import battery_problems, envelope_problems
from smavenus.config.legacy import migrate_legacy_keys
from smavenus.config.sections import (
    BatteryConfig,
    CanConfig,
    GatewayConfig,
    LoggingConfig,
    PathsConfig,
    VebusConfig,
    _Section,
)
from smavenus.config.toml import read_toml
from smavenus.config.web import WebConfig
from smavenus.errors import ConfigError


class AppConfig(_Section):
    """The whole file."""

    can: CanConfig = Field(default_factory=CanConfig)
    battery: BatteryConfig = Field(default_factory=BatteryConfig)
    controller: ControllerConfig = Field(default_factory=ControllerConfig)
    gateway: GatewayConfig = Field(default_factory=GatewayConfig)
    vebus: VebusConfig = Field(default_factory=VebusConfig)
    web: WebConfig = Field(default_factory=WebConfig)
    logging: LoggingConfig = Field(default_factory=LoggingConfig)
    paths: PathsConfig = Field(default_factory=PathsConfig)

    @model_validator(mode="after")
    def _check_cross_field_rules(self) -> AppConfig:
        problems = cross_field_problems(self)
        if problems:
            raise ValueError(_CROSS_FIELD_SEPARATOR.join(problems))
        return self


_CROSS_FIELD_SEPARATOR = "\n"


def cross_field_problems(cfg: AppConfig) -> list[str]:
    """Rules that involve more than one field, as ``section.key: reason`` lines."""
    problems: list[str] = []
    bat, ctl, gw = cfg.battery, cfg.controller, cfg.gateway

    def need(ok: bool, line: str) -> None:
        if not ok:
            problems.append(line)

    need(
        ctl.float_voltage_v < ctl.absorption_voltage_v,
        f"controller.float_voltage_v: {ctl.float_voltage_v} V must be below "
        f"controller.absorption_voltage_v ({ctl.absorption_voltage_v} V)",
    )
    need(
        ctl.absorption_voltage_v <= bat.max_charge_voltage_v,
        f"controller.absorption_voltage_v: {ctl.absorption_voltage_v} V must not exceed "
        f"battery.max_charge_voltage_v ({bat.max_charge_voltage_v} V)",
    )
    need(
        ctl.rebulk_voltage_v < ctl.float_voltage_v,
        f"controller.rebulk_voltage_v: {ctl.rebulk_voltage_v} V must be below "
        f"controller.float_voltage_v ({ctl.float_voltage_v} V)",
    )
    need(
        bat.min_discharge_voltage_v < ctl.rebulk_voltage_v,
        f"battery.min_discharge_voltage_v: {bat.min_discharge_voltage_v} V must be below "
        f"controller.rebulk_voltage_v ({ctl.rebulk_voltage_v} V)",
    )
    need(
        ctl.bulk_current_a <= bat.max_charge_current_a,
        f"controller.bulk_current_a: {ctl.bulk_current_a} A must not exceed "
        f"battery.max_charge_current_a ({bat.max_charge_current_a} A)",
    )
    need(
        ctl.tail_current_a < ctl.bulk_current_a or ctl.bulk_current_a == 0,
        f"controller.tail_current_a: {ctl.tail_current_a} A must be below "
        f"controller.bulk_current_a ({ctl.bulk_current_a} A)",
    )
    need(
        gw.safe_discharge_current_a <= bat.max_discharge_current_a,
        f"gateway.safe_discharge_current_a: {gw.safe_discharge_current_a} A must not exceed "
        f"battery.max_discharge_current_a ({bat.max_discharge_current_a} A)",
    )
    need(
        gw.command_max_age_s >= 2 * ctl.period_s,
        f"gateway.command_max_age_s: {gw.command_max_age_s} s must be at least twice "
        f"controller.period_s ({ctl.period_s} s), or every late command would count as stale",
    )
    problems.extend(controller_cross_field_problems(bat, ctl))
    problems.extend(battery_problems(bat))
    problems.extend(envelope_problems(bat, ctl))
    need(
        gw.stale_soc_hold_s <= gw.stale_discharge_limit_s,
        f"gateway.stale_soc_hold_s: {gw.stale_soc_hold_s} s must not exceed "
        f"gateway.stale_discharge_limit_s ({gw.stale_discharge_limit_s} s)",
    )
    need(
        gw.si_silent_reopen_after_s == 0 or gw.si_silent_reopen_after_s > gw.si_absent_after_s,
        f"gateway.si_silent_reopen_after_s: {gw.si_silent_reopen_after_s} s must be 0 (never) "
        f"or above gateway.si_absent_after_s ({gw.si_absent_after_s} s)",
    )
    need(
        gw.reopen_backoff_initial_s <= gw.reopen_backoff_max_s,
        f"gateway.reopen_backoff_initial_s: {gw.reopen_backoff_initial_s} s must not exceed "
        f"gateway.reopen_backoff_max_s ({gw.reopen_backoff_max_s} s)",
    )
    return problems


UNKNOWN_KEY = "unknown key (check the spelling against the example config)"


def format_validation_error(exc: ValidationError, unknown_key: str = UNKNOWN_KEY) -> list[str]:
    """One ``section.key: reason`` line per problem (a cross-field check may give several)."""
    lines: list[str] = []
    for error in exc.errors(include_url=False):
        loc = ".".join(str(part) for part in error["loc"])
        message = str(error["msg"]).removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = unknown_key
        lines.extend(f"{loc}: {m}" if loc else m for m in message.split(_CROSS_FIELD_SEPARATOR))
    return lines


def parse_config(data: dict[str, Any], notices: list[str] | None = None) -> AppConfig:
    """Validate an already-parsed document. Raises :class:`ConfigError`.

    Keys renamed since an earlier version are moved to their new names first; what was
    moved is appended to ``notices`` (for the caller to log).
    """
    migrated, moved, conflicts = migrate_legacy_keys(data)
    if conflicts:
        raise ConfigError(conflicts)
    try:
        cfg = AppConfig.model_validate(migrated)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc)) from None
    if notices is not None:
        notices.extend(moved)
    return cfg


def load_config(path: Path | str | None, notices: list[str] | None = None) -> AppConfig:
    """Read and validate a TOML file; ``None`` gives the defaults. Raises :class:`ConfigError`."""
    if path is None:
        return AppConfig()
    return parse_config(read_toml(Path(path)), notices)
