"""What the simulated Sunny Island did, and when: the record tests and the exit summary read.

Every SI reaction (F952, W952, alarm raised/cleared, standby, restart, quick stop, grid
connect/disconnect, …) is a :class:`SimEvent` stamped with simulated time. Every BMS frame
that reaches the adapter is also stamped (:attr:`Recorder.bms_arrivals`), so a test can ask
for the longest gap the gateway left, whatever the SI made of it. The Venus side's changes
are recorded too: the BMS's state and limits, and DVCC's writes (:class:`DvccRecord` counts
every cycle; an event only when what was written changed).
"""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from itertools import pairwise
from types import MappingProxyType
from typing import Any


class EventKind(enum.Enum):
    """Event names (snake_case, as they appear in the JSON lines file)."""

    STARTED = "started"  #: operating (inverting or on grid)
    STANDBY = "standby"  #: stopped; ``cause`` says why
    SHUT_DOWN = "shut_down"  #: switched off completely (battery protection level 3)
    CAUSE_CLEARED = "cause_cleared"  #: one reason to stay stopped went away
    F952_RAISED = "f952_raised"  #: no watched BMS frame for bms_timeout_s
    F952_CLEARED = "f952_cleared"
    W952_RAISED = "w952_raised"  #: no 0x351 for limits_timeout_s
    W952_CLEARED = "w952_cleared"
    BMS_DEFAULTS_RESTORED = "bms_defaults_restored"  #: CVL 54 V, CCL/DCL 0 A, SoC 0 %, ...
    ALARM_RAISED = "alarm_raised"  #: 0x35A arrive bit; ``code`` F920…
    ALARM_CLEARED = "alarm_cleared"  #: 0x35A leave bit
    WARNING_RAISED = "warning_raised"
    WARNING_CLEARED = "warning_cleared"
    QUICK_STOP = "quick_stop"  #: 0x00F
    REMOTE_ON = "remote_on"  #: 0x35C on
    REMOTE_OFF = "remote_off"  #: 0x35C off
    DISCHARGE_VOLTAGE_STOP = "discharge_voltage_stop"  #: battery below DVL
    BATTERY_PROTECTION = "battery_protection"  #: ``level`` 1-3
    GRID_REQUESTED = "grid_requested"
    GRID_RELEASED = "grid_released"
    GRID_CONNECTED = "grid_connected"  #: AC2 relay closed (GdOn)
    GRID_DISCONNECTED = "grid_disconnected"
    AC2_VALID = "ac2_valid"  #: voltage and frequency on AC2 within limits (ExtVfOk)
    AC2_LOST = "ac2_lost"
    BMS_VALUE_REJECTED = "bms_value_rejected"  #: out of SMA's range: last good value kept
    BMS_FRAME_REJECTED = "bms_frame_rejected"  #: malformed BMS frame
    BMS_GAP = "bms_gap"  #: a BMS frame arrived after a gap longer than gap_report_s
    SCENARIO = "scenario"  #: a scenario or control event was applied
    # -- the Venus side (``[bms]``, ``[dvcc]``) --------------------------------------------
    BMS_STATE = "bms_state"  #: the battery BMS's service changed state (vanish, lie, …)
    BMS_LIMITS = "bms_limits"  #: the BMS's limits, permissions or alarms changed
    DVCC_WRITE = "dvcc_write"  #: DVCC wrote other values (or to another vebus) than before
    DVCC_WRITE_FAILED = "dvcc_write_failed"  #: DVCC could not write (first failure of a run)


#: The BMS frame IDs (frames an external BMS may send to the SI).
BMS_IDS = frozenset({0x351, 0x355, 0x356, 0x35A, 0x35B, 0x35E, 0x35F, 0x00F, 0x35C})


@dataclass(frozen=True, slots=True)
class SimEvent:
    time_s: float
    kind: EventKind
    detail: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "detail", MappingProxyType(dict(self.detail)))

    def to_dict(self) -> dict[str, Any]:
        return {"t_s": round(self.time_s, 6), "event": self.kind.value, **self.detail}


@dataclass
class DvccRecord:
    """DVCC's writes: how many cycles wrote, the last values and where, failures."""

    writes: int = 0
    failures: int = 0
    last_time_s: float | None = None
    last_service: str | None = None
    last_values: dict[str, Any] = field(default_factory=dict)
    failing: str | None = None  #: the reason of the ongoing failure, if any

    def to_dict(self) -> dict[str, Any]:
        return {
            "writes": self.writes,
            "failures": self.failures,
            "last_t_s": None if self.last_time_s is None else round(self.last_time_s, 3),
            "last_service": self.last_service,
            "last_values": dict(self.last_values),
            "failing": self.failing,
        }


EventListener = Callable[[SimEvent], None]
#: Called with (time_s, can_id) for every BMS frame that reaches the adapter.
ArrivalListener = Callable[[float, int], None]
#: Events that carry the battery's truth at the moment (``truth``): what the SI reacted to
#: can then be told from what the battery really was.
ANNOTATED_KINDS = frozenset({EventKind.ALARM_RAISED, EventKind.WARNING_RAISED})


class Recorder:
    """Events and BMS frame arrival times, in order."""

    def __init__(self, gap_report_s: float = 2.5) -> None:
        self.events: list[SimEvent] = []
        self.bms_arrivals: list[tuple[float, int]] = []
        self.gap_report_s = gap_report_s
        self._listeners: list[EventListener] = []
        self._arrival_listeners: list[ArrivalListener] = []
        self.dvcc = DvccRecord()
        #: Gives the ``truth`` detail of :data:`ANNOTATED_KINDS` events (the simulation's).
        self.truth: Callable[[], dict[str, Any]] | None = None

    def subscribe(self, listener: EventListener) -> None:
        self._listeners.append(listener)

    def subscribe_arrivals(self, listener: ArrivalListener) -> None:
        self._arrival_listeners.append(listener)

    def record(self, time_s: float, kind: EventKind, **detail: Any) -> SimEvent:
        if kind in ANNOTATED_KINDS and self.truth is not None:
            detail["truth"] = self.truth()
        event = SimEvent(time_s, kind, detail)
        self.events.append(event)
        for listener in self._listeners:
            listener(event)
        return event

    def bms_frame(self, time_s: float, can_id: int) -> None:
        if self.bms_arrivals:
            gap = time_s - self.bms_arrivals[-1][0]
            if gap > self.gap_report_s:
                self.record(time_s, EventKind.BMS_GAP, gap_s=round(gap, 6), can_id=hex(can_id))
        self.bms_arrivals.append((time_s, can_id))
        for listener in self._arrival_listeners:
            listener(time_s, can_id)

    def dvcc_cycle(
        self,
        time_s: float,
        service: str | None,
        written: Mapping[str, Any],
        failure: str | None = None,
    ) -> None:
        """One DVCC cycle wrote ``written`` into ``service`` (and ``failure`` went wrong).

        Every cycle is counted; an event is recorded only when what was written (or where)
        changed, and when a failure starts or changes reason, so a run that writes every 3 s
        for hours stays a short record.
        """
        record = self.dvcc
        if written:
            record.writes += 1
            record.last_time_s = time_s
            if (record.last_service, record.last_values) != (service, dict(written)):
                record.last_service, record.last_values = service, dict(written)
                self.record(time_s, EventKind.DVCC_WRITE, service=service, values=dict(written))
        if failure is not None:
            record.failures += 1
            if failure != record.failing:
                self.record(time_s, EventKind.DVCC_WRITE_FAILED, reason=failure)
        record.failing = failure

    # -- queries --------------------------------------------------------------------------

    def of_kind(self, kind: EventKind) -> list[SimEvent]:
        return [e for e in self.events if e.kind is kind]

    def first(self, kind: EventKind) -> SimEvent | None:
        return next((e for e in self.events if e.kind is kind), None)

    def longest_bms_gap_s(
        self, *, since_s: float = 0.0, until_s: float | None = None, can_id: int | None = None
    ) -> float:
        """Longest time between BMS frames (of ``can_id`` if given) within the window.

        The window's edges count: from ``since_s`` to the first frame, and from the last
        frame to ``until_s`` when given (an ongoing silence is a gap too).
        """
        times = [
            t
            for t, cid in self.bms_arrivals
            if (can_id is None or cid == can_id) and t >= since_s
            if until_s is None or t <= until_s
        ]
        edges = [since_s, *times] + ([until_s] if until_s is not None else [])
        return max((b - a for a, b in pairwise(edges)), default=0.0)

    def summary(self, now_s: float) -> dict[str, Any]:
        counts = Counter(e.kind.value for e in self.events if e.kind is not EventKind.SCENARIO)
        firsts = {
            kind.value: round(event.time_s, 3)
            for kind in EventKind
            if kind is not EventKind.SCENARIO
            for event in [self.first(kind)]
            if event is not None
        }
        first_frame = self.bms_arrivals[0][0] if self.bms_arrivals else None
        return {
            "sim_time_s": round(now_s, 3),
            "events": dict(sorted(counts.items())),
            "first_at_s": firsts,
            "bms_frames_received": len(self.bms_arrivals),
            "first_bms_frame_s": None if first_frame is None else round(first_frame, 3),
            "longest_bms_gap_s": round(
                self.longest_bms_gap_s(since_s=first_frame or 0.0, until_s=now_s), 3
            )
            if first_frame is not None
            else None,
            **({"dvcc": self.dvcc.to_dict()} if self.dvcc.writes or self.dvcc.failures else {}),
        }
