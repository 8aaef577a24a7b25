"""The sections of the configuration file other than ``[controller]``, one model each.

Bounds on single fields live on the fields (so the settings exported to Venus localsettings
can reuse them as min/max); rules that tie several fields together live in
:func:`smavenus.config.app.cross_field_problems`. Defaults describe a 16-cell LiFePO4 48 V
bank of 280 Ah.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from smavenus.protocol import CVL_RANGE_V, DVL_RANGE_V

#: SMA-TI §5.1: the SI must not be sent values faster than every 200 ms.
SMA_INHIBIT_TIME_S = 0.2
#: SMA-TI §5.1: the SI faults (F952) after 60 s without BMS frames.
SMA_BMS_TIMEOUT_S = 60.0

Volts = Annotated[float, Field(allow_inf_nan=False)]


def _sma_range(volts: tuple[float, float]) -> str:
    return f"SMA range {volts[0]:g}-{volts[1]:g} V"


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
    manage_interface: bool = Field(
        False,
        description="socketcan: bring the interface up before opening it, setting a real "
        "controller's bitrate first (needs root)",
    )
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
        56.8,
        ge=CVL_RANGE_V[0],
        le=CVL_RANGE_V[1],
        description=f"hard ceiling for CVL ({_sma_range(CVL_RANGE_V)})",
    )
    min_discharge_voltage_v: Volts = Field(
        44.8,
        ge=DVL_RANGE_V[0],
        le=DVL_RANGE_V[1],
        description=f"hard floor for DVL ({_sma_range(DVL_RANGE_V)})",
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
    cable_resistance_ohm: float = Field(
        0.0,
        ge=0.0,
        le=0.1,
        allow_inf_nan=False,
        description="resistance between the SI's terminals and the battery, both ways: the SI's "
        "voltage is corrected by it for the protections (0: uncorrected, the cautious side)",
    )
    # -- the protection envelope: live settings (GUI, MQTT) may move a threshold only inside
    # these, never beyond; see smavenus.config.envelope. None: the chemistry's own bound.
    cell_max_v: float | None = Field(
        None,
        ge=2.0,
        le=4.5,
        allow_inf_nan=False,
        description="no cell threshold above this (default LiFePO4 3.80 V, NMC 4.25 V)",
    )
    cell_min_v: float | None = Field(
        None,
        ge=1.5,
        le=3.5,
        allow_inf_nan=False,
        description="no cell threshold below this (default LiFePO4 2.50 V, NMC 2.75 V)",
    )
    temperature_max_c: float = Field(
        60.0, ge=-40.0, le=100.0, allow_inf_nan=False, description="no temperature limit above"
    )
    temperature_min_c: float = Field(
        -20.0, ge=-40.0, le=100.0, allow_inf_nan=False, description="no temperature limit below"
    )
    charge_temperature_max_c: float = Field(
        55.0, ge=-40.0, le=100.0, allow_inf_nan=False, description="no charging limit above"
    )
    charge_temperature_min_c: float = Field(
        0.0, ge=-40.0, le=100.0, allow_inf_nan=False, description="no charging limit below"
    )
    alarm_delay_max_s: float = Field(
        30.0, ge=0.0, le=300.0, description="controller.alarm_delay_s may not exceed this"
    )
    voltage_mismatch_max_v: float = Field(
        2.0, gt=0.0, le=10.0, description="controller.voltage_mismatch_v may not exceed this"
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
        description="the BMS frame stream (or the bus's recovery) this late: safe frames, exit 3",
    )
    reopen_backoff_max_s: float = Field(
        10.0, gt=0, le=60, description="longest wait between bus re-opens"
    )
    reopen_backoff_initial_s: float = Field(
        0.1, gt=0, le=60, description="first wait before re-opening a dead bus; doubles per failure"
    )
    bus_off_reopen_after_s: float = Field(
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
    stale_soc_hold_s: float = Field(
        300.0,
        gt=0,
        le=86400,
        description="stale this long: warning BMS internal (W947) raised; the SoC keeps moving, "
        "integrated from the SI's own battery current",
    )
    stale_discharge_limit_s: float = Field(
        900.0,
        gt=0,
        le=86400,
        description="stale this long: DVL rises to controller.low_voltage_v and DCL falls to "
        "controller.low_voltage_discharge_current_a",
    )
    send_stall_reopen_after_s: float = Field(
        3.0,
        gt=0,
        lt=SMA_BMS_TIMEOUT_S / 2,
        description="no whole BMS frame set handed to the adapter for this long (e.g. an slcan "
        "adapter answering 'buffer full' forever): the bus is re-opened",
    )
    si_silent_reopen_after_s: float = Field(
        30.0,
        ge=0,
        le=3600,
        description="no SI status frame for this long while the link claims to be fine: the bus "
        "is re-opened (then twice as long, up to 16 times; 0 = never)",
    )
    persist_interval_s: float = Field(
        10.0,
        ge=1.0,
        le=3600,
        description="the command is saved when it changes materially, else at most this often",
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
    phases: int = Field(
        1,
        ge=1,
        le=3,
        description="/Ac/NumberOfPhases until the SI has been seen (then the lines it shows)",
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
