"""The Sunny Island's end of the BMS link: whether it still hears the BMS (F952, W952), the
values it accepted and the conditions raised.

Values outside SMA's ranges are refused and the last good one kept (each refusal recorded
once); a "not provided" marker, a lost BMS or a power-on brings back SMA's defaults
(:data:`~smavenus.sim.rules.BMS_DEFAULTS`). Everything takes ``now_s``; nothing reads a clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from smavenus.protocol import (
    AlarmCondition,
    AlarmsWarnings,
    BatteryMeasurements,
    ChargeLimits,
    PairState,
    SocSoh,
)
from smavenus.sim.events import EventKind, Recorder
from smavenus.sim.rules import BMS_DEFAULTS, LIMIT_KEYS, SOC_KEYS, VALUE_RANGES
from smavenus.sim.scenario import SiSection


class BmsLink:
    """What the SI knows of its BMS, from the BMS frames it accepts and their timing."""

    def __init__(self, si: SiSection, recorder: Recorder) -> None:
        self.cfg = si
        self.rec = recorder
        self.last_watch_s = 0.0
        self.last_limits_s = 0.0
        #: No watched frame for ``bms_timeout_s``: the SI stops and forgets every value.
        self.f952 = False
        #: No 0x351 for ``limits_timeout_s``: the SI falls back to its default limits.
        self.w952 = False
        self.values: dict[str, float | None] = dict(BMS_DEFAULTS)
        self.alarms: set[AlarmCondition] = set()
        self.warnings: set[AlarmCondition] = set()
        self.name = ""
        self.capacity_ah: float | None = None
        self._rejected: dict[str, float] = {}

    @property
    def soc_in_use_pct(self) -> float:
        """HiResSOC if the BMS sends it, else SOC (SMA-TI: the SI prefers the former)."""
        hires = self.values["soc_hires_pct"]
        value = hires if hires is not None else self.values["soc_pct"]
        return 0.0 if value is None else value

    def limit(self, key: str) -> float:
        value = self.values[key]
        return float(BMS_DEFAULTS[key] or 0.0) if value is None else value

    # -- frames -------------------------------------------------------------------------------

    def heard(self, now_s: float, can_id: int) -> None:
        """A decodable BMS frame arrived: it restarts the timeouts it counts for."""
        if can_id in self.cfg.f952_watch_ids:
            self.last_watch_s = now_s
            if self.f952:
                self.f952 = False
                self.rec.record(now_s, EventKind.F952_CLEARED)
        if can_id == 0x351:
            self.last_limits_s = now_s
            if self.w952:
                self.w952 = False
                self.rec.record(now_s, EventKind.W952_CLEARED)

    def on_limits(self, now_s: float, frame: ChargeLimits) -> None:
        for key in LIMIT_KEYS:
            self._accept(now_s, key, getattr(frame, key), 0x351)

    def on_soc(self, now_s: float, frame: SocSoh) -> None:
        for key in SOC_KEYS:
            self._accept(now_s, key, getattr(frame, key), 0x355)

    def on_measurements(self, _now_s: float, frame: BatteryMeasurements) -> None:
        self.values["temperature_c"] = frame.temperature_c

    def on_name(self, _now_s: float, frame: Any) -> None:
        self.name = str(frame.name)

    def on_info(self, _now_s: float, frame: Any) -> None:
        self.capacity_ah = frame.capacity_ah

    def on_alarms(self, now_s: float, frame: AlarmsWarnings) -> None:
        self._apply_pairs(now_s, frame.alarms, self.alarms, alarm=True)
        self._apply_pairs(now_s, frame.warnings, self.warnings, alarm=False)

    # -- losing the BMS -----------------------------------------------------------------------

    def timeout_deadlines(self) -> list[float]:
        """When F952 and W952 are due unless a frame comes first."""
        times: list[float] = []
        if not self.f952:
            times.append(self.last_watch_s + self.cfg.bms_timeout_s)
        if not self.w952:
            times.append(self.last_limits_s + self.cfg.limits_timeout_s)
        return times

    def check_f952(self, now_s: float) -> bool:
        """Raise F952 if it is due (every value back to its default); True if raised now."""
        if self.f952 or now_s < self.last_watch_s + self.cfg.bms_timeout_s:
            return False
        self.f952 = True
        self.rec.record(
            now_s,
            EventKind.F952_RAISED,
            last_frame_s=round(self.last_watch_s, 6),
            watched=[hex(i) for i in self.cfg.f952_watch_ids],
        )
        self.restore_defaults(now_s, tuple(BMS_DEFAULTS), "f952")
        return True

    def check_w952(self, now_s: float) -> None:
        """Raise W952 if it is due: the limits back to their defaults (if F952 has not)."""
        if self.w952 or now_s < self.last_limits_s + self.cfg.limits_timeout_s:
            return
        self.w952 = True
        self.rec.record(now_s, EventKind.W952_RAISED, last_frame_s=round(self.last_limits_s, 6))
        if not self.f952:
            self.restore_defaults(now_s, LIMIT_KEYS, "w952")

    def restore_defaults(self, now_s: float, keys: tuple[str, ...], reason: str) -> None:
        for key in keys:
            self.values[key] = BMS_DEFAULTS[key]
        self.rec.record(now_s, EventKind.BMS_DEFAULTS_RESTORED, reason=reason, keys=list(keys))

    def power_on(self, now_s: float) -> None:
        """A complete switch-off lost the CAN values and conditions (SMA-TI §5.1)."""
        self.values = dict(BMS_DEFAULTS)
        self.alarms.clear()
        self.warnings.clear()
        self.f952 = self.w952 = False
        self.last_watch_s = self.last_limits_s = now_s

    # -- internals ----------------------------------------------------------------------------

    def _accept(self, now_s: float, key: str, value: float | None, can_id: int) -> None:
        """Store ``value`` if in range; ``None`` (invalid marker) resets to the default."""
        if value is None:
            self.values[key] = BMS_DEFAULTS[key]
            self._rejected.pop(key, None)
            return
        low, high = VALUE_RANGES[key]
        if (low is not None and value < low) or (high is not None and value > high):
            if self._rejected.get(key) != value:
                self._rejected[key] = value
                self.rec.record(
                    now_s,
                    EventKind.BMS_VALUE_REJECTED,
                    can_id=hex(can_id),
                    field=key,
                    value=value,
                    kept=self.values[key],
                )
            return
        self._rejected.pop(key, None)
        self.values[key] = value

    def _apply_pairs(
        self,
        now_s: float,
        pairs: Mapping[AlarmCondition, PairState],
        active: set[AlarmCondition],
        *,
        alarm: bool,
    ) -> None:
        """SMA-TI §7.1: 10 = raised, 01 = cleared, 00 and 11 = no change."""
        raised, cleared = (
            (EventKind.ALARM_RAISED, EventKind.ALARM_CLEARED)
            if alarm
            else (EventKind.WARNING_RAISED, EventKind.WARNING_CLEARED)
        )
        for condition, state in pairs.items():
            code = condition.alarm_event if alarm else condition.warning_event
            if state is PairState.RAISED and condition not in active:
                active.add(condition)
                self.rec.record(now_s, raised, code=code, condition=condition.name.lower())
            elif state is PairState.CLEARED and condition in active:
                active.discard(condition)
                self.rec.record(now_s, cleared, code=code, condition=condition.name.lower())
