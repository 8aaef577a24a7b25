"""The staleness policy: where the values sent to the SI come from, and how they degrade.

The SI faults 60 s after the last BMS frame (F952), so the gateway never stops sending; what
changes is *what* it sends. Four sources, each transition returned once with its reason:

``cold_start``
    No usable command yet. Conservative values from the configuration: CCL 0 A, DCL
    ``gateway.safe_discharge_current_a``, CVL ``controller.float_voltage_v``, DVL
    ``battery.min_discharge_voltage_v``; SoC from the SI's 0x305 echo if it is heard and not 0
    (0 % is the SI's own default, not a value a BMS sent), else from an old persisted command,
    else ``gateway.fallback_soc_pct``. Warning "general" is raised so the SI display shows it.
``persisted``
    A command saved by the previous run and still younger than ``command_max_age_s``.
``controller``
    The latest command from the bms-controller.
``stale``
    The command in use is older than ``command_max_age_s``: frames keep flowing, the charge
    current ramps from the last commanded value to 0 A at ``stale_charge_ramp_a_per_s``, DCL
    is at most ``safe_discharge_current_a``, warning "general" is raised. CVL, DVL and any
    alarm the controller raised are kept: lowering CVL below the battery voltage would make
    the SI *discharge* the battery down to it, and clearing an alarm could restart it.

Cold start and stale escalate with their age (:mod:`smavenus.gateway.stale`): the SoC keeps
moving with the SI's battery current, then W947, then DVL up and DCL down.

Every value of every source passes :func:`~smavenus.gateway.limits.clamp_limits` last.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from smavenus.gateway.limits import Limits, clamp_limits, clamp_percent
from smavenus.gateway.settings import GatewaySettings
from smavenus.gateway.stale import SocIntegrator, StaleStep, escalate, stale_steps
from smavenus.ipc.messages import SOC_FLOOR_PCT, BmsCommand, CommandSource, condition_from_name
from smavenus.protocol.frames import AlarmCondition

#: A command "sent" further in the future than this is from another clock: refused.
CLOCK_TOLERANCE_S = 0.5
LIMIT_NAMES = ("charge_voltage_v", "charge_current_a", "discharge_current_a", "discharge_voltage_v")


@dataclass(frozen=True, slots=True)
class ResumePoint:
    """A command persisted by an earlier run, with its age as the edge could judge it."""

    command: BmsCommand
    #: ``None``: the age cannot be judged (after a reboot with the wall clock behind the record).
    age_s: float | None
    #: How the age was judged, for the log ("monotonic clock, same boot", …).
    basis: str


@dataclass(frozen=True, slots=True)
class Transition:
    old: CommandSource | None
    new: CommandSource
    reason: str


@dataclass(frozen=True, slots=True)
class BmsOutput:
    """Everything one BMS frame set carries, after clamping."""

    source: CommandSource
    limits: Limits
    soc_pct: float
    soh_pct: float
    battery_voltage_v: float | None = None
    battery_current_a: float | None = None
    battery_temperature_c: float | None = None
    alarms: frozenset[AlarmCondition] = frozenset()
    warnings: frozenset[AlarmCondition] = frozenset()
    #: Why each value is what it is, for the health report and displays.
    reasons: Mapping[str, str] = field(default_factory=dict)
    #: Values the hard limits changed: name → what was requested and the limit applied.
    clamped: Mapping[str, str] = field(default_factory=dict)


def _conditions(names: frozenset[str]) -> frozenset[AlarmCondition]:
    return frozenset(condition_from_name(n) for n in names)


class CommandPolicy:
    """The staleness state machine. Time is passed in (monotonic seconds); nothing is read."""

    def __init__(
        self,
        settings: GatewaySettings,
        now: float,
        resume: ResumePoint | None = None,
        resume_problem: str | None = None,
    ) -> None:
        self._s = settings
        self._command: BmsCommand | None = None
        self._issued_at = -math.inf  # monotonic time the command in use was issued
        self._soc_echo: float | None = None
        self._echo_heard = False
        self._persisted_soc: float | None = None
        self._persisted_soh: float | None = None
        self.source: CommandSource = "cold_start"
        self._soc = SocIntegrator(settings.identity.capacity_ah, settings.si_absent_after_s)
        self._steps = stale_steps(settings)
        #: When the values in use stopped being renewed (start for a cold start); inf if fresh.
        self._degraded_since = now
        self._steps_logged = 0
        self.start_transition = self._start(now, resume, resume_problem)

    # -- inputs ---------------------------------------------------------------------------

    def _start(self, now: float, resume: ResumePoint | None, problem: str | None) -> Transition:
        if resume is None:
            return Transition(None, "cold_start", problem or "no persisted command")
        self._persisted_soc = resume.command.soc_pct
        self._persisted_soh = resume.command.soh_pct
        max_age = self._s.command_max_age_s
        if resume.age_s is None:
            why = f"the persisted command's age cannot be judged ({resume.basis})"
            return Transition(None, "cold_start", why)
        if resume.age_s >= max_age:
            why = (
                f"the persisted command is {resume.age_s:.1f} s old ({resume.basis}), "
                f"older than command_max_age_s ({max_age} s)"
            )
            return Transition(None, "cold_start", why)
        self._command = resume.command
        self._issued_at = now - max(resume.age_s, 0.0)
        self.source = "persisted"
        self._degraded_since = math.inf
        why = f"resumed the persisted command, {resume.age_s:.1f} s old ({resume.basis})"
        return Transition(None, "persisted", why)

    def accept(self, command: BmsCommand, now: float) -> tuple[str | None, Transition | None]:
        """Take a validated command from the controller. Returns (refusal reason, transition)."""
        age = now - command.sent_monotonic
        if age > self._s.command_max_age_s:
            return f"stale on arrival: {age:.1f} s old", None
        if age < -CLOCK_TOLERANCE_S:
            return f"sent {-age:.1f} s in the future: not this host's monotonic clock", None
        if self._command is not None and command.sent_monotonic < self._issued_at:
            return "older than the command in use (out of order)", None
        self._command = command
        self._issued_at = min(command.sent_monotonic, now)
        self._soc.reset()
        self._degraded_since, self._steps_logged = math.inf, 0
        return None, self._switch("controller", "a command arrived from the bms-controller")

    def observe_battery_current(self, current_a: float | None, now: float) -> None:
        """The SI's own battery current (0x305, SMA's sign): a degraded SoC follows it."""
        self._soc.observe(current_a, now)

    def observe_soc_echo(self, soc_pct: float | None) -> str | None:
        """The SoC the SI echoes in 0x305. Only the first echo heard at cold start counts.

        Later echoes are our own cold-start SoC coming back. Returns a note to log, if any.
        """
        if self._echo_heard or self.source != "cold_start":
            return None
        self._echo_heard = True
        if soc_pct is None or not math.isfinite(soc_pct) or soc_pct <= 0.0:
            return f"the SI echoes SoC {soc_pct} %: its own default, not used"
        self._soc_echo = clamp_percent(soc_pct)
        return f"cold-start SoC taken from the SI's echo: {self._soc_echo} %"

    def update(self, now: float) -> Transition | None:
        """Transitions that time alone causes: a command in use becomes stale."""
        if self.source in ("controller", "persisted") and now >= self._stale_at():
            age = now - self._issued_at
            why = (
                f"last command {age:.1f} s old (command_max_age_s "
                f"{self._s.command_max_age_s} s); charge current ramps to 0 A at "
                f"{self._s.stale_charge_ramp_a_per_s} A/s"
            )
            self._degraded_since = self._stale_at()
            return self._switch("stale", why)
        return None

    def escalations(self, now: float) -> list[StaleStep]:
        """The escalation steps reached since the last call (each returned once per episode)."""
        reached = [step for step in self._steps if now >= self._degraded_since + step.after_s]
        new = reached[self._steps_logged :]
        self._steps_logged = max(self._steps_logged, len(reached))
        return new

    def degraded_for_s(self, now: float) -> float:
        """How long the values in use have not been renewed (0 while fresh)."""
        return max(0.0, now - self._degraded_since)

    def _switch(self, new: CommandSource, reason: str) -> Transition | None:
        old, self.source = self.source, new
        return None if old == new else Transition(old, new, reason)

    # -- outputs --------------------------------------------------------------------------

    def _stale_at(self) -> float:
        return self._issued_at + self._s.command_max_age_s

    def next_deadline(self) -> float:
        if self.source in ("controller", "persisted"):
            return self._stale_at()
        if self._steps_logged < len(self._steps):
            return self._degraded_since + self._steps[self._steps_logged].after_s
        return math.inf

    def command_age_s(self, now: float) -> float | None:
        return None if self._command is None else now - self._issued_at

    @property
    def command(self) -> BmsCommand | None:
        return self._command

    def output(self, now: float) -> BmsOutput:
        """What to send now."""
        if self._command is None:
            return self._cold_start(self.degraded_for_s(now))
        if self.source == "stale":
            return self._stale(self._command, now - self._stale_at(), self.degraded_for_s(now))
        return self._from_command(self._command, self.source)

    def safe_output(self, now: float) -> BmsOutput:
        """The values a watchdog forces when the loop hangs: stale with the ramp finished.

        Escalation stays where it is: a restart follows within a second, and a DVL raised
        early could put the SI in standby for nothing.
        """
        if self._command is None:
            return self._cold_start(self.degraded_for_s(now))
        return self._stale(self._command, math.inf, self.degraded_for_s(now))

    def _cold_start(self, degraded_s: float) -> BmsOutput:
        s = self._s
        if self._soc_echo is not None:
            soc, soc_why = self._soc_echo, "the SI's echo in 0x305"
        elif self._persisted_soc is not None:
            soc, soc_why = self._persisted_soc, "the persisted command"
        else:
            soc, soc_why = s.fallback_soc_pct, "gateway.fallback_soc_pct"
        requested = Limits(
            charge_voltage_v=s.cold_start_charge_voltage_v,
            charge_current_a=0.0,
            discharge_current_a=s.safe_discharge_current_a,
            discharge_voltage_v=s.limits.min_discharge_voltage_v,
        )
        reasons = {
            "charge_voltage_v": "cold start: controller.float_voltage_v",
            "charge_current_a": "cold start: no command yet",
            "discharge_current_a": "cold start: gateway.safe_discharge_current_a",
            "discharge_voltage_v": "cold start: battery.min_discharge_voltage_v",
            "soc_pct": f"cold start: {soc_why}",
        }
        soc = self._moved_soc(soc, reasons)
        requested, warnings = escalate(
            requested, frozenset({AlarmCondition.GENERAL}), reasons, degraded_s, s
        )
        return self._finish(
            "cold_start",
            requested,
            soc_pct=soc,
            soh_pct=self._persisted_soh if self._persisted_soh is not None else 100.0,
            warnings=warnings,
            reasons=reasons,
        )

    def _moved_soc(self, soc: float, reasons: dict[str, str]) -> float:
        """``soc`` moved by the charge counted since it was known, never below the floor."""
        delta = self._soc.delta_pct
        if delta == 0.0:
            return soc
        reasons["soc_pct"] += f", {delta:+.1f} % counted from the SI's battery current"
        return max(soc + delta, SOC_FLOOR_PCT)

    def _from_command(self, command: BmsCommand, source: CommandSource) -> BmsOutput:
        requested = Limits(
            charge_voltage_v=command.charge_voltage_v,
            charge_current_a=command.charge_current_a,
            discharge_current_a=command.discharge_current_a,
            discharge_voltage_v=command.discharge_voltage_v,
        )
        prefix = "" if source == "controller" else f"{source}: "
        reasons = {
            name: prefix + command.reasons.get(name, "bms-controller")
            for name in (*LIMIT_NAMES, "soc_pct")
        }
        soc = command.soc_pct
        if soc < SOC_FLOOR_PCT and not (source == "controller" and command.battery_empty):
            # Only a fresh command that says the battery is truly empty may send less.
            soc = SOC_FLOOR_PCT
            reasons["soc_pct"] = f"{prefix}floor: the battery is not known to be empty"
        return self._finish(
            source,
            requested,
            soc_pct=soc,
            soh_pct=command.soh_pct,
            battery_voltage_v=command.battery_voltage_v,
            battery_current_a=command.battery_current_a,
            battery_temperature_c=command.battery_temperature_c,
            alarms=_conditions(command.alarms),
            warnings=_conditions(command.warnings),
            reasons=reasons,
        )

    def _stale(self, command: BmsCommand, stale_for_s: float, degraded_s: float) -> BmsOutput:
        fresh = self._from_command(command, "stale")
        ramp = self._s.stale_charge_ramp_a_per_s
        charge_a = max(0.0, fresh.limits.charge_current_a - ramp * max(stale_for_s, 0.0))
        requested = Limits(
            charge_voltage_v=fresh.limits.charge_voltage_v,
            charge_current_a=charge_a,
            discharge_current_a=min(
                fresh.limits.discharge_current_a, self._s.safe_discharge_current_a
            ),
            discharge_voltage_v=fresh.limits.discharge_voltage_v,
        )
        reasons = dict(fresh.reasons)
        reasons["charge_current_a"] = f"stale: ramping to 0 A at {ramp} A/s"
        reasons["discharge_current_a"] = "stale: at most gateway.safe_discharge_current_a"
        soc = self._moved_soc(fresh.soc_pct, reasons)
        requested, warnings = escalate(
            requested, fresh.warnings | {AlarmCondition.GENERAL}, reasons, degraded_s, self._s
        )
        # The measurements (0x356, display and log only) are not repeated: a frozen reading
        # in the SI's log would look real. They go out as "not provided".
        return self._finish(
            "stale",
            requested,
            soc_pct=soc,
            soh_pct=fresh.soh_pct,
            alarms=fresh.alarms,
            warnings=warnings,
            reasons=reasons,
            clamped_before=fresh.clamped,
        )

    def _finish(
        self,
        source: CommandSource,
        requested: Limits,
        *,
        soc_pct: float,
        soh_pct: float,
        reasons: dict[str, str],
        battery_voltage_v: float | None = None,
        battery_current_a: float | None = None,
        battery_temperature_c: float | None = None,
        alarms: frozenset[AlarmCondition] = frozenset(),
        warnings: frozenset[AlarmCondition] = frozenset(),
        clamped_before: Mapping[str, str] | None = None,
    ) -> BmsOutput:
        clamped = clamp_limits(requested, self._s.limits)
        changes = {**(clamped_before or {}), **clamped.changes}
        for name, why in clamped.changes.items():
            reasons[name] = f"clamped: {why}"
        return BmsOutput(
            source=source,
            limits=clamped.limits,
            soc_pct=clamp_percent(soc_pct),
            soh_pct=clamp_percent(soh_pct),
            battery_voltage_v=battery_voltage_v,
            battery_current_a=battery_current_a,
            battery_temperature_c=battery_temperature_c,
            alarms=alarms,
            warnings=warnings,
            reasons=reasons,
            clamped=changes,
        )
