"""What the soak writes that no one should accept: D-Bus values of every type, and settings
that break the controller's rules.

**SetValue writes** go to the vebus service's paths (the writable ones with values they must
refuse, the read-only ones with anything) and to the controller's localsettings paths. Every
D-Bus type a ``v`` can carry is tried — strings, each integer width at its extremes, doubles
that are NaN, infinite or absurd, booleans, arrays (the empty ``ai`` is Victron's "invalid"),
dicts, structs, nested variants, object paths, signatures — but only where it is not a value
the path takes on purpose (a string is a name on ``/CustomName``, 3 and 4 are ``/Mode``'s).
Documented acceptances still happen and are reported as such: DVCC's limits take NaN and any
number (``docs/vebus.md``, DVCC).

**Invalid settings** are values inside localsettings' own min/max — so localsettings takes
them and the controller is the one to judge — that break a rule of the configuration (a float
voltage above the absorption voltage, a threshold beyond the ``[battery]`` envelope, …). The
controller must refuse each and write the old value back (``docs/controller.md``, Settings).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from dbus_fast import Variant

from smavenus.controller.settings import SETTINGS_PREFIX

#: (label, variant): one of each type, at values no battery path means.
VARIANTS: tuple[tuple[str, Variant], ...] = (
    ("s:text", Variant("s", "not a number")),
    ("s:empty", Variant("s", "")),
    ("i:max", Variant("i", 2**31 - 1)),
    ("i:min", Variant("i", -(2**31))),
    ("d:nan", Variant("d", math.nan)),
    ("d:inf", Variant("d", math.inf)),
    ("d:-inf", Variant("d", -math.inf)),
    ("d:huge", Variant("d", 1e308)),
    ("d:-huge", Variant("d", -1e308)),
    ("b:true", Variant("b", True)),
    ("y:255", Variant("y", 255)),
    ("n:min", Variant("n", -(2**15))),
    ("q:max", Variant("q", 2**16 - 1)),
    ("u:max", Variant("u", 2**32 - 1)),
    ("x:min", Variant("x", -(2**63))),
    ("t:max", Variant("t", 2**64 - 1)),
    ("ai:empty", Variant("ai", [])),
    ("ai:values", Variant("ai", [1, 2, 3])),
    ("ad:values", Variant("ad", [1.5, math.nan])),
    ("as:values", Variant("as", ["a", "b"])),
    ("a{sv}", Variant("a{sv}", {"value": Variant("i", 1)})),
    ("(id)", Variant("(id)", [1, 2.0])),
    ("v:nested", Variant("v", Variant("i", 3))),
    ("o:path", Variant("o", "/Soc")),
    ("g:signature", Variant("g", "ai")),
)

#: Values a path takes on purpose, by label: never written there.
_VALID_THERE: dict[str, frozenset[str]] = {
    "/CustomName": frozenset({"s:text", "s:empty"}),
    "/RedetectSystem": frozenset({"b:true"}),  # True is 1: "redetect", a real request
}
#: Writable vebus paths and path-specific out-of-range numbers.
VEBUS_WRITABLE: dict[str, tuple[tuple[str, Variant], ...]] = {
    "/Mode": (
        ("i:0", Variant("i", 0)),
        ("i:1", Variant("i", 1)),
        ("i:2", Variant("i", 2)),
        ("i:5", Variant("i", 5)),
        ("d:3.5", Variant("d", 3.5)),
    ),
    "/CustomName": (),
    "/RedetectSystem": (("i:2", Variant("i", 2)), ("i:-1", Variant("i", -1))),
    "/SystemReset": (("i:1", Variant("i", 1)),),
    "/Dc/0/MaxChargeCurrent": (("d:-50", Variant("d", -50.0)),),
    "/BatteryOperationalLimits/MaxChargeVoltage": (("d:-1", Variant("d", -1.0)),),
    "/BatteryOperationalLimits/MaxChargeCurrent": (("i:-5", Variant("i", -5)),),
    "/BatteryOperationalLimits/MaxDischargeCurrent": (("d:-10", Variant("d", -10.0)),),
    "/BatteryOperationalLimits/BatteryLowVoltage": (("d:999", Variant("d", 999.0)),),
}
#: Read-only vebus paths: any write is invalid, a plausible number too.
VEBUS_READ_ONLY: tuple[str, ...] = (
    "/Soc",
    "/State",
    "/Connected",
    "/DeviceInstance",
    "/ProductName",
    "/Ac/Out/L1/P",
    "/Dc/0/Voltage",
    "/Energy/InverterToAcOut",
    "/Alarms/LowBattery",
)
PLAUSIBLE = (("i:50", Variant("i", 50)), ("d:52.0", Variant("d", 52.0)))

#: Labels localsettings itself would take for some setting (a number in its range): the
#: controller's settings get only what is out of every range, or not a number at all.
_SETTINGS_LABELS = frozenset(
    {
        "s:text",
        "s:empty",
        "i:max",
        "i:min",
        "d:nan",
        "d:inf",
        "d:-inf",
        "d:huge",
        "d:-huge",
        "b:true",
        "u:max",
        "x:min",
        "t:max",
        "ai:empty",
        "ai:values",
        "ad:values",
        "as:values",
        "a{sv}",
        "(id)",
        "v:nested",
        "o:path",
        "g:signature",
    }
)


def vebus_writes() -> list[tuple[str, str, Variant]]:
    """Every (path, label, variant) the soak may write into the vebus service."""
    writes = [
        (path, label, variant)
        for path, extra in VEBUS_WRITABLE.items()
        for label, variant in (*VARIANTS, *extra)
        if label not in _VALID_THERE.get(path, frozenset())
    ]
    writes += [
        (path, label, variant)
        for path in VEBUS_READ_ONLY
        for label, variant in (*VARIANTS, *PLAUSIBLE)
    ]
    return writes


def settings_writes(names: tuple[str, ...]) -> list[tuple[str, str, Variant]]:
    """Every (path, label, variant) the soak may write into the controller's settings."""
    return [
        (SETTINGS_PREFIX + name, label, variant)
        for name in names
        for label, variant in VARIANTS
        if label in _SETTINGS_LABELS
    ]


@dataclass(frozen=True)
class InvalidSetting:
    name: str  #: the leaf under /Settings/SmaVenus/Controller/
    value: float | str
    breaks: str  #: the rule, for the record


#: Each breaks a cross-field rule against the defaults while staying inside localsettings' own
#: min/max (which already carry the [battery] envelope and the hard limits): localsettings
#: takes it, the controller must judge it.
INVALID_SETTINGS: tuple[InvalidSetting, ...] = (
    InvalidSetting("FloatVoltage", 56.5, "float above absorption (56.0)"),
    InvalidSetting("AbsorptionVoltage", 53.0, "absorption below float (54.0)"),
    InvalidSetting("RebulkVoltage", 54.5, "rebulk above float (54.0)"),
    InvalidSetting("RebulkVoltage", 41.0, "rebulk below the low voltage (48.0)"),
    InvalidSetting("CellRegulateVoltage", 3.7, "cell regulation above cell high (3.65)"),
    InvalidSetting("CellHighVoltageAlarm", 3.6, "cell high alarm below cell high (3.65)"),
    InvalidSetting("CellLowVoltage", 2.5, "cell low not above the cell low alarm (2.5)"),
    InvalidSetting("CellLowVoltageAlarm", 2.95, "cell low alarm above cell low (2.90)"),
    InvalidSetting("ChargeMinTemperature", 50.0, "charge min above charge derate (45)"),
    InvalidSetting("ChargeMaxTemperature", 40.0, "charge max below charge derate (45)"),
    InvalidSetting("MaxTemperature", 50.0, "max below charge max (55)"),
    InvalidSetting("MinTemperature", 10.0, "min above charge min (5)"),
    InvalidSetting("LowVoltage", 53.5, "low voltage above rebulk (52.8)"),
    InvalidSetting("GridLowVoltage", 42.0, "grid low voltage below the discharge floor (44.8)"),
    InvalidSetting("BulkCurrent", 10.0, "bulk current below degraded current (20)"),
    InvalidSetting("KeepChargedSoc", 98.0, "keep-charged SoC + hysteresis above 100 %"),
    InvalidSetting("BmsLostCellMin", 3.4, "lost-BMS cell minimum above its maximum (3.375)"),
    InvalidSetting("GridWindow1Start", "25:61", "not a time of day"),
)
