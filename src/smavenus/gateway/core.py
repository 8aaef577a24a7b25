"""The can-gateway's core: frames, commands and time in; frames to send, signals and log lines out.

Sans-I/O in the h11/aioquic manner: the edge feeds it what happened (a frame arrived, a
command arrived, the bus opened or died, a timer fired) with the time, and gets back a list
of :data:`~smavenus.gateway.actions.Action` s to carry out. The edge re-arms one timer at
:meth:`GatewayCore.next_deadline` after every call. Nothing here reads a clock, touches a bus
or logs; log lines are returned as :class:`~smavenus.events.LogEvent` actions so that *which*
transitions get logged, and how often, is decided (and tested) here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Literal

from smavenus.errors import FrameDecodeError
from smavenus.events import LogEvent
from smavenus.gateway.actions import (
    Action,
    CloseBus,
    Instant,
    PersistCommand,
    PublishHealth,
    PublishSnapshot,
    ReopenBus,
    SendFrames,
)
from smavenus.gateway.frameset import FrameSet, build_frame_set, sent_limits
from smavenus.gateway.health import Counters, Throttle
from smavenus.gateway.link import LinkChange, LinkSupervisor
from smavenus.gateway.persist import PersistSchedule
from smavenus.gateway.policy import BmsOutput, CommandPolicy, ResumePoint, Transition
from smavenus.gateway.settings import GatewaySettings
from smavenus.gateway.snapshot import Cycle, SnapshotAssembler
from smavenus.ipc.messages import BmsCommand, GatewayHealth, SiSnapshot
from smavenus.protocol import decode
from smavenus.protocol.specs import SI_FRAMES

#: Repeated faults (malformed frames, refused commands, failed sends) are logged at most
#: once per this interval per kind, with the count of those not logged.
LOG_THROTTLE_S = 60.0
#: SI CAN ID → its field name in :class:`SiSnapshot`, from the frame table.
SI_FIELD_BY_ID: Mapping[int, str] = {spec.can_id: spec.name for spec in SI_FRAMES}
SI_BATTERY_STATUS_ID = 0x305


class GatewayCore:
    def __init__(
        self,
        settings: GatewaySettings,
        now: Instant,
        resume: ResumePoint | None = None,
        resume_problem: str | None = None,
    ) -> None:
        self.settings = settings
        self.counters = Counters()
        self.policy = CommandPolicy(settings, now.monotonic, resume, resume_problem)
        self.link = LinkSupervisor(
            settings.reopen_backoff_initial_s,
            settings.reopen_backoff_max_s,
            settings.bus_off_reopen_after_s,
            send_stall_s=settings.send_stall_reopen_after_s,
            si_silent_s=settings.si_silent_reopen_after_s,
            stream_period_s=settings.bms_period_s,
            watchdog_slack_s=settings.watchdog_stall_s,
            open_timeout_s=settings.open_timeout_s,
        )
        self._assembler = SnapshotAssembler(settings.snapshot_gap_s, settings.si_absent_after_s)
        self._persist = PersistSchedule(settings.persist_interval_s)
        self._throttle = Throttle(LOG_THROTTLE_S)
        self._si_present = False
        self._last_si_at = -math.inf
        self._next_send_at = math.inf
        self._next_health_at = now.monotonic
        self._snapshot_seq = 0
        self._health_seq = 0
        self._latest_snapshot: SiSnapshot | None = None
        self._last_output: BmsOutput | None = None
        self._clamped_fields: frozenset[str] = frozenset()
        #: Counters kept by the transport (frames filtered before the core, adapter errors).
        self.transport_foreign = 0
        self.transport_errors = 0

    # -- start and time -------------------------------------------------------------------

    def start(self) -> list[Action]:
        t = self.policy.start_transition
        level: Literal["info", "warning"] = "warning" if t.new == "cold_start" else "info"
        return [LogEvent("command_source", level, {"source": t.new, "reason": t.reason})]

    def next_deadline(self) -> float:
        return min(
            self.policy.next_deadline(),
            self._assembler.next_deadline(),
            self._last_si_at + self.settings.si_absent_after_s if self._si_present else math.inf,
            self.link.next_deadline(),
            self._next_send_at,
            self._next_health_at,
        )

    def on_timer(self, now: Instant) -> list[Action]:
        t = now.monotonic
        events: list[Action] = []
        transition = self.policy.update(t)
        if transition is not None:
            events += self._transition_events(transition, now)
        for step in self.policy.escalations(t):
            fields = {"source": self.policy.source, "step": step.name, "effect": step.effect}
            events += [LogEvent("stale_escalated", "warning", {**fields, "after_s": step.after_s})]
        cycle = self._assembler.on_timer(t)
        if cycle is not None:
            events.append(self._publish_cycle(cycle, now))
        if self._si_present and t >= self._last_si_at + self.settings.si_absent_after_s:
            events += self._si_absent(now)
        if self.link.bus_off_expired(t):
            reason = f"bus-off for {self.settings.bus_off_reopen_after_s} s"
            events += [CloseBus(reason), *self.on_bus_lost(now, reason)]
        if self.link.reopen_due(t):
            self.link.opening(t)
            events.append(ReopenBus("retry"))
        stuck = self.link.no_progress(t)
        if stuck is not None:
            events += [CloseBus(stuck), *self.on_bus_lost(now, stuck)]
        if t >= self._next_send_at:
            events += self._send_due(now)
        if t >= self._next_health_at:
            events.append(self._health_event(now))
        return events

    # -- frames in ------------------------------------------------------------------------

    def on_frame(
        self,
        can_id: int,
        data: bytes,
        now: Instant,
        *,
        extended: bool = False,
        remote: bool = False,
    ) -> list[Action]:
        """A data frame from the bus (error frames go to :meth:`on_error_frame`)."""
        name = None if extended or remote else SI_FIELD_BY_ID.get(can_id)
        if name is None:
            self.counters.frames_foreign += 1
            return []
        t = now.monotonic
        self.counters.last_seen[can_id] = t
        try:
            value = decode(can_id, data)
        except FrameDecodeError as exc:
            return self._malformed(can_id, data, exc, now)
        self.counters.frames_received += 1
        events: list[Action] = []
        if not self._si_present:
            self._si_present = True
            events.append(LogEvent("si_present", "info", {"first_frame": f"0x{can_id:03X}"}))
            events.append(self._health_event(now))
        self._last_si_at = t
        self.link.si_heard(t)
        if can_id == SI_BATTERY_STATUS_ID:
            self.policy.observe_battery_current(value.current_a, t)
            note = self.policy.observe_soc_echo(value.soc_pct)
            if note is not None:
                events.append(LogEvent("cold_start_soc", "info", {"note": note}))
        for cycle in self._assembler.add(can_id, value, t):
            events.append(self._publish_cycle(cycle, now))
        return events

    def _malformed(
        self, can_id: int, data: bytes, exc: FrameDecodeError, now: Instant
    ) -> list[Action]:
        self.counters.frames_malformed += 1
        suppressed = self._throttle.admit(("malformed", can_id, len(data)), now.monotonic)
        if suppressed is None:
            return []
        fields = {"can_id": f"0x{can_id:03X}", "data": data.hex(), "reason": exc.reason}
        return [LogEvent("si_frame_malformed", "warning", {**fields, "suppressed": suppressed})]

    def on_error_frame(self, error_class: int, data: bytes, now: Instant) -> list[Action]:
        change = self.link.error_frame(now.monotonic, error_class, data)
        return [] if change is None else self._link_events(change, now)

    # -- commands in ----------------------------------------------------------------------

    def on_command(self, command: BmsCommand, now: Instant) -> list[Action]:
        """A validated command from the current owner of the controller's bus name."""
        refusal, transition = self.policy.accept(command, now.monotonic)
        if refusal is not None:
            return self.on_command_refused("rejected", refusal, now)
        self.counters.commands_accepted += 1
        events: list[Action] = []
        if transition is not None:
            events += self._transition_events(transition, now)
        if self._persist.should_write(command, now.monotonic):
            events.append(PersistCommand(command))
        return events

    def on_command_refused(
        self, kind: Literal["rejected", "unauthorized"], detail: str, now: Instant
    ) -> list[Action]:
        """A Command signal that changes nothing: invalid, stale, out of order, or not ours."""
        if kind == "unauthorized":
            self.counters.commands_unauthorized += 1
        else:
            self.counters.commands_rejected += 1
        suppressed = self._throttle.admit(("command", kind), now.monotonic)
        if suppressed is None:
            return []
        return [
            LogEvent(
                "command_refused",
                "warning",
                {"kind": kind, "reason": detail, "suppressed": suppressed},
            )
        ]

    # -- the link -------------------------------------------------------------------------

    def on_bus_opening(self, now: Instant) -> None:
        self.link.opening(now.monotonic)

    def on_bus_opened(self, now: Instant) -> list[Action]:
        events = self._link_events(self.link.opened(now.monotonic), now)
        # The first frame set leaves at once: a cold start must reach the SI within a second.
        self._next_send_at = now.monotonic
        return events + self._send_due(now)

    def on_bus_open_failed(self, now: Instant, reason: str) -> list[Action]:
        change = self.link.open_failed(now.monotonic, reason)
        if change is not None:
            return self._link_events(change, now)
        # The outage is already logged; each further attempt is not worth a line at info
        # level (an hour's outage would be hundreds) but says, at debug level, why the bus
        # does not come back (an interface still down, a wrong bitrate).
        retry_in_s = round(self.link.next_deadline() - now.monotonic, 3)
        fields = {"reason": reason, "retry_in_s": retry_in_s}
        return [LogEvent("can_bus_reopen_failed", "debug", fields)]

    def on_bus_lost(self, now: Instant, reason: str) -> list[Action]:
        """The edge found the open bus dead (and has closed it); a re-open follows after backoff."""
        change = self.link.lost(now.monotonic, reason)
        return [] if change is None else self._link_events(change, now)

    def on_frames_scheduled(self, count: int, of: int | None = None) -> None:
        """``count`` frames of the set of ``of`` just sent went to the driver (or kernel job).

        The edge reports this right after carrying out :class:`SendFrames`; a set that did
        not go whole takes back the progress the link supervision had counted for it.
        """
        self.counters.frames_scheduled += count
        if of is not None:
            self.link.handed(count == of)

    def watchdog_deadline(self) -> float:
        """By when the frame stream (or the link's recovery) must next show progress."""
        return self.link.watchdog_deadline()

    def on_send_failed(self, can_id: int, reason: str, now: Instant) -> list[Action]:
        self.counters.frames_dropped += 1
        suppressed = self._throttle.admit(("send", can_id), now.monotonic)
        if suppressed is None:
            return []
        return [
            LogEvent(
                "bms_send_failed",
                "warning",
                {"can_id": f"0x{can_id:03X}", "reason": reason, "suppressed": suppressed},
            )
        ]

    # -- outputs --------------------------------------------------------------------------

    def frames_now(self, now: Instant) -> FrameSet:
        """The frame set the next slot would build, built now and changing nothing: for a
        sender whose timing the kernel keeps, early new data shortens a command's way."""
        return build_frame_set(self.policy.output(now.monotonic), self.settings.identity)

    def safe_frames(self, now: Instant) -> FrameSet:
        """What a watchdog sends when the loop hangs (see :meth:`CommandPolicy.safe_output`)."""
        return build_frame_set(self.policy.safe_output(now.monotonic), self.settings.identity)

    def latest_snapshot(self, now: Instant) -> SiSnapshot:
        """The last published snapshot; before the first, an empty one with ``seq`` 0."""
        if self._latest_snapshot is not None:
            return self._latest_snapshot
        return SiSnapshot(seq=0, sent_monotonic=now.monotonic, sent_unix=now.unix, si_present=False)

    def health(self, now: Instant) -> GatewayHealth:
        c = self.counters
        return GatewayHealth(
            seq=self._health_seq,
            sent_monotonic=now.monotonic,
            sent_unix=now.unix,
            interface=self.settings.interface,
            channel=self.settings.channel,
            bus_state=self.link.state,
            si_present=self._si_present,
            frames_received=c.frames_received,
            frames_scheduled=c.frames_scheduled,
            frames_dropped=c.frames_dropped,
            frames_malformed=c.frames_malformed,
            frames_foreign=c.frames_foreign + self.transport_foreign,
            last_seen_monotonic={f"0x{k:03X}": v for k, v in sorted(c.last_seen.items())},
            command_source=self.policy.source,
            command_age_s=self.policy.command_age_s(now.monotonic),
            sent=None if self._last_output is None else sent_limits(self._last_output),
            commands_accepted=c.commands_accepted,
            commands_rejected=c.commands_rejected,
            commands_unauthorized=c.commands_unauthorized,
            bus_reopens=self.link.reopens,
            adapter_errors=self.transport_errors,
        )

    # -- internals ------------------------------------------------------------------------

    def _send_due(self, now: Instant) -> list[Action]:
        t, period = now.monotonic, self.settings.bms_period_s
        if not self.link.can_send:
            self._next_send_at = math.inf  # re-armed by on_bus_opened
            return []
        # A fixed grid, not "now + period": late wake-ups do not accumulate into drift, and a
        # loop late by more than a period skips the missed slots instead of bursting them.
        missed = max(0, math.floor((t - self._next_send_at) / period))
        self._next_send_at += (missed + 1) * period
        output = self.policy.output(t)
        events: list[Action] = [SendFrames(build_frame_set(output, self.settings.identity), output)]
        self.link.sending(t)
        self._last_output = output
        clamped = frozenset(output.clamped)
        if clamped != self._clamped_fields:
            self._clamped_fields = clamped
            if clamped:
                events.append(
                    LogEvent("command_clamped", "warning", {"fields": dict(output.clamped)})
                )
            else:
                events.append(LogEvent("command_within_limits", "info"))
        if missed:
            suppressed = self._throttle.admit("late", t)
            if suppressed is not None:
                events.append(
                    LogEvent(
                        "bms_send_late",
                        "warning",
                        {"missed_periods": missed, "suppressed": suppressed},
                    )
                )
        return events

    def _transition_events(self, transition: Transition, now: Instant) -> list[Action]:
        level: Literal["info", "warning"] = (
            "warning" if transition.new in ("stale", "cold_start") else "info"
        )
        fields = {"old": transition.old, "new": transition.new, "reason": transition.reason}
        return [LogEvent("command_source_changed", level, fields), self._health_event(now)]

    def _link_events(self, change: LinkChange, now: Instant) -> list[Action]:
        fields: dict[str, Any] = {"old": change.old, "new": change.new, "reason": change.reason}
        for key in ("retry_in_s", "down_for_s", "attempts"):
            value = getattr(change, key)
            if value is not None:
                fields[key] = value
        level: Literal["info", "warning"] = "warning" if change.level == "warning" else "info"
        return [LogEvent(change.event, level, fields), self._health_event(now)]

    def _si_absent(self, now: Instant) -> list[Action]:
        self._si_present = False
        why = f"no SI status frame for {self.settings.si_absent_after_s} s"
        cycle = Cycle(self._assembler.latest, frozenset(), "gap")
        return [
            LogEvent("si_absent", "warning", {"reason": why}),
            self._publish_cycle(cycle, now),
            self._health_event(now),
        ]

    def _publish_cycle(self, cycle: Cycle, now: Instant) -> PublishSnapshot:
        self._snapshot_seq += 1
        stamped = {
            SI_FIELD_BY_ID[can_id]: {"received_monotonic": r.at, "value": r.value}
            for can_id, r in cycle.frames.items()
        }
        snapshot = SiSnapshot.model_validate(
            {
                "seq": self._snapshot_seq,
                "sent_monotonic": now.monotonic,
                "sent_unix": now.unix,
                "si_present": self._si_present,
                **stamped,
            }
        )
        self._latest_snapshot = snapshot
        return PublishSnapshot(snapshot)

    def _health_event(self, now: Instant) -> PublishHealth:
        self._health_seq += 1
        self._next_health_at = now.monotonic + self.settings.health_period_s
        return PublishHealth(self.health(now))
