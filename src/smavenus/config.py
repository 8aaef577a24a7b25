"""The configuration file: one TOML document, validated once at start-up.

Every process reads and validates the **whole** file (one schema, one truth) and then hands
each component only its own section. Unknown keys are errors, so a typo never silently falls
back to a default. Bounds on single fields live on the fields (so the settings exported to
Venus localsettings can reuse them as min/max); rules that tie several fields together live
in :func:`cross_field_problems`.

Defaults describe a 16-cell LiFePO4 48 V bank of 280 Ah.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from itertools import pairwise
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from smavenus.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

#: SMA-TI §5.1: the SI must not be sent values faster than every 200 ms.
SMA_INHIBIT_TIME_S = 0.2
#: SMA-TI §5.1: the SI faults (F952) after 60 s without BMS frames.
SMA_BMS_TIMEOUT_S = 60.0

Volts = Annotated[float, Field(allow_inf_nan=False)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


class CanConfig(_Section):
    """``[can]``: the CAN interface towards the Sunny Island."""

    interface: Literal["socketcan", "slcan", "virtual"] = Field(
        "socketcan",
        description="socketcan (candleLight/gs_usb, recommended), slcan (CANable stock firmware) "
        "or virtual (tests)",
    )
    channel: str = Field(
        "can0", min_length=1, description="can0, /dev/ttyACM0, a pyserial URL, or a virtual channel"
    )
    bitrate: Literal[500000] = Field(
        500000, description="the Sunny Island's CAN runs at 500 kbit/s (SMA-TI §5.2)"
    )
    tty_baudrate: int = Field(115200, gt=0, description="serial speed of an slcan adapter")
    bms_period_s: float = Field(
        1.0,
        ge=SMA_INHIBIT_TIME_S,
        le=10.0,
        description="period of the BMS frame set; SMA forbids faster than 0.2 s",
    )


class BatteryConfig(_Section):
    """``[battery]``: what the bank is, and the hard limits nothing may exceed."""

    chemistry: Literal["lifepo4", "nmc"] = "lifepo4"
    cell_count: int = Field(16, ge=1, le=32)
    capacity_ah: float = Field(280.0, gt=0, le=65534, allow_inf_nan=False)
    max_charge_voltage_v: Volts = Field(
        56.8, ge=41.0, le=63.0, description="hard ceiling for CVL (SMA range 41-63 V)"
    )
    min_discharge_voltage_v: Volts = Field(
        44.8, ge=41.0, le=48.0, description="hard floor for DVL (SMA range 41-48 V)"
    )
    max_charge_current_a: float = Field(
        140.0, ge=0.0, le=1200.0, allow_inf_nan=False, description="hard ceiling for CCL"
    )
    max_discharge_current_a: float = Field(
        200.0, ge=0.0, le=1200.0, allow_inf_nan=False, description="hard ceiling for DCL"
    )
    manufacturer: str = Field(
        "SMAVENUS",
        min_length=1,
        max_length=8,
        pattern=r"^[\x20-\x7e]+$",
        description="name shown on the SI (0x35E), up to 8 ASCII characters",
    )
    battery_type: int = Field(0, ge=0, le=0xFFFE, description="0x35F Bat-Type code")
    bms_version: int = Field(0x0100, ge=0, le=0xFFFE, description="0x35F BMS version code")


#: A local time of day, "HH:MM" (24 h), in the system's time zone.
TimeOfDay = Annotated[str, Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")]
Celsius = Annotated[float, Field(ge=-40.0, le=100.0, allow_inf_nan=False)]
CellVolts = Annotated[float, Field(ge=1.0, le=5.0, allow_inf_nan=False)]
Amps = Annotated[float, Field(ge=0.0, le=1200.0, allow_inf_nan=False)]
Pct = Annotated[float, Field(ge=0.0, le=100.0, allow_inf_nan=False)]


class BmsConfig(_Section):
    """``[bms]``: the charge controller (bms-controller). See ``docs/controller.md``.

    Most keys can also be changed live through Venus localsettings
    (``/Settings/SmaVenus/Bms/…``); the bounds below are the bounds offered there.
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
        20.0, description="charge current ceiling while only the SI's own measurements are known"
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
    # -- plumbing (TOML only) ---------------------------------------------------------------
    period_s: float = Field(
        1.0, ge=SMA_INHIBIT_TIME_S, le=10.0, description="how often a command is sent"
    )
    input_max_age_s: float = Field(
        10.0, gt=0, le=300, description="a battery-monitor value older than this is stale"
    )
    battery_service: str | None = Field(
        None,
        description="a com.victronenergy.battery.* service to use; default: the one "
        "systemcalc selected (/ActiveBatteryService)",
    )


class GatewayConfig(_Section):
    """``[gateway]``: how the can-gateway keeps the SI fed when commands are late or missing."""

    command_max_age_s: float = Field(
        10.0, gt=0, lt=SMA_BMS_TIMEOUT_S, description="a command older than this is stale"
    )
    stale_charge_ramp_a_per_s: float = Field(
        10.0, gt=0, description="how fast the charge current falls to 0 A while commands are stale"
    )
    safe_discharge_current_a: float = Field(
        50.0,
        ge=0.0,
        le=1200.0,
        allow_inf_nan=False,
        description="DCL sent before any command and while commands are stale",
    )
    fallback_soc_pct: float = Field(
        50.0,
        ge=1.0,
        le=100.0,
        description="SoC sent at cold start when neither the SI's echo nor a persisted value exist",
    )
    si_absent_after_s: float = Field(
        5.0, gt=0, le=60, description="no SI status frame for this long = SI absent"
    )
    watchdog_stall_s: float = Field(
        5.0,
        gt=0,
        lt=SMA_BMS_TIMEOUT_S / 2,
        description="an event loop stalled this long is declared hung; the process exits",
    )
    rebuild_backoff_max_s: float = Field(
        10.0, gt=0, le=60, description="longest wait between bus re-opens"
    )
    rebuild_backoff_initial_s: float = Field(
        0.1, gt=0, le=60, description="first wait before re-opening a dead bus; doubles per failure"
    )
    bus_off_rebuild_after_s: float = Field(
        2.0,
        gt=0,
        le=30,
        description="a controller still bus-off after this long is re-opened (socketcan)",
    )
    snapshot_gap_s: float = Field(
        0.05,
        ge=0.005,
        le=0.5,
        description="an SI cycle missing a frame is published this long after its last frame "
        "(or twice the SI's own frame spacing, if wider)",
    )
    health_period_s: float = Field(
        1.0, ge=0.1, le=60, description="how often the Health signal is emitted"
    )
    enable_remote_on_off: bool = Field(
        False, description="allow the undocumented 0x35C on/off command"
    )
    enable_quick_stop: bool = Field(False, description="allow the 0x00F quick-stop command")


class VebusConfig(_Section):
    """``[vebus]``: how the SI appears to Venus OS as com.victronenergy.vebus.<suffix>."""

    service_suffix: str | None = Field(
        None, pattern=r"^[A-Za-z0-9_]+$", description="default: derived from the CAN channel"
    )
    device_instance: int = Field(276, ge=0, le=999, description="VRM instance to request")
    product_name: str = Field("SMA Sunny Island", min_length=1)
    snapshot_max_age_s: float = Field(5.0, gt=0, le=60)
    allow_mode_control: bool = Field(
        False, description="let /Mode On/Off drive the SI (needs 0x35C)"
    )
    generator_as_ac_in_2: bool = Field(
        False,
        description="AC2 serves grid and generator: show the generator (0x307 GnRn) as AC in 2",
    )
    grid_lost_alarm: bool = Field(
        True, description="raise /Alarms/GridLost when AC2 is lost (once the SI has had one)"
    )
    ac_in_current_limit_a: float | None = Field(
        None,
        ge=0.0,
        le=1000.0,
        allow_inf_nan=False,
        description="the AC2 current limit set on the SI, for display (the SI does not report it)",
    )
    state_save_interval_s: float = Field(
        8.0, ge=1.0, le=10.0, description="energy counters are saved this often (crash loss)"
    )


class LoggingConfig(_Section):
    """``[logging]``."""

    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["auto", "console", "plain", "json"] = Field(
        "auto", description="auto: console on a terminal, plain (one line, no time) otherwise"
    )


class PathsConfig(_Section):
    """``[paths]``: where state survives a restart (persisted command, energy counters)."""

    state_dir: Path = Path("/var/lib/smavenus")


class AppConfig(_Section):
    """The whole file."""

    can: CanConfig = Field(default_factory=CanConfig)
    battery: BatteryConfig = Field(default_factory=BatteryConfig)
    bms: BmsConfig = Field(default_factory=BmsConfig)
    gateway: GatewayConfig = Field(default_factory=GatewayConfig)
    vebus: VebusConfig = Field(default_factory=VebusConfig)
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
    bat, bms, gw = cfg.battery, cfg.bms, cfg.gateway

    def need(ok: bool, line: str) -> None:
        if not ok:
            problems.append(line)

    need(
        bms.float_voltage_v < bms.absorption_voltage_v,
        f"bms.float_voltage_v: {bms.float_voltage_v} V must be below "
        f"bms.absorption_voltage_v ({bms.absorption_voltage_v} V)",
    )
    need(
        bms.absorption_voltage_v <= bat.max_charge_voltage_v,
        f"bms.absorption_voltage_v: {bms.absorption_voltage_v} V must not exceed "
        f"battery.max_charge_voltage_v ({bat.max_charge_voltage_v} V)",
    )
    need(
        bms.rebulk_voltage_v < bms.float_voltage_v,
        f"bms.rebulk_voltage_v: {bms.rebulk_voltage_v} V must be below "
        f"bms.float_voltage_v ({bms.float_voltage_v} V)",
    )
    need(
        bat.min_discharge_voltage_v < bms.rebulk_voltage_v,
        f"battery.min_discharge_voltage_v: {bat.min_discharge_voltage_v} V must be below "
        f"bms.rebulk_voltage_v ({bms.rebulk_voltage_v} V)",
    )
    need(
        bms.bulk_current_a <= bat.max_charge_current_a,
        f"bms.bulk_current_a: {bms.bulk_current_a} A must not exceed "
        f"battery.max_charge_current_a ({bat.max_charge_current_a} A)",
    )
    need(
        bms.tail_current_a < bms.bulk_current_a or bms.bulk_current_a == 0,
        f"bms.tail_current_a: {bms.tail_current_a} A must be below bms.bulk_current_a "
        f"({bms.bulk_current_a} A)",
    )
    need(
        gw.safe_discharge_current_a <= bat.max_discharge_current_a,
        f"gateway.safe_discharge_current_a: {gw.safe_discharge_current_a} A must not exceed "
        f"battery.max_discharge_current_a ({bat.max_discharge_current_a} A)",
    )
    need(
        gw.command_max_age_s >= 2 * bms.period_s,
        f"gateway.command_max_age_s: {gw.command_max_age_s} s must be at least twice "
        f"bms.period_s ({bms.period_s} s), or every late command would count as stale",
    )
    problems.extend(bms_cross_field_problems(bat, bms))
    need(
        gw.rebuild_backoff_initial_s <= gw.rebuild_backoff_max_s,
        f"gateway.rebuild_backoff_initial_s: {gw.rebuild_backoff_initial_s} s must not exceed "
        f"gateway.rebuild_backoff_max_s ({gw.rebuild_backoff_max_s} s)",
    )
    return problems


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


def bms_cross_field_problems(bat: BatteryConfig, bms: BmsConfig) -> list[str]:
    """The ``[bms]`` rules beyond the charge voltages (also applied to live setting changes)."""
    problems = _chain(
        "bms",
        bms,
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
        "bms",
        bms,
        (
            "min_temperature_c",
            "charge_min_temperature_c",
            "charge_derate_temperature_c",
            "charge_max_temperature_c",
            "max_temperature_c",
        ),
        "°C",
    )
    problems += _chain("bms", bms, ("low_voltage_v", "rebulk_voltage_v"), "V")
    if not bat.min_discharge_voltage_v < bms.low_voltage_v:
        problems.append(
            f"bms.low_voltage_v: {bms.low_voltage_v} V must be above "
            f"battery.min_discharge_voltage_v ({bat.min_discharge_voltage_v} V)"
        )
    if not bat.min_discharge_voltage_v < bms.grid_low_voltage_v:
        problems.append(
            f"bms.grid_low_voltage_v: {bms.grid_low_voltage_v} V must be above "
            f"battery.min_discharge_voltage_v ({bat.min_discharge_voltage_v} V)"
        )
    if bms.degraded_charge_current_a > bms.bulk_current_a:
        problems.append(
            f"bms.degraded_charge_current_a: {bms.degraded_charge_current_a} A must not exceed "
            f"bms.bulk_current_a ({bms.bulk_current_a} A)"
        )
    if bms.low_voltage_discharge_current_a > bat.max_discharge_current_a:
        problems.append(
            f"bms.low_voltage_discharge_current_a: {bms.low_voltage_discharge_current_a} A must "
            f"not exceed battery.max_discharge_current_a ({bat.max_discharge_current_a} A)"
        )
    if bms.keep_charged_soc_pct + bms.grid_soc_hysteresis_pct > 100.0:
        problems.append(
            f"bms.keep_charged_soc_pct: {bms.keep_charged_soc_pct} % plus "
            f"bms.grid_soc_hysteresis_pct ({bms.grid_soc_hysteresis_pct} %) must not exceed 100 %"
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


def parse_config(data: dict[str, Any]) -> AppConfig:
    """Validate an already-parsed document. Raises :class:`ConfigError`."""
    try:
        return AppConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc)) from None


def read_toml(path: Path) -> dict[str, Any]:
    """A TOML document as a dict, or :class:`ConfigError` saying why it cannot be read."""
    try:
        with path.open("rb") as handle:
            data: dict[str, Any] = tomllib.load(handle)

    except OSError as exc:
        raise ConfigError([f"{path}: cannot read ({exc.strerror or exc})"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{path}: not valid TOML ({exc})"]) from None
    return data


def load_config(path: Path | str | None) -> AppConfig:
    """Read and validate a TOML file; ``None`` gives the defaults. Raises :class:`ConfigError`."""
    if path is None:
        return AppConfig()
    return parse_config(read_toml(Path(path)))


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


def toml_document(sections: Mapping[str, Mapping[str, Any]]) -> str:
    """``{section: {key: value}}`` as TOML; a ``None`` value is written as a comment."""
    out: list[str] = []
    for section_name, values in sections.items():
        out.append(f"[{section_name}]")
        for key, value in values.items():
            if value is None:
                out.append(f"# {key} = (not set)")
            else:
                out.append(f"{key} = {_toml_value(value)}")
        out.append("")
    return "\n".join(out)


def dump_config(cfg: AppConfig) -> str:
    """The effective configuration as TOML (``None`` values appear as comments)."""
    return toml_document(
        {
            name: {key: getattr(section, key) for key in type(section).model_fields}
            for name, section in ((n, getattr(cfg, n)) for n in type(cfg).model_fields)
        }
    )
