"""``/Leds/*``: a Multi's front panel, lit from the path values already computed. Pure."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from smavenus.vebus.enums import AlarmLevel, Led, VebusState
from smavenus.vebus.inputs import Fresh

LedRule = Callable[[Mapping[str, Any], bool | None], int | None]


def _led_on(path: str, wanted: Iterable[int]) -> LedRule:
    targets = frozenset(wanted)

    def led(values: Mapping[str, Any], _ac2_valid: bool | None) -> int | None:
        value = values.get(path)
        return None if value is None else int(Led.ON if value in targets else Led.OFF)

    return led


def _led_alarm(path: str) -> LedRule:
    by_level = {AlarmLevel.OK: Led.OFF, AlarmLevel.WARNING: Led.BLINK, AlarmLevel.ALARM: Led.ON}

    def led(values: Mapping[str, Any], _ac2_valid: bool | None) -> int | None:
        value = values.get(path)
        return None if value is None else int(by_level[AlarmLevel(value)])

    return led


def _led_mains(values: Mapping[str, Any], ac2_valid: bool | None) -> int | None:
    """On while connected; blinking while AC2 is there but the SI has not connected yet."""
    connected = values.get("/Ac/ActiveIn/Connected")
    if connected is None:
        return None
    if connected:
        return int(Led.ON)
    return int(Led.BLINK if ac2_valid else Led.OFF)


#: ``/Leds/<name>`` from the values already computed (a Multi's front panel, in effect).
LED_RULES: Mapping[str, LedRule] = {
    "Mains": _led_mains,
    "Bulk": _led_on("/State", [VebusState.BULK]),
    "Absorption": _led_on("/State", [VebusState.ABSORPTION]),
    "Float": _led_on("/State", [VebusState.FLOAT]),
    "Inverter": _led_on("/State", [VebusState.INVERTING, VebusState.POWER_ASSIST]),
    "Overload": _led_alarm("/Alarms/Overload"),
    "LowBattery": _led_alarm("/Alarms/LowBattery"),
    "Temperature": _led_alarm("/Alarms/HighTemperature"),
}


def led_values(values: Mapping[str, Any], si: Fresh) -> dict[str, int | None]:
    ac2_valid = si.relay_status.ac2_voltage_valid if si.relay_status is not None else None
    return {f"/Leds/{name}": rule(values, ac2_valid) for name, rule in LED_RULES.items()}
