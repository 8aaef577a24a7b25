"""Every path of the ``com.victronenergy.vebus.<suffix>`` service, described once.

Registration (the exporter's objects), the mapping, the staleness rule, the tests and
``docs/vebus.md`` all derive from :func:`vebus_paths`. Each entry carries the D-Bus type
(integer enums stay integers), unit, whether Venus may write it, display resolution (values
are rounded to it, so noise below it never produces a change signal), and where the value
comes from.

Types, units and enums follow ``venus-dbus.md`` §2 (dbus_modbustcp ``attributes.csv``,
gui-v2, systemcalc). Paths we have no source for (``/Alarms/Ripple``, ``/Hub4/*``,
``/Devices/*`` …) are deliberately absent rather than published as a constant "ok": a
consumer reads an absent path as unknown, which is the truth. What gui-v2 and venus-platform
need to show the SI at all (``venus-gui.md``) is here from the first publish: at least one
AC input with its current limit, a phase count, per-line alarm copies.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from smavenus.vebus.alarm_paths import ALARM_SOURCES, LED_NAMES, alarm_rows, led_rows
from smavenus.vebus.enums import ActiveInput, Mode, VebusChargeState, VebusState, enum_text
from smavenus.vebus.pathspec import DBL, INT, LINES, STR, Source, VebusPath
from smavenus.victron.items import ItemSpec

__all__ = [
    "ALARM_SOURCES",
    "BOL_PATHS",
    "DC_MAX_CHARGE_CURRENT",
    "ENERGY_NAMES",
    "LED_NAMES",
    "LINES",
    "Source",
    "VebusPath",
    "vebus_paths",
]


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


def _ac_inputs(count: int) -> Iterator[VebusPath]:
    """gui-v2 shows one current-limit row per input (1..``/Ac/NumberOfAcInputs``) and makes
    it clickable unless ``CurrentLimitIsAdjustable`` is 0: every row gets both paths."""
    for n in range(1, count + 1):
        yield VebusPath(
            ItemSpec(
                f"/Ac/In/{n}/CurrentLimit",
                DBL,
                "A",
                decimals=1,
                description="[vebus] ac_in_current_limit_a (display only)",
            ),
            Source.FIXED,
        )
        yield VebusPath(
            ItemSpec(
                f"/Ac/In/{n}/CurrentLimitIsAdjustable",
                INT,
                description="0: the SI's limit cannot be set over CAN",
            ),
            Source.FIXED,
        )


def _system_buttons() -> Iterator[VebusPath]:
    """The two buttons gui-v2 always shows under Advanced (``venus-gui.md`` gap 5)."""
    yield VebusPath(
        ItemSpec(
            "/RedetectSystem",
            INT,
            writable=True,
            description="write 1: forget the lines and AC input learnt from the SI and learn "
            "them again (after rewiring); back to 0 when done",
        ),
        Source.WRITTEN,
    )
    yield VebusPath(
        ItemSpec(
            "/SystemReset",
            INT,
            writable=True,
            description="refused (code 2, logged): restarting the SI would drop its loads; "
            "use the SI's own switch",
        ),
        Source.WRITTEN,
    )


def vebus_paths(*, mode_control: bool, ac_inputs: int = 1) -> tuple[VebusPath, ...]:
    """The table. ``mode_control``: whether ``/Mode`` is writable (config and gateway agree);
    ``ac_inputs``: ``/Ac/NumberOfAcInputs`` (2 with ``generator_as_ac_in_2``)."""
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
                "/Ac/ActiveIn/CurrentLimitIsAdjustable",
                INT,
                description="0, for gui-v1 (gui-v2 reads /Ac/In/<n>/CurrentLimitIsAdjustable)",
            ),
            fixed,
        ),
    ]
    entries.extend(_ac_inputs(ac_inputs))
    for n in LINES:
        entries.extend(_ac_line("/Ac/Out", n, _AC_OUT))
    entries += [
        VebusPath(ItemSpec("/Ac/Out/P", DBL, "W", decimals=0, description="Σ lines"), si),
        VebusPath(ItemSpec("/Ac/Out/S", DBL, "VA", decimals=0, description="Σ lines"), si),
        VebusPath(
            ItemSpec(
                "/Ac/NumberOfPhases",
                INT,
                description="highest line with a voltage on AC1 or AC2 seen (persisted); "
                "[vebus] phases until the SI has been seen",
            ),
            latched,
        ),
        VebusPath(
            ItemSpec(
                "/Ac/NumberOfAcInputs",
                INT,
                description="1 from the start (the SI always has its AC2 terminal); 2 with "
                "generator_as_ac_in_2",
            ),
            fixed,
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
    entries.extend(alarm_rows())
    entries.extend(led_rows())
    entries.extend(_system_buttons())
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
