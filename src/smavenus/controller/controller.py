"""The bms-controller's core: inputs in, one decision per cycle out. No I/O, no clock.

Shape (aioquic's timer idiom): the edge feeds inputs as they arrive (``update_*``), calls
:meth:`ChargeController.step` with the time at every deadline, sends the
:class:`~smavenus.ipc.messages.BmsCommand` and
:class:`~smavenus.ipc.messages.ControllerStatus` built from the :class:`Decision`
(:mod:`smavenus.controller.report`), logs the decision's events, and re-arms one timer at
:meth:`~ChargeController.next_deadline`.

One cycle, in order:

1. which sources are alive (:mod:`smavenus.controller.sources`): the primary measurements
   for regulation, and the worst fresh reading of each quantity for protection;
2. whether two live sources disagree (:mod:`smavenus.controller.disagreement`);
3. what the battery BMS and DVCC allow (:mod:`smavenus.controller.battery_limits`) and
   whether the BMS is lost (:mod:`smavenus.controller.bms_presence`);
4. the protections (:mod:`smavenus.controller.protections`);
5. the charge state machine (``own``) or the BMS's voltage (``follow_bms``);
6. the limits: the regulated charge current under every ceiling, the other limits, then
   shaped (tighten at once, relax slowly, 1 A before 0 A, hard limits,
   :mod:`smavenus.controller.limits`);
7. the SoC to report (:mod:`smavenus.controller.soc`, :mod:`smavenus.controller.grid`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timezone, tzinfo
from typing import Any, Literal

from smavenus.config import AppConfig
from smavenus.controller import limits as lim
from smavenus.controller import report
from smavenus.controller.battery_limits import (
    BatteryWord,
    LimitJudge,
    OtherChargers,
    Said,
    usable_bms,
)
from smavenus.controller.bms_presence import BmsPresence
from smavenus.controller.bms_rules import DISCHARGING_A
from smavenus.controller.charger import (
    ChargeContext,
    ChargeState,
    ChargeStateMachine,
    pack_target_v,
    regulation_error_v,
)
from smavenus.controller.disagreement import Disagreement
from smavenus.controller.grid import GridAssist
from smavenus.controller.inputs import (
    BmsSample,
    DvccWrites,
    MonitorSample,
    SiSample,
    SystemSample,
    UserDvccLimits,
    sanitized,
)
from smavenus.controller.planning import Cycle, LimitPlanner
from smavenus.controller.protections import Protections, Verdict
from smavenus.controller.rules import BmsView, Context, Effect
from smavenus.controller.settings import Outcome, apply
from smavenus.controller.soc import SocEstimator
from smavenus.controller.sources import (
    Measurements,
    Readings,
    SourceTracker,
    regulation_measurements,
    worst_readings,
)
from smavenus.events import LogEvent
from smavenus.ipc.messages import (
    SOC_FLOOR_PCT,
    BmsCommand,
    ConditionName,
    ControllerStatus,
    SettingsSource,
    SiSnapshot,
)

#: The longest interval one step integrates (a stalled loop must not act on an hour at once).
MAX_STEP_S = 10.0

Mode = Literal["own", "follow_bms", "bms_lost"]


@dataclass(frozen=True, slots=True)
class Decision:
    """Everything one cycle decided."""

    now: float
    limits: lim.Limits
    soc_pct: float
    soc_reason: str
    battery_empty: bool
    measurements: Measurements
    readings: Readings
    verdict: Verdict
    charge_state: ChargeState
    mode: Mode
    word: BatteryWord
    bms_lost: bool
    grid_requested: bool
    grid_reason: str
    events: tuple[LogEvent, ...] = ()

    @property
    def alarms(self) -> frozenset[ConditionName]:
        return self.verdict.alarms

    @property
    def warnings(self) -> frozenset[ConditionName]:
        return self.verdict.warnings


@dataclass
class ChargeController:
    """The whole controller. Create with the validated configuration and the start time."""

    cfg: AppConfig
    started_at: float
    tz: tzinfo = timezone.utc
    last_full_charge_unix: float | None = None
    settings_source: SettingsSource = "toml"
    battery_service: str | None = None
    monitor: MonitorSample | None = None
    si: SiSample | None = None
    bms: BmsSample | None = None
    system: SystemSample | None = None
    dvcc: DvccWrites = field(default_factory=DvccWrites)
    user_dvcc: UserDvccLimits = field(default_factory=UserDvccLimits)
    charger: ChargeStateMachine = field(init=False)
    planner: LimitPlanner = field(default_factory=LimitPlanner)
    protections: Protections = field(default_factory=Protections)
    shaper: lim.LimitShaper = field(default_factory=lim.LimitShaper)
    soc: SocEstimator = field(default_factory=SocEstimator)
    grid: GridAssist = field(default_factory=GridAssist)
    sources: SourceTracker = field(default_factory=SourceTracker)
    disagreement: Disagreement = field(default_factory=Disagreement)
    presence: BmsPresence = field(default_factory=BmsPresence)
    judge: LimitJudge = field(default_factory=LimitJudge)
    other_chargers: OtherChargers = field(default_factory=OtherChargers)
    last: Decision | None = None
    _last_step: float | None = None
    _source: str | None = None
    _mode: Mode | None = None
    #: The [controller] values of the TOML file at the last start (to notice an edit).
    toml_settings: dict[str, float | int | str | bool] = field(default_factory=dict)
    _pending: list[LogEvent] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.charger = ChargeStateMachine(ChargeState.BULK, self.started_at)

    # -- inputs (every one sanitised: a NaN is "missing", never a number) --------------------

    def update_monitor(self, sample: MonitorSample | None) -> None:
        """The monitor's latest values; ``None`` when it vanished (stale at once)."""
        self.monitor = None if sample is None else sanitized(sample)
        if sample is not None:
            self.battery_service = sample.service

    def update_bms(self, sample: BmsSample | None) -> None:
        """The battery BMS's latest values; ``None`` when it vanished."""
        self.bms = None if sample is None else sanitized(sample)

    def update_system(self, sample: SystemSample | None) -> None:
        self.system = sample

    def update_dvcc(self, writes: DvccWrites) -> None:
        self.dvcc = writes

    def update_user_dvcc(self, limits: UserDvccLimits) -> None:
        self.user_dvcc = sanitized(limits)

    def update_snapshot(self, snapshot: SiSnapshot) -> None:
        sample = SiSample.from_snapshot(snapshot)
        if sample is not None:
            self.si = sample

    def note(self, events: list[LogEvent]) -> None:
        """Events from outside the cycle (a restore at start), logged with the next decision."""
        self._pending.extend(events)

    def set_timezone(self, tz: tzinfo) -> None:
        self.tz = tz

    def apply_settings(self, changes: Mapping[str, Any]) -> Outcome:
        """Live changes by ``[controller]`` key; those that would break a rule are refused."""
        outcome = apply(self.cfg, changes)
        self.cfg = outcome.config
        return outcome

    # -- the cycle -----------------------------------------------------------------------------

    def step(self, now: float, now_unix: float) -> Decision:
        cfg = self.cfg
        events = self._pending
        self._pending = []
        dt_s = 0.0 if self._last_step is None else min(max(now - self._last_step, 0.0), MAX_STEP_S)
        self._last_step = now

        live = self.sources.live(
            cfg, now, monitor=self.monitor, bms=self.bms, si=self.si, events=events
        )
        m = regulation_measurements(live)
        r = worst_readings(live, cfg)
        self._note_source(m, events)
        disagree = self.disagreement.update(r.voltages, now, cfg, events)
        # The BMS's word counts while it is fresh and not frozen; its own measurements may be
        # implausible (left out of the readings) without its limits being ignored.
        bms = usable_bms(self.bms, now, cfg) if live.bms is not None else None
        expected = cfg.controller.charge_control == "follow_bms"
        self.presence.update(bms, now, self.started_at, expected, events)
        battery_a = m.current_a if m.source in ("battery_monitor", "bms") else None
        others = self.other_chargers.update(battery_a, m.si_current_a, now)
        said = Said(bms, self.dvcc, self.system, self.user_dvcc, others)
        word = self.judge.judge(said, now, cfg, events)
        mode = self._resolve_mode(word, events)
        bms_lost = self.presence.lost(now, cfg)
        ctx = self._context(m, r, word, disagree=disagree, lost=bms_lost, now=now)
        verdict = self.protections.evaluate(ctx, now, events)
        degraded = m.source != "battery_monitor" or Effect.DEGRADED in verdict.effects

        if mode == "own":
            self._step_charger(m, now, now_unix, events)
        lost_caps = self.presence.caps(now, cfg, _cells(r)) if mode == "bms_lost" else None
        wanted = self.planner.plan(
            Cycle(cfg, m, r, verdict, word, mode, lost_caps, degraded, dt_s, self.charger.state,
                  self.shaper.sent)
        )  # fmt: skip
        self.planner.note_reasons(wanted, events)
        shaped = self.shaper.shape(wanted, now, dt_s, cfg)
        if mode != "own":  # Victron's convention for a BMS-controlled charger: never float
            state = ChargeState.ABSORPTION if self.planner.regulating else ChargeState.BULK
            if state is not self.charger.state:
                self.charger.state, self.charger.since, self.charger.reason = state, now, mode
        soc_pct, soc_reason, empty = self._soc(m, word, now, now_unix, events)
        decision = Decision(
            now=now, limits=shaped, soc_pct=soc_pct, soc_reason=soc_reason, battery_empty=empty,
            measurements=m, readings=r, verdict=verdict, charge_state=self.charger.state,
            mode=mode, word=word, bms_lost=bms_lost, grid_requested=self.grid.requested,
            grid_reason=self.grid.reason, events=tuple(events),
        )  # fmt: skip
        self.last = decision
        return decision

    def _context(
        self, m: Measurements, r: Readings, word: BatteryWord, *, disagree: bool, lost: bool,
        now: float,
    ) -> Context:  # fmt: skip
        cfg = self.cfg
        bms = usable_bms(self.bms, now, cfg)
        si = m.si_current_a
        off_grid = self.si is not None and self.si.grid_connected is False
        pending = disagree or self.disagreement.pending_since is not None
        return Context(
            r=r, m=m, cfg=cfg,
            monitor_expected=now - self.started_at >= cfg.controller.input_max_age_s,
            cells_seen=self.sources.cells_seen,
            disagreement=disagree,
            frozen_sources=self.sources.frozen_sources,
            implausible_sources=tuple(self.sources.implausible),
            bms=BmsView(
                alarms={} if bms is None else dict(bms.alarms),
                charge_blocked=word.charge_blocked,
                discharge_blocked=word.discharge_blocked,
                lost=lost,
                dvl_above_sma_range=word.dvl_above_sma_range,
            ),
            inverting_off_grid=off_grid and si is not None and si < -DISCHARGING_A,
            voltage_alarm_needs_agreement=not cfg.controller.single_source_alarm and pending,
        )  # fmt: skip

    def _resolve_mode(self, word: BatteryWord, events: list[LogEvent]) -> Mode:
        """follow_bms: a fresh BMS, else a lost one's reduced limits (R15); auto: a fresh BMS,
        else our own charging (R16: a BMS removed for good must not stop charging forever)."""
        control = self.cfg.controller.charge_control
        mode: Mode = "own"
        if word.bms_fresh and control in ("follow_bms", "auto"):
            # A fresh BMS whose voltage we refuse is still followed: it blocks charging itself.
            mode = "follow_bms"
        elif control == "follow_bms":
            mode = "bms_lost"
        if mode != self._mode:
            events.append(
                LogEvent("charge_control_changed", "info" if mode != "bms_lost" else "warning",
                         {"old": self._mode, "new": mode, "charge_control": control})
            )  # fmt: skip
            self._mode = mode
        return mode

    def _note_source(self, m: Measurements, events: list[LogEvent]) -> None:
        if m.source != self._source:
            events.append(
                LogEvent(
                    "measurement_source_changed",
                    "info" if m.source == "battery_monitor" else "warning",
                    {"old": self._source, "new": m.source, "battery_service": self.battery_service},
                )
            )
            self._source = m.source

    def _step_charger(
        self, m: Measurements, now: float, now_unix: float, events: list[LogEvent]
    ) -> None:
        cfg = self.cfg
        absorption_target = pack_target_v(ChargeState.ABSORPTION, cfg, degraded=False)
        ctx = ChargeContext(
            now=now, now_unix=now_unix, cfg=cfg, m=m,
            error_to_absorption_v=regulation_error_v(m, absorption_target, cfg),
            state_since=self.charger.since, last_full_charge_unix=self.last_full_charge_unix,
            regulating=self.planner.regulating,
        )  # fmt: skip
        old = self.charger.state
        fired = self.charger.step(ctx, events)
        if fired == "tail_current" and old is ChargeState.ABSORPTION:
            self.last_full_charge_unix = now_unix
            events.append(LogEvent("full_charge_completed", "info", {"unix": round(now_unix)}))
            if cfg.controller.soc_reset_at_full:
                offset = self.soc.reset_to_full(m.soc_pct)
                events.append(
                    LogEvent("soc_reset_to_full", "info",
                             {"monitor_soc_pct": m.soc_pct, "correction_pct": round(offset, 2)})
                )  # fmt: skip

    def _soc(
        self, m: Measurements, word: BatteryWord, now: float, now_unix: float,
        events: list[LogEvent],
    ) -> tuple[float, str, bool]:  # fmt: skip
        cfg = self.cfg
        echo = self.si.soc_echo_pct if self.si is not None else None
        estimate = self.soc.update(m, now, cfg, echo)
        was_requested = self.grid.requested
        requested = self.grid.update(
            cfg, now=now, now_unix=now_unix, tz=self.tz, soc_pct=estimate, voltage_v=m.voltage_v,
            charge_request=word.charge_request,
        )  # fmt: skip
        if requested != was_requested:
            events.append(
                LogEvent("grid_request_changed", "info",
                         {"requested": requested, "reason": self.grid.reason,
                          "soc_pct": round(estimate, 1), "voltage_v": m.voltage_v,
                          "mode": cfg.controller.grid_assist_mode})
            )  # fmt: skip
        soc, reason = estimate, self.soc.source
        if requested and soc > cfg.controller.grid_request_soc_pct:
            soc, reason = cfg.controller.grid_request_soc_pct, "grid_request"
        empty = self.soc.empty(m, now, cfg)
        if soc < SOC_FLOOR_PCT and not empty:
            soc, reason = SOC_FLOOR_PCT, "floor_not_empty"
        return soc, reason, empty

    # -- outputs -------------------------------------------------------------------------------

    def command(self, d: Decision, seq: int, sent_monotonic: float, sent_unix: float) -> BmsCommand:
        return report.command(self, d, seq, sent_monotonic, sent_unix)

    def status(
        self, d: Decision, seq: int, sent_monotonic: float, sent_unix: float
    ) -> ControllerStatus:
        return report.status(self, d, seq, sent_monotonic, sent_unix)

    # -- time ----------------------------------------------------------------------------------

    def next_deadline(self) -> float:
        """When :meth:`step` must run next: the next period, or sooner if a timer falls due."""
        cfg = self.cfg
        base = self.started_at if self._last_step is None else self._last_step
        candidates = [base + cfg.controller.period_s]
        deadlines: list[float | None] = [
            self.charger.next_deadline(cfg),
            self.shaper.next_deadline(cfg),
            self.grid.next_deadline(cfg),
            self.disagreement.next_deadline(cfg),
            None if self.last is None else self.last.verdict.next_alarm_at,
            *self.presence.deadlines(cfg),
        ]
        candidates.extend(d for d in deadlines if d is not None and d > base)
        return min(candidates)


def _cells(r: Readings) -> tuple[float, float] | None:
    if r.min_cell_v is None or r.max_cell_v is None:
        return None
    return r.min_cell_v, r.max_cell_v
