"""The bms-controller's core: inputs in, one decision per cycle out. No I/O, no clock.

Shape (aioquic's timer idiom): the edge feeds inputs as they arrive
(:meth:`ChargeController.update_monitor`, :meth:`~ChargeController.update_snapshot`,
:meth:`~ChargeController.apply_settings`), calls :meth:`~ChargeController.step` with the time at
every deadline, sends the :class:`~smavenus.ipc.messages.BmsCommand` and
:class:`~smavenus.ipc.messages.ControllerStatus` built from the :class:`Decision`, logs the
decision's events, and re-arms one timer at :meth:`~ChargeController.next_deadline`.

One cycle, in order:

1. pick the measurements (:mod:`smavenus.controller.inputs`): the monitor's, else the SI's;
2. evaluate the protections (:mod:`smavenus.controller.protections`);
3. step the charge state machine (:mod:`smavenus.controller.charger`);
4. regulate the charge current (PI), cap it by the bulk current, temperature derating,
   degraded mode and protections, and pick the other limits;
5. shape the limits: tighten at once, relax slowly, 1 A before 0 A, hard limits
   (:mod:`smavenus.controller.limits`);
6. the SoC to report: estimate, grid assist, floor (:mod:`smavenus.controller.soc`,
   :mod:`smavenus.controller.grid`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timezone, tzinfo
from typing import Any

from smavenus.config import AppConfig
from smavenus.controller import limits as lim
from smavenus.controller import report
from smavenus.controller.charger import (
    ChargeContext,
    ChargeState,
    ChargeStateMachine,
    PiRegulator,
    pack_target_v,
    regulation_error_v,
)
from smavenus.controller.grid import GridAssist
from smavenus.controller.inputs import Measurements, MonitorSample, SiSample, select
from smavenus.controller.protections import Protections, Verdict, charge_temperature_factor
from smavenus.controller.rules import Context, Effect, Level
from smavenus.controller.settings import Outcome, apply
from smavenus.controller.soc import SOC_FLOOR_PCT, SocEstimator, truly_empty
from smavenus.events import LogEvent
from smavenus.ipc.messages import (
    BmsCommand,
    ConditionName,
    ControllerStatus,
    SettingsSource,
    SiSnapshot,
)

#: While charging is blocked, the charge voltage is held this far above the battery voltage:
#: below it the SI would discharge the battery to it, ignoring DCL (SMA-TI §5.3); at it the
#: SI has nothing to charge towards even if it ignored a 0 A limit (solardirector's trick).
BLOCK_CVL_MARGIN_V = 0.1
#: The longest interval one step integrates (a stalled loop must not act on an hour at once).
MAX_STEP_S = 10.0


@dataclass(frozen=True, slots=True)
class Decision:
    """Everything one cycle decided."""

    now: float
    limits: lim.Limits
    soc_pct: float
    soc_reason: str
    measurements: Measurements
    verdict: Verdict
    charge_state: ChargeState
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
    charger: ChargeStateMachine = field(init=False)
    regulator: PiRegulator = field(default_factory=PiRegulator)
    protections: Protections = field(default_factory=Protections)
    shaper: lim.LimitShaper = field(default_factory=lim.LimitShaper)
    soc: SocEstimator = field(default_factory=SocEstimator)
    grid: GridAssist = field(default_factory=GridAssist)
    last: Decision | None = None
    _last_step: float | None = None
    _source: str | None = None
    _wanted_reasons: dict[str, str] = field(default_factory=dict)
    _regulating: bool = False
    _pending: list[LogEvent] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.charger = ChargeStateMachine(ChargeState.BULK, self.started_at)

    # -- inputs --------------------------------------------------------------------------------

    def update_monitor(self, sample: MonitorSample | None) -> None:
        """The monitor's latest values; ``None`` when it vanished (stale at once)."""
        self.monitor = sample
        if sample is not None:
            self.battery_service = sample.service

    def update_snapshot(self, snapshot: SiSnapshot) -> None:
        sample = SiSample.from_snapshot(snapshot)
        if sample is not None:
            self.si = sample

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

        distrust = self.protections.states["voltage_mismatch"].level > Level.OK
        m = select(
            self.monitor, self.si, now, cfg.controller.input_max_age_s, distrust_monitor=distrust
        )
        if m.source != self._source:
            events.append(
                LogEvent(
                    "measurement_source_changed",
                    "info" if m.source == "battery_monitor" else "warning",
                    {"old": self._source, "new": m.source, "battery_service": self.battery_service},
                )
            )
            self._source = m.source
        monitor_expected = now - self.started_at >= cfg.controller.input_max_age_s
        verdict = self.protections.evaluate(Context(m, cfg, monitor_expected), now, events)
        degraded = m.source != "battery_monitor" or Effect.DEGRADED in verdict.effects

        self._step_charger(m, now, now_unix, events)
        wanted = self._wanted_limits(m, verdict, degraded, dt_s)
        for name in lim.TIGHTER:
            reason = getattr(wanted, name).reason
            if self._wanted_reasons.get(name) != reason:
                events.append(
                    LogEvent(
                        "limit_reason_changed",
                        "info",
                        {
                            "limit": name,
                            "old": self._wanted_reasons.get(name),
                            "new": reason,
                            "value": round(getattr(wanted, name).value, 2),
                        },
                    )
                )
                self._wanted_reasons[name] = reason
        shaped = self.shaper.shape(wanted, now, dt_s, cfg)

        soc_pct, soc_reason = self._soc(m, now, now_unix, events)
        decision = Decision(
            now=now,
            limits=shaped,
            soc_pct=soc_pct,
            soc_reason=soc_reason,
            measurements=m,
            verdict=verdict,
            charge_state=self.charger.state,
            grid_requested=self.grid.requested,
            grid_reason=self.grid.reason,
            events=tuple(events),
        )
        self.last = decision
        return decision

    def _step_charger(
        self, m: Measurements, now: float, now_unix: float, events: list[LogEvent]
    ) -> None:
        cfg = self.cfg
        absorption_target = pack_target_v(ChargeState.ABSORPTION, cfg, degraded=False)
        ctx = ChargeContext(
            now=now,
            now_unix=now_unix,
            cfg=cfg,
            m=m,
            error_to_absorption_v=regulation_error_v(m, absorption_target, cfg),
            state_since=self.charger.since,
            last_full_charge_unix=self.last_full_charge_unix,
            regulating=self._regulating,
        )
        old = self.charger.state
        fired = self.charger.step(ctx, events)
        if fired == "tail_current" and old is ChargeState.ABSORPTION:
            self.last_full_charge_unix = now_unix
            events.append(LogEvent("full_charge_completed", "info", {"unix": round(now_unix)}))
            if cfg.controller.soc_reset_at_full:
                offset = self.soc.reset_to_full(m.soc_pct)
                events.append(
                    LogEvent(
                        "soc_reset_to_full",
                        "info",
                        {"monitor_soc_pct": m.soc_pct, "correction_pct": round(offset, 2)},
                    )
                )

    def _wanted_limits(
        self, m: Measurements, verdict: Verdict, degraded: bool, dt_s: float
    ) -> lim.Limits:
        cfg = self.cfg
        bat, ctl = cfg.battery, cfg.controller
        state = self.charger.state
        target = pack_target_v(state, cfg, degraded)
        degraded_cause = verdict.causes.get(Effect.DEGRADED, "waiting_for_battery_monitor")

        charge_current = self._charge_current(m, verdict, degraded, dt_s, target)
        self._regulating = charge_current.reason.endswith("_regulation")
        cvl_reason = "float_voltage" if target == ctl.float_voltage_v else "absorption_voltage"
        if degraded and state is not ChargeState.FLOAT:
            cvl_reason = f"float_voltage, degraded: {degraded_cause}"
        charge_voltage = lim.Limit(target, cvl_reason)
        previous = None if self.shaper.sent is None else self.shaper.sent.charge_voltage_v.value
        if m.voltage_v is not None and previous is not None and previous > target < m.voltage_v:
            # The target fell below the battery (absorption → float): a charge voltage below
            # the battery makes the SI discharge it to that voltage (SMA-TI §5.3). Follow the
            # battery down instead, a margin above it (right at it, the SI's discharge current
            # would pull the voltage down, and a follower would chase it); charging stops all
            # the same, the regulator sends 0 A above the target.
            followed = min(previous, m.voltage_v + BLOCK_CVL_MARGIN_V)
            charge_voltage = lim.Limit(
                max(followed, target), f"{cvl_reason}, following the battery down"
            )
        if Effect.BLOCK_CHARGE in verdict.effects and m.voltage_v is not None:
            held = m.voltage_v + BLOCK_CVL_MARGIN_V
            if held < target:
                charge_voltage = lim.Limit(held, verdict.causes[Effect.BLOCK_CHARGE])

        discharge_current = lim.Limit(bat.max_discharge_current_a, "max_discharge_current")
        if Effect.LIMIT_DISCHARGE in verdict.effects:
            discharge_current = lim.Limit(
                min(bat.max_discharge_current_a, ctl.low_voltage_discharge_current_a),
                verdict.causes[Effect.LIMIT_DISCHARGE],
            )
        discharge_voltage = lim.Limit(bat.min_discharge_voltage_v, "min_discharge_voltage")
        return lim.Limits(charge_voltage, charge_current, discharge_current, discharge_voltage)

    def _charge_current(
        self, m: Measurements, verdict: Verdict, degraded: bool, dt_s: float, target: float
    ) -> lim.Limit:
        cfg = self.cfg
        ctl = cfg.controller
        degraded_cause = verdict.causes.get(Effect.DEGRADED, "waiting_for_battery_monitor")
        # The ceiling: the tightest cap wins and names the reason.
        caps: list[tuple[float, str]] = [(ctl.bulk_current_a, "bulk_current")]
        if degraded:
            caps.append((ctl.degraded_charge_current_a, f"degraded: {degraded_cause}"))
        factor = charge_temperature_factor(m.temperature_c, cfg)
        if factor < 1.0:
            caps.append((ctl.bulk_current_a * factor, "charge_high_temperature"))
        if Effect.BLOCK_CHARGE in verdict.effects:
            caps.append((0.0, verdict.causes[Effect.BLOCK_CHARGE]))
        if m.voltage_v is None:
            caps.append((0.0, "no_measurements"))
        if m.temperature_c is None:  # also before the start-up grace ends: never charge blind
            caps.append((0.0, "temperature_unknown"))
        max_a, cap_reason = min(caps, key=lambda cap: cap[0])

        error = regulation_error_v(m, target, cfg)
        if error is None or m.voltage_v is None:
            self.regulator.reset(0.0)
            return lim.Limit(0.0, cap_reason)
        value = self.regulator.step(
            error,
            voltage_v=m.voltage_v,
            dt_s=dt_s,
            cfg=cfg,
            max_a=max_a,
            delivered_a=m.charger_current_a,
        )
        if value >= max_a - 1e-6:
            return lim.Limit(value, cap_reason)
        if error < target - m.voltage_v:
            return lim.Limit(value, "cell_regulation")
        return lim.Limit(value, f"{self.charger.state.value}_regulation")

    def _soc(
        self, m: Measurements, now: float, now_unix: float, events: list[LogEvent]
    ) -> tuple[float, str]:
        cfg = self.cfg
        echo = self.si.soc_echo_pct if self.si is not None else None
        estimate = self.soc.update(m, now, cfg, echo)
        was_requested = self.grid.requested
        requested = self.grid.update(
            cfg, now=now, now_unix=now_unix, tz=self.tz, soc_pct=estimate, voltage_v=m.voltage_v
        )
        if requested != was_requested:
            events.append(
                LogEvent(
                    "grid_request_changed",
                    "info",
                    {
                        "requested": requested,
                        "reason": self.grid.reason,
                        "soc_pct": round(estimate, 1),
                        "voltage_v": m.voltage_v,
                        "mode": cfg.controller.grid_assist_mode,
                    },
                )
            )
        soc, reason = estimate, self.soc.source
        if requested and soc > cfg.controller.grid_request_soc_pct:
            soc, reason = cfg.controller.grid_request_soc_pct, "grid_request"
        if soc < SOC_FLOOR_PCT and not truly_empty(m, cfg):
            soc, reason = SOC_FLOOR_PCT, "floor_not_empty"
        return soc, reason

    # -- time ----------------------------------------------------------------------------------

    def next_deadline(self) -> float:
        """When :meth:`step` must run next: the next period, or sooner if a timer falls due."""
        base = self.started_at if self._last_step is None else self._last_step
        candidates = [base + self.cfg.controller.period_s]
        for deadline in (
            self.charger.next_deadline(self.cfg),
            self.shaper.next_deadline(self.cfg),
            self.grid.next_deadline(self.cfg),
            None if self.last is None else self.last.verdict.next_alarm_at,
        ):
            if deadline is not None and deadline > base:
                candidates.append(deadline)
        return min(candidates)

    # -- outputs -------------------------------------------------------------------------------

    def command(self, d: Decision, seq: int, sent_monotonic: float, sent_unix: float) -> BmsCommand:
        return report.command(self, d, seq, sent_monotonic, sent_unix)

    def status(
        self, d: Decision, seq: int, sent_monotonic: float, sent_unix: float
    ) -> ControllerStatus:
        return report.status(self, d, seq, sent_monotonic, sent_unix)
