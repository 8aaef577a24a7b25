"""Every path of the ``com.victronenergy.vebus.<suffix>`` service, described once.

Registration (the exporter's objects), the mapping, the staleness rule, the tests and
``docs/vebus.md`` all derive from :func:`vebus_paths`. Each entry carries the D-Bus type
(integer enums stay integers), unit, whether Venus may write it, display resolution (values
are rounded to it, so noise below it never produces a change signal), and where the value
comes from.

Types, units and enums follow ``venus-dbus.md`` §2 (dbus_modbustcp ``attributes.csv``,
gui-v2, systemcalc). Paths we have no source for (``/Alarms/Ripple``, per-phase alarms,
``/Hub4/*``, ``/Devices/*`` …) are deliberately absent rather than published as a constant
"ok": a consumer reads an absent path as unknown, which is the truth.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from smavenus.vebus.enums import (
    ActiveInput,
    AlarmLevel,
    Led,
    Mode,
    VebusChargeState,
    VebusState,
    enum_text,
)
from smavenus.victron.items import ItemSpec, ItemType

INT, DBL, STR = ItemType.INT, ItemType.DOUBLE, ItemType.STRING

LINES: tuple[int, ...] = (1, 2, 3)


class Source(enum.Enum):
    """Where a path's value comes from; decides when it goes invalid."""

    FIXED = "fixed"  #: identity, configuration and /Connected: always valid
    SI = "si"  #: the SI's status frames; invalid when the snapshot or frame is too old
    CONTROLLER = "controller"  #: the bms-controller's status (and the SI); invalid when old
    #: BMS conditions raised by the controller (Status) or sent by the gateway (Health), and the
    #: gateway's command source; invalid when neither is fresh.
    BMS = "bms"
    LATCHED = "latched"  #: installation facts the SI has shown once; persisted
    WRITTEN = "written"  #: written by Venus (GUI, DVCC); kept as written
    ENERGY = "energy"  #: integrated counters; persisted, never go backwards

    @property
    def goes_stale(self) -> bool:
        return self in (Source.SI, Source.CONTROLLER, Source.BMS)


@dataclass(frozen=True)
class VebusPath:
    spec: ItemSpec
    source: Source

    @property
    def path(self) -> str:
        return self.spec.path


def _hex(value: Any) -> str:
    return f"0x{int(value):X}"


ENERGY_NAMES: tuple[str, ...] = (
    "AcIn1ToAcOut",
    "AcIn1ToInverter",
    "AcIn2ToAcOut",
    "AcIn2ToInverter",
    "AcOutToAcIn1",
    "AcOutToAcIn2",
    "InverterToAcIn1",
    "InverterToAcIn2",
    "InverterToAcOut",
    "OutToInverter",
)

#: ``/Alarms/<name>`` published, with the source of each.
ALARM_SOURCES: dict[str, tuple[Source, str]] = {
    "GridLost": (Source.SI, "0x307 ExtVfOk clear in two consecutive frames (latch); 0 or 2"),
    "Overload": (Source.SI, "0x307 function bits 2 OverLoad; 0 or 2"),
    "LowBattery": (Source.BMS, "BMS condition low_voltage (warning 1, alarm 2)"),
    "HighDcVoltage": (Source.BMS, "BMS condition high_voltage"),
    "HighDcCurrent": (Source.BMS, "BMS conditions high_current, high_charge_current"),
    "HighTemperature": (
        Source.BMS,
        "BMS conditions high_temperature, high_temperature_charge (the battery's)",
    ),
    "BmsPreAlarm": (Source.BMS, "any other BMS condition (cell imbalance, contactor …)"),
    "BmsConnectionLost": (
        Source.BMS,
        "2 while the controller has lost its BMS or the gateway's command source is stale "
        "(the controller is gone); cold_start 1; else 0",
    ),
}

#: ``/Leds/<name>``, derived from the published state and alarms.
LED_NAMES: tuple[str, ...] = (
    "Mains",
    "Bulk",
    "Absorption",
    "Float",
    "Inverter",
    "Overload",
    "LowBattery",
    "Temperature",
)

#: DVCC writes it only while it is valid (systemcalc ``multi.py``), so it always is.
DC_MAX_CHARGE_CURRENT = "/Dc/0/MaxChargeCurrent"
BOL_PATHS: tuple[tuple[str, str], ...] = (
    ("/BatteryOperationalLimits/MaxChargeVoltage", "V"),
    ("/BatteryOperationalLimits/MaxChargeCurrent", "A"),
    ("/BatteryOperationalLimits/MaxDischargeCurrent", "A"),
    ("/BatteryOperationalLimits/BatteryLowVoltage", "V"),
)


def _ac_line(prefix: str, n: int, what: Mapping[str, str]) -> Iterator[VebusPath]:
    base = f"{prefix}/L{n}"
    si = Source.SI
    yield VebusPath(ItemSpec(f"{base}/V", DBL, "V", decimals=1, description=what["V"]), si)
    yield VebusPath(ItemSpec(f"{base}/I", DBL, "A", decimals=1, description=what["I"]), si)
    yield VebusPath(ItemSpec(f"{base}/F", DBL, "Hz", decimals=2, description=what["F"]), si)
    yield VebusPath(ItemSpec(f"{base}/P", DBL, "W", decimals=0, description=what["P"]), si)
    yield VebusPath(ItemSpec(f"{base}/S", DBL, "VA", decimals=0, description=what["S"]), si)


_ACTIVE_IN: Mapping[str, str] = {
    "V": "0x309 AC2 voltage of the line",
    "I": "P / V (signed like P)",
    "F": "0x309 AC2 frequency (one for all lines)",
    "P": "0x300 AC2 active power, + = taken from grid/generator (100 W steps)",
    "S": "√(P² + Q²), Q from 0x302 (100 var steps)",
}
_AC_OUT: Mapping[str, str] = {
    "V": "0x304 AC1 voltage of the line",
    "I": "P / V",
    "F": "0x304 AC1 frequency (one for all lines)",
    "P": "0x300 + 0x301: external + inverter power of the line, + = consumption",
    "S": "√(P² + Q²), Q = 0x302 + 0x303",
}


def vebus_paths(*, mode_control: bool) -> tuple[VebusPath, ...]:
    """The table. ``mode_control``: whether ``/Mode`` is writable (config and gateway agree)."""
    fixed, si, latched, written = Source.FIXED, Source.SI, Source.LATCHED, Source.WRITTEN
    entries: list[VebusPath] = [
        VebusPath(ItemSpec("/Mgmt/ProcessName", STR, description="our executable"), fixed),
        VebusPath(ItemSpec("/Mgmt/ProcessVersion", STR, description="smavenus version"), fixed),
        VebusPath(ItemSpec("/Mgmt/Connection", STR, description="'SMA CAN <channel>'"), fixed),
        VebusPath(
            ItemSpec("/DeviceInstance", INT, description="localsettings ClassAndVrmInstance"),
            fixed,
        ),
        VebusPath(
            ItemSpec("/ProductId", INT, text=_hex, description="0: no Victron product id fits"),
            fixed,
        ),
        VebusPath(ItemSpec("/ProductName", STR, description="[vebus] product_name"), fixed),
        VebusPath(
            ItemSpec(
                "/FirmwareVersion", INT, text=_hex, description="0x476 (DVCC requires ≥ 0x422)"
            ),
            fixed,
        ),
        VebusPath(
            ItemSpec("/FirmwareFeatures/BolFrame", INT, description="1: DVCC's limits are taken"),
            fixed,
        ),
        VebusPath(
            ItemSpec("/HardwareVersion", STR, description="invalid: the SI does not report it"),
            fixed,
        ),
        VebusPath(
            ItemSpec(
                "/CustomName",
                STR,
                writable=True,
                description="written by the GUI; persisted in localsettings (or the state file)",
            ),
            written,
        ),
        VebusPath(
            ItemSpec(
                "/Connected", INT, description="1 while a fresh snapshot says the SI is there"
            ),
            fixed,
        ),
    ]
    for n in LINES:
        entries.extend(_ac_line("/Ac/ActiveIn", n, _ACTIVE_IN))
    entries += [
        VebusPath(ItemSpec("/Ac/ActiveIn/P", DBL, "W", decimals=0, description="Σ lines"), si),
        VebusPath(ItemSpec("/Ac/ActiveIn/S", DBL, "VA", decimals=0, description="Σ lines"), si),
        VebusPath(
            ItemSpec(
                "/Ac/ActiveIn/ActiveInput",
                INT,
                text=enum_text(ActiveInput),
                description="0 while AC2 is connected (0x307 GdOn/ExtSrcConn), 1 if that is "
                "the generator ([vebus] generator_as_ac_in_2 and GnRn), else 240",
            ),
            si,
        ),
        VebusPath(
            ItemSpec("/Ac/ActiveIn/Connected", INT, description="0x307 GdOn or ExtSrcConn"), si
        ),
        VebusPath(
            ItemSpec(
                "/Ac/ActiveIn/CurrentLimit",
                DBL,
                "A",
                decimals=1,
                description="[vebus] ac_in_current_limit_a (display only)",
            ),
            fixed,
        ),
        VebusPath(
            ItemSpec(
                "/Ac/In/1/CurrentLimit",
                DBL,
                "A",
                decimals=1,
                description="[vebus] ac_in_current_limit_a (display only)",
            ),
            fixed,
        ),
        VebusPath(
            ItemSpec(
                "/Ac/In/1/CurrentLimitIsAdjustable",
                INT,
                description="0: the SI's limit cannot be set over CAN",
            ),
            fixed,
        ),
    ]
    for n in LINES:
        entries.extend(_ac_line("/Ac/Out", n, _AC_OUT))
    entries += [
        VebusPath(ItemSpec("/Ac/Out/P", DBL, "W", decimals=0, description="Σ lines"), si),
        VebusPath(ItemSpec("/Ac/Out/S", DBL, "VA", decimals=0, description="Σ lines"), si),
        VebusPath(
            ItemSpec(
                "/Ac/NumberOfPhases",
                INT,
                description="highest line with a voltage on AC1 or AC2 seen (persisted)",
            ),
            latched,
        ),
        VebusPath(
            ItemSpec(
                "/Ac/NumberOfAcInputs",
                INT,
                description="0 until the SI has shown an AC2 source (persisted); 2 with "
                "generator_as_ac_in_2",
            ),
            latched,
        ),
        VebusPath(
            ItemSpec("/Dc/0/Voltage", DBL, "V", decimals=2, description="0x305 battery voltage"),
            si,
        ),
        VebusPath(
            ItemSpec(
                "/Dc/0/Current",
                DBL,
                "A",
                decimals=1,
                description="−(0x305 current): + = charging (SMA's sign is the opposite)",
            ),
            si,
        ),
        VebusPath(
            ItemSpec("/Dc/0/Power", DBL, "W", decimals=0, description="V × I, + = charging"), si
        ),
        VebusPath(
            ItemSpec(
                "/Dc/0/Temperature", DBL, "°C", decimals=1, description="0x305 battery temperature"
            ),
            si,
        ),
        VebusPath(
            ItemSpec(
                DC_MAX_CHARGE_CURRENT,
                DBL,
                "A",
                writable=True,
                description="written by DVCC; starts at [battery] max_charge_current_a; "
                "never invalid (the invalid marker is refused)",
            ),
            written,
        ),
        VebusPath(
            ItemSpec("/Soc", DBL, "%", decimals=1, description="0x305 SoC (the BMS value echoed)"),
            si,
        ),
        VebusPath(
            ItemSpec(
                "/State",
                INT,
                text=enum_text(VebusState),
                description="0x306 state, 0x307 bits, AC1 voltage, battery current and the "
                "controller's charge phase",
            ),
            si,
        ),
        VebusPath(
            ItemSpec(
                "/VebusChargeState",
                INT,
                text=enum_text(VebusChargeState),
                description="the controller's charge phase",
            ),
            Source.CONTROLLER,
        ),
        VebusPath(
            ItemSpec(
                "/VebusError",
                INT,
                description="0; VE.Bus error codes have no SI equivalent (see /State = Fault)",
            ),
            si,
        ),
        VebusPath(
            ItemSpec(
                "/Mode",
                INT,
                writable=mode_control,
                text=enum_text(Mode),
                minimum=Mode.CHARGER_ONLY,
                maximum=Mode.OFF,
                description="3 On / 4 Off sent as the SI on/off command when enabled; persisted",
            ),
            written if mode_control else fixed,
        ),
        VebusPath(
            ItemSpec("/ModeIsAdjustable", INT, description="1 when /Mode drives the SI"), fixed
        ),
    ]
    for name, (source, origin) in ALARM_SOURCES.items():
        entries.append(
            VebusPath(
                ItemSpec(f"/Alarms/{name}", INT, text=enum_text(AlarmLevel), description=origin),
                source,
            )
        )
    for name in LED_NAMES:
        entries.append(
            VebusPath(
                ItemSpec(
                    f"/Leds/{name}", INT, text=enum_text(Led), description="from /State and alarms"
                ),
                si,
            )
        )
    for path, unit in BOL_PATHS:
        entries.append(
            VebusPath(
                ItemSpec(
                    path,
                    DBL,
                    unit,
                    writable=True,
                    description="written by DVCC every 3 s; starts at the [battery] limit",
                ),
                written,
            )
        )
    for name in ENERGY_NAMES:
        entries.append(
            VebusPath(
                ItemSpec(
                    f"/Energy/{name}",
                    DBL,
                    "kWh",
                    decimals=3,
                    description="integrated AC energy, four-quadrant attribution",
                ),
                Source.ENERGY,
            )
        )
    return tuple(entries)


def item_specs(paths: tuple[VebusPath, ...]) -> list[ItemSpec]:
    return [p.spec for p in paths]


def paths_from(paths: tuple[VebusPath, ...], keep: Callable[[VebusPath], bool]) -> frozenset[str]:
    return frozenset(p.path for p in paths if keep(p))


def energy_path(name: str) -> str:
    return f"/Energy/{name}"
