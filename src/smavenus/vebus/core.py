"""The vebus-publisher's brain, sans-I/O: inputs with their times in, path values out.

The edge feeds it what arrives (:meth:`VebusCore.on_snapshot`, :meth:`~VebusCore.on_health`,
:meth:`~VebusCore.on_charge_phase`), asks for :meth:`~VebusCore.values` to publish, and
re-arms one timer at :meth:`~VebusCore.next_deadline`. It never reads a clock: every call
takes ``now`` (monotonic seconds, the clock the gateway stamps frames with).

**Staleness.** Each cached input has a time and the one max age ``[vebus]
snapshot_max_age_s``: the snapshot (``sent_monotonic``), each SI frame in it
(``received_monotonic``), the gateway's health and the controller's status. An input
``max_age`` or more old is not used: the values that depend on it become invalid, and when
the snapshot itself is old (or says the SI is absent) ``/Connected`` is 0 and every value
from the SI, the gateway or the controller is invalid. Frozen numbers are never shown.
Each change of freshness is reported once as a :class:`~smavenus.events.LogEvent` to log.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from functools import reduce
from typing import Any

from smavenus.events import Level, LogEvent
from smavenus.ipc.messages import ControllerStatus, GatewayHealth, SiSnapshot, Stamped
from smavenus.vebus.alarm_paths import phase_alarm_values
from smavenus.vebus.alarms import GridLostLatch, bms_alarm_values, overload_alarm
from smavenus.vebus.energy import EnergyMeter, PowerSample
from smavenus.vebus.enums import AlarmLevel, Mode
from smavenus.vebus.inputs import ChargePhase, Conditions, Fresh, ac_input_connected, active_node
from smavenus.vebus.leds import led_values
from smavenus.vebus.measurements import (
    ac_source_present,
    ac_values,
    active_input_values,
    dc_values,
    line_powers,
    lines_with_voltage,
)
from smavenus.vebus.operating_state import StateFacts, charge_state, state_facts, vebus_state
from smavenus.vebus.paths import (
    BOL_PATHS,
    DC_MAX_CHARGE_CURRENT,
    VebusPath,
    energy_path,
    paths_from,
    vebus_paths,
)
from smavenus.vebus.settings import BOL_FRAME, FIRMWARE_VERSION, PRODUCT_ID, CoreSettings
from smavenus.vebus.state import PublisherState

FRAME_NAMES: tuple[str, ...] = tuple(Fresh.__dataclass_fields__)


@dataclass(frozen=True)
class _GatewayView:
    command_source: str
    conditions: Conditions  #: what the gateway sent in 0x35A


@dataclass(frozen=True)
class _ControllerView:
    phase: ChargePhase
    conditions: Conditions
    bms_connection_lost: bool


@dataclass(frozen=True)
class _Timed:
    value: Any
    at: float  #: monotonic s


class VebusCore:
    def __init__(self, settings: CoreSettings, state: PublisherState, now: float) -> None:
        self.settings = settings
        self.paths: tuple[VebusPath, ...] = vebus_paths(
            mode_control=settings.mode_control, ac_inputs=settings.ac_inputs
        )
        self._stale_paths = paths_from(self.paths, lambda p: p.source.goes_stale)
        self._snapshot: SiSnapshot | None = None
        self._health: _Timed | None = None
        self._controller: _Timed | None = None
        self._latch = GridLostLatch()
        self._meter = EnergyMeter(state.energy_j)
        self._si_seen = state.si_seen
        self._phases_seen = state.phases_seen
        self._ac_input_seen = state.ac_input_seen
        self.mode = Mode(state.mode) if state.mode is not None else Mode.ON
        self.custom_name = state.custom_name
        self._freshness: dict[str, bool] = {}
        self._events: list[LogEvent] = []
        self._last_save = now
        self._dirty = False
        self._save_now = False
        self._evaluated_at = now

    # -- inputs -------------------------------------------------------------------------------

    def on_snapshot(self, snapshot: SiSnapshot, now: float) -> None:
        self._snapshot = snapshot
        si = self._fresh_frames(now)
        if si is not None:
            self._learn(si)
            relay = snapshot.relay_status
            if relay is not None and si.relay_status is not None:
                self._latch.observe(relay.received_monotonic, relay.value.ac2_voltage_valid)
        self._dirty |= self._meter.hold(now, self._power_sample(si))

    def on_health(self, health: GatewayHealth) -> None:
        sent = health.sent
        conditions = Conditions(sent.alarms, sent.warnings) if sent else Conditions()
        self._health = _Timed(
            _GatewayView(health.command_source, conditions), health.sent_monotonic
        )

    def on_controller(self, status: ControllerStatus) -> None:
        view = _ControllerView(
            ChargePhase(status.charge_state),
            Conditions(status.alarms, status.warnings),
            status.bms_connection_lost,
        )
        self._controller = _Timed(view, status.sent_monotonic)

    def set_mode(self, mode: Mode) -> None:
        self.mode = mode
        self._save_now = self._dirty = True

    def set_custom_name(self, name: str) -> None:
        self.custom_name = name
        self._save_now = self._dirty = True

    def redetect(self) -> None:
        """Forget the lines and the AC input learnt from the SI; the next snapshots teach them
        again (gui-v2's "Redetect VE.Bus system", after rewiring a cluster)."""
        self._events.append(
            LogEvent(
                "si_installation_forgotten",
                "info",
                {"phases": self._phases_seen, "ac_input": self._ac_input_seen},
            )
        )
        self._phases_seen, self._ac_input_seen = 0, False
        self._save_now = self._dirty = True

    # -- outputs ------------------------------------------------------------------------------

    def fixed_values(self) -> dict[str, Any]:
        """Identity and the starting values of the writable paths (set once, at start)."""
        ident, limits = self.settings.identity, self.settings.limits
        mode_control = self.settings.mode_control
        values: dict[str, Any] = {
            "/Mgmt/ProcessName": ident.process_name,
            "/Mgmt/ProcessVersion": ident.process_version,
            "/Mgmt/Connection": ident.connection,
            "/DeviceInstance": ident.device_instance,
            "/ProductId": PRODUCT_ID,
            "/ProductName": ident.product_name,
            "/FirmwareVersion": FIRMWARE_VERSION,
            "/FirmwareFeatures/BolFrame": BOL_FRAME,
            "/HardwareVersion": None,
            "/CustomName": self.custom_name,
            "/Ac/ActiveIn/CurrentLimit": self.settings.ac_in_current_limit_a,
            "/Ac/ActiveIn/CurrentLimitIsAdjustable": 0,
            "/Ac/NumberOfAcInputs": self.settings.ac_inputs,
            "/RedetectSystem": 0,
            "/SystemReset": 0,
            "/Mode": int(self.mode if mode_control else Mode.ON),
            "/ModeIsAdjustable": int(mode_control),
            DC_MAX_CHARGE_CURRENT: limits.max_charge_current_a,
        }
        bol = (
            limits.max_charge_voltage_v,
            limits.max_charge_current_a,
            limits.max_discharge_current_a,
            limits.low_voltage_v,
        )
        values |= {path: value for (path, _unit), value in zip(BOL_PATHS, bol, strict=True)}
        for n in range(1, self.settings.ac_inputs + 1):
            values[f"/Ac/In/{n}/CurrentLimit"] = self.settings.ac_in_current_limit_a
            values[f"/Ac/In/{n}/CurrentLimitIsAdjustable"] = 0
        return values

    def values(self, now: float) -> dict[str, Any]:
        """Every path that is not fixed or written by Venus, as of ``now``."""
        self._evaluated_at = max(self._evaluated_at, now)
        self._dirty |= self._meter.advance(now)
        si = self._fresh_frames(now)
        connected = si is not None
        values: dict[str, Any] = {"/Connected": int(connected)}
        values |= self._latched_values()
        values |= {energy_path(name): kwh for name, kwh in self._meter.kwh().items()}
        if si is None:
            values |= dict.fromkeys(self._stale_paths)
            return values
        settings = self.settings
        gateway: _GatewayView | None = self._fresh(
            "gateway_health", self._health, now, settings.health_max_age_s
        )
        controller: _ControllerView | None = self._fresh(
            "controller_status", self._controller, now, settings.controller_max_age_s
        )
        phase = controller.phase if controller else None
        values |= ac_values(si, self._phases_seen)
        values |= dc_values(si)
        values |= active_input_values(si, self.settings.options)
        facts: StateFacts = state_facts(si, phase)
        values["/State"] = vebus_state(facts)
        values["/VebusChargeState"] = charge_state(phase)
        values["/VebusError"] = 0
        values["/Alarms/GridLost"] = int(self._grid_lost())
        values["/Alarms/Overload"] = overload_alarm(si)
        known = [view.conditions for view in (gateway, controller) if view is not None]
        values |= bms_alarm_values(
            reduce(operator.or_, known) if known else None,
            gateway.command_source if gateway else None,
            controller.bms_connection_lost if controller else None,
        )
        values |= led_values(values, si)
        values |= phase_alarm_values(values, self.phases)
        return values

    def next_deadline(self, now: float, *, include_save: bool = True) -> float | None:
        """When :meth:`values` would change without a new input, or state is due to be saved."""
        ages = self._expiries()
        deadlines = [t for t in ages if t > now]
        if self._dirty and include_save:
            deadlines.append(now if self._save_now else self._last_save + self._save_interval)
        return min(deadlines, default=None)

    def expiry_due(self, now: float) -> bool:
        """An input went stale since :meth:`values` was last asked: the values changed."""
        return any(self._evaluated_at < t <= now for t in self._expiries())

    def drain_events(self) -> list[LogEvent]:
        events, self._events = self._events, []
        return events

    # -- persistence ----------------------------------------------------------------------------

    @property
    def _save_interval(self) -> float:
        return self.settings.save_interval_s

    def save_due(self, now: float) -> bool:
        return self._dirty and (self._save_now or now >= self._last_save + self._save_interval)

    def state(self) -> PublisherState:
        return PublisherState(
            energy_j=self._meter.joules,
            si_seen=self._si_seen,
            phases_seen=self._phases_seen,
            ac_input_seen=self._ac_input_seen,
            mode=self.mode if self.settings.mode_control else None,
            custom_name=self.custom_name,
        )

    def saved(self, now: float) -> None:
        """The state returned by :meth:`state` at ``now`` is being written."""
        self._last_save = now
        self._dirty = self._save_now = False

    def save_failed(self) -> None:
        """The write failed: try again after the interval."""
        self._dirty = True

    def stop(self, now: float) -> PublisherState:
        """Count energy up to ``now`` and return the state to save on a clean stop."""
        self._meter.advance(now)
        return self.state()

    # -- internals ---------------------------------------------------------------------------

    def _transition(
        self, key: str, fresh: bool, *, quiet_start: bool = False, **fields: Any
    ) -> None:
        """Record an input's freshness; report a change (and a first fresh one, unless quiet)."""
        previous = self._freshness.get(key)
        self._freshness[key] = fresh
        if previous is None and (not fresh or quiet_start):
            return
        if previous != fresh:
            name = f"{key}_fresh" if fresh else f"{key}_stale"
            level: Level = "info" if fresh else "warning"
            self._events.append(
                LogEvent(name, level, {"max_age_s": self.settings.max_age_s} | fields)
            )

    def _young(self, at: float, now: float, max_age_s: float | None = None) -> bool:
        return now - at < (self.settings.max_age_s if max_age_s is None else max_age_s)

    def _fresh_frames(self, now: float) -> Fresh | None:
        snapshot = self._snapshot
        if snapshot is None:
            return None
        young = self._young(snapshot.sent_monotonic, now)
        connected = young and snapshot.si_present
        self._transition(
            "si_snapshot",
            connected,
            snapshot_age_s=round(now - snapshot.sent_monotonic, 3),
            si_present=snapshot.si_present,
        )
        if not connected:
            return None
        frames: dict[str, Any] = {}
        for name in FRAME_NAMES:
            stamped: Stamped[Any] | None = getattr(snapshot, name)
            fresh = stamped is not None and self._young(stamped.received_monotonic, now)
            if stamped is not None:
                self._transition(
                    f"si_frame_{name}",
                    fresh,
                    quiet_start=True,
                    age_s=round(now - stamped.received_monotonic, 3),
                )
            frames[name] = stamped.value if fresh and stamped is not None else None
        return Fresh(**frames)

    def _fresh(self, key: str, timed: _Timed | None, now: float, max_age_s: float) -> Any:
        if timed is None:
            return None
        fresh = self._young(timed.at, now, max_age_s)
        self._transition(key, fresh, max_age_s=max_age_s, age_s=round(now - timed.at, 3))
        return timed.value if fresh else None

    def _expiries(self) -> list[float]:
        max_age = self.settings.max_age_s
        times: list[float] = []
        if self._snapshot is not None:
            times.append(self._snapshot.sent_monotonic + max_age)
            for name in FRAME_NAMES:
                stamped = getattr(self._snapshot, name)
                if stamped is not None:
                    times.append(stamped.received_monotonic + max_age)
        if self._health is not None:
            times.append(self._health.at + self.settings.health_max_age_s)
        if self._controller is not None:
            times.append(self._controller.at + self.settings.controller_max_age_s)
        return times

    def _learn(self, si: Fresh) -> None:
        """Latch the installation facts the SI shows (they are persisted)."""
        lines = max(self._phases_seen, lines_with_voltage(si))
        ac_input = self._ac_input_seen or ac_source_present(si)
        if (lines, ac_input, True) != (self._phases_seen, self._ac_input_seen, self._si_seen):
            self._events.append(
                LogEvent("si_installation_learned", "info", {"phases": lines, "ac_input": ac_input})
            )
            self._phases_seen, self._ac_input_seen, self._si_seen = lines, ac_input, True
            self._dirty = True

    @property
    def phases(self) -> int:
        """The lines the SI has shown, or the configured count until it has shown any."""
        return self._phases_seen or self.settings.phases

    def _latched_values(self) -> dict[str, Any]:
        return {"/Ac/NumberOfPhases": self.phases}

    def _grid_lost(self) -> AlarmLevel:
        if not (self.settings.options.grid_lost_alarm and self._ac_input_seen):
            return AlarmLevel.OK  # no alarm for a grid the SI never had
        return self._latch.level

    def _power_sample(self, si: Fresh | None) -> PowerSample | None:
        if si is None or self._snapshot is None:
            return None
        powers = line_powers(si, self._phases_seen)
        if powers is None or ac_input_connected(si) is None:
            return None
        snapshot = self._snapshot
        used = [snapshot.external_power, snapshot.inverter_power, snapshot.relay_status]
        oldest = min(s.received_monotonic for s in used if s is not None)
        return PowerSample(
            powers,
            active_node(si, self.settings.options),
            min(oldest, snapshot.sent_monotonic) + self.settings.max_age_s,
        )
