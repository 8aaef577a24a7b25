"""The ``/Alarms/*`` and ``/Leds/*`` rows of the vebus path table.

**Per-phase copies.** venus-platform, which raises Venus's notifications and sounds the
buzzer, watches high temperature and overload **only** on ``/Alarms/L1..L3/…`` unless
``/Mgmt/Connection`` is "VE.Can" (``venus-gui.md`` §1c), and gui-v2's alarm page shows the
``L1`` row instead of the main one when it is valid. So :data:`PHASE_ALARMS` are published
per line as copies of the main alarm, on every line the SI has (1..``/Ac/NumberOfPhases``);
the lines it does not have are invalid. The SI reports overload for the whole system (0x307)
and no temperature of its own, so every line carries the same level: the SI-wide overload,
and the battery's high temperature.
"""

from __future__ import annotations

from collections.abc import Iterator

from smavenus.vebus.enums import AlarmLevel, Led, enum_text
from smavenus.vebus.pathspec import INT, LINES, Source, VebusPath
from smavenus.victron.items import ItemSpec

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

#: Alarms also published per line, ``/Alarms/L<n>/<name>``: the ones venus-platform only
#: notifies per line (Overload, HighTemperature) and the one gui-v2 shows per line too.
PHASE_ALARMS: tuple[str, ...] = ("Overload", "HighTemperature", "LowBattery")

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


def phase_alarm_path(line: int, name: str) -> str:
    return f"/Alarms/L{line}/{name}"


def alarm_rows() -> Iterator[VebusPath]:
    text = enum_text(AlarmLevel)
    for name, (source, origin) in ALARM_SOURCES.items():
        yield VebusPath(ItemSpec(f"/Alarms/{name}", INT, text=text, description=origin), source)
    for line in LINES:
        for name in PHASE_ALARMS:
            source, _origin = ALARM_SOURCES[name]
            yield VebusPath(
                ItemSpec(
                    phase_alarm_path(line, name),
                    INT,
                    text=text,
                    description=f"/Alarms/{name} on each line the SI has (venus-platform "
                    "notifies only per line); invalid beyond /Ac/NumberOfPhases",
                ),
                source,
            )


def led_rows() -> Iterator[VebusPath]:
    for name in LED_NAMES:
        yield VebusPath(
            ItemSpec(
                f"/Leds/{name}", INT, text=enum_text(Led), description="from /State and alarms"
            ),
            Source.SI,
        )


def phase_alarm_values(values: dict[str, int | None], phases: int) -> dict[str, int | None]:
    """The per-line copies of the main alarms in ``values``, for a system of ``phases`` lines."""
    return {
        phase_alarm_path(line, name): values.get(f"/Alarms/{name}") if line <= phases else None
        for line in LINES
        for name in PHASE_ALARMS
    }
