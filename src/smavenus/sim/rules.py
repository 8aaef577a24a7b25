"""The Sunny Island's rules as tables: why it stops, how it restarts, its defaults and ranges.

Sources: SMA-TI "Connecting Batteries with external BMS to SUNNY ISLAND" §2, §4, §5, §7 (the
QCG defaults, the value ranges of 0x351/0x355, alarms → fault state, quick stop) and the
installation manuals' battery protection, as summarised in the reference notes.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from smavenus.protocol.specs import scaled_field


class StopCause(enum.Enum):
    BUTTON = "button"  #: stopped with its own button, or waiting for a start at power-on
    QUICK_STOP = "quick_stop"  #: 0x00F
    REMOTE_OFF = "remote_off"  #: 0x35C off
    BMS_TIMEOUT = "bms_timeout"  #: F952
    BMS_ALARM = "bms_alarm"  #: F920-F935 from 0x35A
    DISCHARGE_VOLTAGE = "discharge_voltage"  #: battery below DVL
    BATTERY_PROTECTION_1 = "battery_protection_1"
    BATTERY_PROTECTION_2 = "battery_protection_2"
    BATTERY_PROTECTION_3 = "battery_protection_3"


class Restart(enum.Enum):
    AUTO = "auto"  #: when the condition clears (if Autostart is on)
    START_COMMAND = "start_command"  #: the start button, or 0x35C on
    BUTTON = "button"  #: only the SI's own start button


@dataclass(frozen=True)
class CauseRule:
    restart: Restart
    failure: bool
    switch_off: bool = False  #: the SI switches off completely: no CAN, BMS values lost


CAUSE_RULES: Mapping[StopCause, CauseRule] = MappingProxyType(
    {
        StopCause.BUTTON: CauseRule(Restart.START_COMMAND, failure=False),
        StopCause.QUICK_STOP: CauseRule(Restart.START_COMMAND, failure=False),
        StopCause.REMOTE_OFF: CauseRule(Restart.START_COMMAND, failure=False),
        StopCause.BMS_TIMEOUT: CauseRule(Restart.AUTO, failure=True),
        StopCause.BMS_ALARM: CauseRule(Restart.AUTO, failure=True),
        StopCause.DISCHARGE_VOLTAGE: CauseRule(Restart.AUTO, failure=False),
        StopCause.BATTERY_PROTECTION_1: CauseRule(Restart.AUTO, failure=False),
        StopCause.BATTERY_PROTECTION_2: CauseRule(Restart.AUTO, failure=False),
        StopCause.BATTERY_PROTECTION_3: CauseRule(Restart.BUTTON, failure=False, switch_off=True),
    }
)

PROTECTION_CAUSES = (
    StopCause.BATTERY_PROTECTION_1,
    StopCause.BATTERY_PROTECTION_2,
    StopCause.BATTERY_PROTECTION_3,
)

#: The SI's values before the BMS is heard and after a timeout (SMA-TI QCG table): CVL 54 V,
#: CCL 0 A, DCL 0 A, DVL 42 V (226.02; the CAN table says 41 V), SoC 0 %, SoH 100 %.
BMS_DEFAULTS: Mapping[str, float | None] = MappingProxyType(
    {
        "charge_voltage_v": 54.0,
        "charge_current_a": 0.0,
        "discharge_current_a": 0.0,
        "discharge_voltage_v": 42.0,
        "soc_pct": 0.0,
        "soh_pct": 100.0,
        "soc_hires_pct": None,
        "temperature_c": None,
    }
)
LIMIT_KEYS = ("charge_voltage_v", "charge_current_a", "discharge_current_a", "discharge_voltage_v")
SOC_KEYS = ("soc_pct", "soh_pct", "soc_hires_pct")

#: Charging at or above this counts as "charging" for battery protection (SMA: 3 A, 5 min).
PROTECTION_CHARGE_A = 3.0


#: The accepted range of each value the SI checks, from the frame table (SMA-TI ranges).
VALUE_RANGES: Mapping[str, tuple[float | None, float | None]] = MappingProxyType(
    {
        **{key: scaled_field(0x351, key).range for key in LIMIT_KEYS},
        **{key: scaled_field(0x355, key).range for key in SOC_KEYS},
    }
)
