"""The Sunny Island's rules as an external-BMS inverter: what it does with BMS frames and time.

The tables (causes, defaults, ranges) are in :mod:`smavenus.sim.rules`, AC2 in
:mod:`smavenus.sim.ac2`, the BMS link (values, conditions, F952/W952) in
:mod:`smavenus.sim.bms_link`. Where the sources are silent the choice is named in
``docs/simulator.md`` ("Modelling choices").

State is a set of **stop causes**: the SI operates when the set is empty. Each cause has a rule
(:data:`~smavenus.sim.rules.CAUSE_RULES`): how it is left (by itself when its condition
clears, by a start command, or only by the SI's own start button) and whether it is a failure
(0x306 state 4, error bit).
Everything takes ``now_s``; nothing reads a clock.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from smavenus.errors import FrameDecodeError
from smavenus.protocol import AlarmsWarnings, OnOffCommand, RemoteOnOff, decode
from smavenus.sim.ac2 import Ac2, Ac2Inputs
from smavenus.sim.bms_link import BmsLink
from smavenus.sim.events import EventKind, Recorder
from smavenus.sim.rules import (
    CAUSE_RULES,
    PROTECTION_CAUSES,
    PROTECTION_CHARGE_A,
    Restart,
    StopCause,
)
from smavenus.sim.scenario import GridSection, SiSection


@dataclass(frozen=True, slots=True)
class Observations:
    """What the SI measures or knows about the rest of the world at ``now``."""

    ocv_v: float  #: battery voltage at rest
    terminal_v: float  #: battery voltage under the last step's current
    battery_current_a: float  #: + charging
    total_load_w: float
    ac2_present: bool  #: mains present / generator available
    ac2_voltage_v: float
    ac2_frequency_hz: float


class SunnyIsland:
    """One SI cluster (the master speaks for all lines)."""

    def __init__(self, si: SiSection, grid: GridSection, recorder: Recorder) -> None:
        self.cfg = si
        self.grid_cfg = grid
        self.rec = recorder
        self.bms_link = BmsLink(si, recorder)
        self.causes: set[StopCause] = set()
        self.pending_alarm_s: float | None = None
        self.ccl_applied_a = 0.0
        self.last_charge_s = 0.0
        self.started_s = 0.0
        self.bp2_retry_s: float | None = None
        self.silenced_until_s: float | None = None
        self.silenced = False
        self.ac2 = Ac2(grid, si.nominal_voltage_v, si.nominal_frequency_hz, recorder)
        self._handlers: dict[int, Callable[[float, Any], None]] = {
            0x351: self.bms_link.on_limits,
            0x355: self.bms_link.on_soc,
            0x356: self.bms_link.on_measurements,
            0x35A: self._on_alarms,
            0x35E: self.bms_link.on_name,
            0x35F: self.bms_link.on_info,
            0x00F: self._on_quick_stop,
            0x35C: self._on_remote,
        }
        if si.initial_state == "standby":
            self.causes.add(StopCause.BUTTON)

    # -- derived state ----------------------------------------------------------------------

    @property
    def operating(self) -> bool:
        return not self.causes

    @property
    def switched_off(self) -> bool:
        return any(CAUSE_RULES[c].switch_off for c in self.causes)

    @property
    def failure(self) -> bool:
        return any(CAUSE_RULES[c].failure for c in self.causes)

    @property
    def bms(self) -> dict[str, float | None]:
        """The BMS values in force (received, or SMA's defaults)."""
        return self.bms_link.values

    @property
    def soc_in_use_pct(self) -> float:
        return self.bms_link.soc_in_use_pct

    def limit(self, key: str) -> float:
        return self.bms_link.limit(key)

    def error_number(self) -> int:
        """0x306 bytes 4-5: the active failure's number, else the active warning's, else 0."""
        if StopCause.BMS_TIMEOUT in self.causes:
            return 952
        bms = self.bms_link
        if StopCause.BMS_ALARM in self.causes and bms.alarms:
            return min(c.value[0] for c in bms.alarms)
        if bms.w952:
            return 952
        if bms.warnings:
            return min(c.value[1] for c in bms.warnings)
        return 0

    def has_warning(self) -> bool:
        return self.bms_link.w952 or bool(self.bms_link.warnings)

    @property
    def relay_closed(self) -> bool:
        """On grid or generator (GdOn)."""
        return self.ac2.relay_closed

    @property
    def ac2_valid(self) -> bool:
        return self.ac2.valid

    @property
    def requested(self) -> bool:
        return self.ac2.requested

    def protection_level(self) -> int:
        soc = self.soc_in_use_pct
        levels = [n for n, threshold in enumerate(self.cfg.bat_pro_soc_pct, 1) if soc < threshold]
        return max(levels, default=0)

    # -- inputs -----------------------------------------------------------------------------

    def receive(self, now_s: float, can_id: int, data: bytes) -> None:
        """A BMS frame reached the SI (the caller already recorded its arrival)."""
        if self.switched_off or self.silenced:
            return
        handler = self._handlers.get(can_id)
        if handler is None and can_id not in (0x35B,):
            return
        try:
            frame = decode(can_id, data)
        except FrameDecodeError as exc:
            self.rec.record(
                now_s, EventKind.BMS_FRAME_REJECTED, can_id=hex(can_id), reason=str(exc)
            )
            return
        self.bms_link.heard(now_s, can_id)
        if handler is not None:
            handler(now_s, frame)

    def button(self, now_s: float, press: str) -> None:
        """The SI's own start/stop (front panel or Sunny Remote)."""
        if press == "stop":
            self._add_cause(now_s, StopCause.BUTTON)
            return
        if self.switched_off:
            self._power_on(now_s)
        self._clear_causes(now_s, {Restart.START_COMMAND, Restart.BUTTON}, "button")

    def silence(self, now_s: float, enabled: bool, duration_s: float | None) -> None:
        self.silenced = enabled
        self.silenced_until_s = now_s + duration_s if enabled and duration_s else None

    def note_battery_current(self, end_s: float, current_a: float) -> None:
        if current_a >= PROTECTION_CHARGE_A:
            self.last_charge_s = end_s

    def follow_limits(self, dt_s: float) -> None:
        """The applied CCL follows the received one with a first-order lag (SMA-TI: ~10 s)."""
        target = min(self.limit("charge_current_a"), self._charger_rating_a())
        tau = self.cfg.ccl_follow_time_constant_s
        if tau <= 0 or dt_s >= 50 * tau:
            self.ccl_applied_a = target
        else:
            self.ccl_applied_a += (target - self.ccl_applied_a) * (dt_s / (tau + dt_s))

    def _charger_rating_a(self) -> float:
        return self.cfg.unit_max_charge_current_a * self.cfg.lines

    # -- BMS frame handlers -----------------------------------------------------------------

    def _on_alarms(self, now_s: float, frame: AlarmsWarnings) -> None:
        self.bms_link.on_alarms(now_s, frame)
        if self.bms_link.alarms and self.pending_alarm_s is None:
            self.pending_alarm_s = now_s + self.cfg.alarm_reaction_s
        if not self.bms_link.alarms:
            self.pending_alarm_s = None

    def _on_quick_stop(self, now_s: float, _frame: Any) -> None:
        self.rec.record(now_s, EventKind.QUICK_STOP)
        self._add_cause(now_s, StopCause.QUICK_STOP)

    def _on_remote(self, now_s: float, frame: RemoteOnOff) -> None:
        if frame.command is OnOffCommand.OFF:
            if StopCause.REMOTE_OFF not in self.causes:
                self.rec.record(now_s, EventKind.REMOTE_OFF)
            self._add_cause(now_s, StopCause.REMOTE_OFF)
        elif self.causes & {StopCause.REMOTE_OFF, StopCause.QUICK_STOP, StopCause.BUTTON}:
            self.rec.record(now_s, EventKind.REMOTE_ON)
            self._clear_causes(now_s, {Restart.START_COMMAND}, "remote_on")

    # -- causes -----------------------------------------------------------------------------

    def _add_cause(self, now_s: float, cause: StopCause, **detail: Any) -> None:
        if cause in self.causes:
            return
        was_operating = self.operating
        self.causes.add(cause)
        if CAUSE_RULES[cause].switch_off:
            self.ac2.open(now_s, "shut_down")
            self.rec.record(now_s, EventKind.SHUT_DOWN, cause=cause.value, **detail)
        elif was_operating:
            self.ac2.open(now_s, "standby")
            self.rec.record(now_s, EventKind.STANDBY, cause=cause.value, **detail)

    def _remove_cause(self, now_s: float, cause: StopCause, reason: str) -> None:
        if cause not in self.causes:
            return
        self.causes.discard(cause)
        self.rec.record(now_s, EventKind.CAUSE_CLEARED, cause=cause.value, reason=reason)
        if CAUSE_RULES[cause].restart is Restart.AUTO and not self.cfg.autostart:
            self.causes.add(StopCause.BUTTON)  # no Autostart: wait for a start command
        if self.operating:
            self._started(now_s, on_ac2=reason == "ac2_ready")

    def _clear_causes(self, now_s: float, restarts: set[Restart], reason: str) -> None:
        for cause in sorted(self.causes, key=lambda c: c.value):
            if CAUSE_RULES[cause].restart in restarts:
                self._remove_cause(now_s, cause, reason)

    def _started(self, now_s: float, *, on_ac2: bool = False) -> None:
        """Operating again. AC2 must then be valid for GdVldTm before the relay closes, unless
        the SI restarted *because* AC2 had been valid that long (to charge from it)."""
        self.last_charge_s = now_s  # the 5-minute protection window starts again
        self.started_s = self.ac2.valid_since_s if on_ac2 else now_s
        self.rec.record(now_s, EventKind.STARTED, **({"on": "ac2"} if on_ac2 else {}))

    def _power_on(self, now_s: float) -> None:
        """Start after a complete switch-off: CAN values were lost (SMA-TI §5.1)."""
        self.bms_link.power_on(now_s)
        self.pending_alarm_s = None
        self.causes.discard(StopCause.BMS_TIMEOUT)
        self.causes.discard(StopCause.BMS_ALARM)

    # -- time -------------------------------------------------------------------------------

    def deadlines(self, now_s: float) -> list[float]:
        """Future times at which :meth:`check` must run for events to land exactly."""
        if self.switched_off:
            return []
        times = self.bms_link.timeout_deadlines()
        if self.pending_alarm_s is not None:
            times.append(self.pending_alarm_s)
        if self.silenced_until_s is not None:
            times.append(self.silenced_until_s)
        times.extend(self.ac2.deadlines(self.started_s))
        if self.protection_level():
            times.append(self.last_charge_s + self.cfg.bat_pro_no_charge_s)
        if self.bp2_retry_s is not None:
            times.append(self.bp2_retry_s)
        return [t for t in times if t > now_s]

    def check(self, now_s: float, obs: Observations) -> None:
        """Apply every time- and measurement-driven rule at ``now_s``."""
        if self.switched_off:
            return
        self._check_silence(now_s)
        self._check_timeouts(now_s)
        self._check_alarm_reaction(now_s)
        self.ac2.update(
            now_s,
            Ac2Inputs(
                present=obs.ac2_present,
                voltage_v=obs.ac2_voltage_v,
                frequency_hz=obs.ac2_frequency_hz,
                soc_pct=self.soc_in_use_pct,
                total_load_w=obs.total_load_w,
            ),
        )
        self._check_auto_restart(now_s, obs)
        self._check_discharge_voltage(now_s, obs)
        self._check_protection(now_s)
        self.ac2.switch(now_s, operating=self.operating, started_s=self.started_s)

    def _check_silence(self, now_s: float) -> None:
        if self.silenced_until_s is not None and now_s >= self.silenced_until_s:
            self.silenced = False
            self.silenced_until_s = None

    def _check_timeouts(self, now_s: float) -> None:
        if self.bms_link.check_f952(now_s):
            self._add_cause(now_s, StopCause.BMS_TIMEOUT)
        self.bms_link.check_w952(now_s)

    def _check_alarm_reaction(self, now_s: float) -> None:
        alarms = self.bms_link.alarms
        if self.pending_alarm_s is not None and now_s >= self.pending_alarm_s and alarms:
            codes = sorted(c.alarm_event for c in alarms)
            self._add_cause(now_s, StopCause.BMS_ALARM, alarms=codes)

    def _check_auto_restart(self, now_s: float, obs: Observations) -> None:
        if not self.causes:
            return
        ready = self.ac2.ready(now_s)
        clear_conditions: dict[StopCause, tuple[bool, str]] = {
            StopCause.BMS_TIMEOUT: (not self.bms_link.f952, "bms_frames_back"),
            StopCause.BMS_ALARM: (not self.bms_link.alarms, "alarms_cleared"),
            StopCause.DISCHARGE_VOLTAGE: (
                ready
                or obs.ocv_v >= self.limit("discharge_voltage_v") + self.cfg.dvl_restart_margin_v,
                "ac2_ready" if ready else "voltage_recovered",
            ),
            StopCause.BATTERY_PROTECTION_1: (
                ready or self.protection_level() < 1,
                "ac2_ready" if ready else "soc_recovered",
            ),
            StopCause.BATTERY_PROTECTION_2: (
                ready or self.protection_level() < 2 or now_s >= (self.bp2_retry_s or float("inf")),
                "ac2_ready" if ready else "retry",
            ),
        }
        for cause, (cleared, reason) in clear_conditions.items():
            if cause in self.causes and cleared:
                if cause is StopCause.BATTERY_PROTECTION_2:
                    self.bp2_retry_s = None
                self._remove_cause(now_s, cause, reason)

    def _check_discharge_voltage(self, now_s: float, obs: Observations) -> None:
        dvl = self.limit("discharge_voltage_v")
        if self.operating and obs.battery_current_a < 0 and obs.terminal_v < dvl:
            self.rec.record(
                now_s,
                EventKind.DISCHARGE_VOLTAGE_STOP,
                voltage_v=round(obs.terminal_v, 3),
                dvl_v=dvl,
            )
            self._add_cause(now_s, StopCause.DISCHARGE_VOLTAGE)

    def _check_protection(self, now_s: float) -> None:
        level = self.protection_level()
        if not level or now_s < self.last_charge_s + self.cfg.bat_pro_no_charge_s:
            return
        cause = PROTECTION_CAUSES[level - 1]
        if cause in self.causes or any(
            c in self.causes for c in PROTECTION_CAUSES[level:]
        ):  # already at this level or higher
            return
        for lower in PROTECTION_CAUSES[: level - 1]:
            self.causes.discard(lower)
        self.rec.record(
            now_s,
            EventKind.BATTERY_PROTECTION,
            protection_level=level,
            soc_pct=self.soc_in_use_pct,
        )
        if cause is StopCause.BATTERY_PROTECTION_2:
            self.bp2_retry_s = now_s + self.cfg.bat_pro2_retry_s
        self._add_cause(now_s, cause, protection_level=level)
