"""``/Alarms/*``: the BMS conditions, the link to the controller, overload and grid lost. Pure."""

from __future__ import annotations

from collections.abc import Mapping

from smavenus.protocol import frames as f
from smavenus.vebus.enums import AlarmLevel
from smavenus.vebus.inputs import Conditions, Fresh

#: 0x35A condition (as named in the IPC contract) → the Victron alarm it raises.
CONDITION_ALARMS: Mapping[str, str] = {
    "low_voltage": "LowBattery",
    "high_voltage": "HighDcVoltage",
    "high_current": "HighDcCurrent",
    "high_charge_current": "HighDcCurrent",
    "high_temperature": "HighTemperature",
    "high_temperature_charge": "HighTemperature",
}
#: Conditions with no Victron alarm of their own.
OTHER_CONDITIONS_ALARM = "BmsPreAlarm"
BMS_ALARMS: tuple[str, ...] = (
    "LowBattery",
    "HighDcVoltage",
    "HighDcCurrent",
    "HighTemperature",
    "BmsPreAlarm",
)
#: The gateway's command source → /Alarms/BmsConnectionLost ("stale": the controller is gone).
COMMAND_SOURCE_ALARM: Mapping[str, AlarmLevel] = {
    "controller": AlarmLevel.OK,
    "persisted": AlarmLevel.OK,
    "cold_start": AlarmLevel.WARNING,
    "stale": AlarmLevel.ALARM,
}
#: The controller's ``bms_connection_lost`` (a battery BMS was followed and is lost) →
#: /Alarms/BmsConnectionLost: Victron's "BOL frames timed out" (venus issue #1032).
BMS_LOST_ALARM: Mapping[bool, AlarmLevel] = {False: AlarmLevel.OK, True: AlarmLevel.ALARM}


def bms_alarm_values(
    conditions: Conditions | None,
    command_source: str | None,
    bms_connection_lost: bool | None = None,
) -> dict[str, int | None]:
    """Alarms from the BMS side: the conditions raised (by the controller, or by the gateway
    on its own), whether the gateway still hears the controller and whether the controller
    still hears its BMS. ``None``: that source is not known (missing or stale)."""
    values: dict[str, int | None] = {f"/Alarms/{name}": None for name in BMS_ALARMS}
    if conditions is not None:
        levels = dict.fromkeys(BMS_ALARMS, AlarmLevel.OK)
        for raised, level in (
            (conditions.warnings, AlarmLevel.WARNING),
            (conditions.alarms, AlarmLevel.ALARM),
        ):
            for condition in raised:
                name = CONDITION_ALARMS.get(condition, OTHER_CONDITIONS_ALARM)
                levels[name] = max(levels[name], level)
        values = {f"/Alarms/{name}": int(level) for name, level in levels.items()}
    # Either link lost is the alarm: the worst level of the sources that are known.
    links: list[AlarmLevel] = []
    if command_source is not None:
        links.append(COMMAND_SOURCE_ALARM.get(command_source, AlarmLevel.ALARM))
    if bms_connection_lost is not None:
        links.append(BMS_LOST_ALARM[bms_connection_lost])
    values["/Alarms/BmsConnectionLost"] = int(max(links)) if links else None
    return values


def overload_alarm(si: Fresh) -> int | None:
    if si.relay_status is None:
        return None
    overload = f.FunctionBits2.OVERLOAD in si.relay_status.functions2
    return int(AlarmLevel.ALARM if overload else AlarmLevel.OK)


class GridLostLatch:
    """``/Alarms/GridLost``: raised after AC2's "valid voltage" bit is clear in two
    consecutive 0x307 frames, cleared by the first frame with it set.

    The SI reports the grid as down for one frame during a relay transfer (SVD commit
    7266171), so one frame is not enough. Frames are told apart by their receive time: a
    snapshot that repeats last cycle's 0x307 does not count twice.
    """

    def __init__(self) -> None:
        self._last_frame_at: float | None = None
        self._lost_frames = 0

    def observe(self, received_monotonic: float, ac2_voltage_valid: bool) -> None:
        if received_monotonic == self._last_frame_at:
            return
        self._last_frame_at = received_monotonic
        self._lost_frames = 0 if ac2_voltage_valid else self._lost_frames + 1

    @property
    def level(self) -> AlarmLevel:
        return AlarmLevel.ALARM if self._lost_frames >= 2 else AlarmLevel.OK
