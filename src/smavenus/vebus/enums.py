"""The integer codes Venus OS gives meaning to on a ``com.victronenergy.vebus`` service.

Values and names from dbus_modbustcp ``attributes.csv`` and gui-v2 (``venus-dbus.md`` §2.2).
They are published as D-Bus integers, never doubles: systemcalc builds setting paths and
compares with them (``AcInput%s % (active_input + 1)``, ``== 0xF0``).
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Any


class VebusState(enum.IntEnum):
    """``/State``: what the inverter/charger is doing."""

    OFF = 0
    LOW_POWER = 1
    FAULT = 2
    BULK = 3
    ABSORPTION = 4
    FLOAT = 5
    STORAGE = 6
    EQUALIZE = 7
    PASSTHRU = 8
    INVERTING = 9
    POWER_ASSIST = 10
    POWER_SUPPLY = 11
    SUSTAIN = 244
    WAKEUP = 245
    REPEATED_ABSORPTION = 246
    AUTO_EQUALIZE = 247
    BATTERYSAFE = 248
    LOAD_DETECT = 249
    BLOCKED = 250
    TEST = 251
    EXTERNAL_CONTROL = 252


class VebusChargeState(enum.IntEnum):
    """``/VebusChargeState``: the charger's phase."""

    INIT = 0
    BULK = 1
    ABSORPTION = 2
    FLOAT = 3
    STORAGE = 4
    ABSORB_REPEAT = 5
    FORCED_ABSORB = 6
    EQUALISE = 7
    BULK_STOPPED = 8
    UNKNOWN = 9


class Mode(enum.IntEnum):
    """``/Mode``: the switch position. Only ON and OFF map to something the SI can do."""

    CHARGER_ONLY = 1
    INVERTER_ONLY = 2
    ON = 3
    OFF = 4


class ActiveInput(enum.IntEnum):
    """``/Ac/ActiveIn/ActiveInput``."""

    AC_IN_1 = 0
    AC_IN_2 = 1
    DISCONNECTED = 240


class AlarmLevel(enum.IntEnum):
    """``/Alarms/*``."""

    OK = 0
    WARNING = 1
    ALARM = 2


class Led(enum.IntEnum):
    """``/Leds/*`` (gui v1 and VRM; gui-v2 does not show them)."""

    OFF = 0
    ON = 1
    BLINK = 2
    BLINK_INVERTED = 3


def enum_text(kind: type[enum.IntEnum]) -> Callable[[Any], str]:
    """A GetText formatter: ``"Inverting"`` for 9, the number for codes the enum lacks."""

    def text(value: Any) -> str:
        try:
            return kind(value).name.replace("_", " ").capitalize()
        except ValueError:
            return str(value)

    return text
