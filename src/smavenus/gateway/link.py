"""The CAN link's state: open, lost, bus-off, and when to try again.

The edge reports what happened (opened, failed to open, lost, an error frame); this module
decides the bus state, when the next re-open is due (exponential backoff), and which
changes are worth a log line. An outage is logged when it starts and when it ends, never
once per failed attempt: a missing adapter retried for an hour is two lines, not 3,600.

A link that claims to be fine is re-opened all the same when it makes no progress: no whole
BMS frame set handed to the adapter for ``send_stall_s`` (an slcan adapter that answers
"buffer full" forever), or no SI status frame for ``si_silent_s`` (an adapter that stopped
passing frames on; the interval doubles after each such re-open that the SI does not answer,
up to :data:`SI_SILENT_MAX_FACTOR` times, so an SI that is simply off costs a few log lines
an hour). It also tells the watchdog by when the next sign of progress is due
(:meth:`LinkSupervisor.watchdog_deadline`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from smavenus.ipc.messages import BusState

# Error-frame classes (linux/can/error.h), as python-can reports them in arbitration_id.
CAN_ERR_CRTL = 0x004
CAN_ERR_BUSOFF = 0x040
CAN_ERR_RESTARTED = 0x100
# data[1] of a controller error.
CAN_ERR_CRTL_RX_PASSIVE = 0x10
CAN_ERR_CRTL_TX_PASSIVE = 0x20
CAN_ERR_CRTL_ACTIVE = 0x40
#: The SI-silence re-open interval doubles up to this many times its configured value.
SI_SILENT_MAX_FACTOR = 16


def state_from_error_frame(error_class: int, data: bytes) -> BusState | None:
    """The bus state an error frame announces, or ``None`` if it announces none."""
    if error_class & CAN_ERR_BUSOFF:
        return "bus_off"
    if error_class & CAN_ERR_RESTARTED:
        return "active"
    if error_class & CAN_ERR_CRTL and len(data) > 1:
        flags = data[1]
        if flags & (CAN_ERR_CRTL_RX_PASSIVE | CAN_ERR_CRTL_TX_PASSIVE):
            return "passive"
        if flags & CAN_ERR_CRTL_ACTIVE:
            return "active"
    return None


@dataclass(frozen=True, slots=True)
class LinkChange:
    """A change worth one log line."""

    event: str
    level: str
    old: BusState
    new: BusState
    reason: str
    retry_in_s: float | None = None
    down_for_s: float | None = None
    attempts: int | None = None


class LinkSupervisor:
    """Bus state and re-open schedule. Time is passed in (monotonic seconds)."""

    def __init__(
        self,
        backoff_initial_s: float,
        backoff_max_s: float,
        bus_off_limit_s: float,
        *,
        send_stall_s: float = math.inf,
        si_silent_s: float = math.inf,
        stream_period_s: float = 1.0,
        watchdog_slack_s: float = math.inf,
        open_timeout_s: float = 5.0,
    ):
        self._initial = backoff_initial_s
        self._max = backoff_max_s
        self._bus_off_limit = bus_off_limit_s
        self._send_stall = send_stall_s
        self._si_silent = si_silent_s if si_silent_s > 0 else math.inf
        self._si_silent_factor = 1
        self._period = stream_period_s
        self._slack = watchdog_slack_s
        self._open_timeout = open_timeout_s
        self._progress_at = -math.inf  # last whole frame set handed over (or the open)
        self._progress_before = -math.inf
        self._failed_sets = 0
        self._si_at = -math.inf  # last SI frame (or the open)
        self._opening_since = -math.inf
        self.state: BusState = "opening"
        self.reopens = 0
        self._delay = backoff_initial_s
        self._retry_at = math.inf
        self._bus_off_since = math.inf
        self._down_since: float | None = None
        self._attempts = 0
        self._ever_opened = False

    @property
    def can_send(self) -> bool:
        return self.state in ("active", "passive", "bus_off")

    def opening(self, now: float) -> None:
        """An open attempt has started; it ends (or times out) within ``open_timeout_s``."""
        self.state = "opening"
        self._retry_at = math.inf
        self._attempts += 1
        self._opening_since = now

    def opened(self, now: float) -> LinkChange:
        old, self.state = self.state, "active"
        self._delay = self._initial
        self._bus_off_since = math.inf
        self._progress_at = self._si_at = now
        self._failed_sets = 0
        if not self._ever_opened:
            self._ever_opened = True
            self._down_since = None
            self._attempts = 0
            return LinkChange("can_bus_opened", "info", old, "active", "opened")
        down_since, attempts = self._down_since, self._attempts
        self._down_since, self._attempts = None, 0
        self.reopens += 1
        return LinkChange(
            "can_bus_recovered",
            "warning",
            old,
            "active",
            "re-opened",
            down_for_s=None if down_since is None else round(now - down_since, 3),
            attempts=attempts,
        )

    def open_failed(self, now: float, reason: str) -> LinkChange | None:
        """Logged only for the first failure of an outage; later ones are counted."""
        first = self._down_since is None
        if first:
            self._down_since = now
        old, self.state = self.state, "down"
        delay = self._delay
        self._retry_at = now + delay
        self._delay = min(self._delay * 2, self._max)
        if not first:
            return None
        return LinkChange("can_bus_open_failed", "warning", old, "down", reason, retry_in_s=delay)

    def lost(self, now: float, reason: str) -> LinkChange | None:
        """The open bus died (read or write failed, bus-off too long). None if already down."""
        if self.state in ("down", "opening"):
            return None
        old, self.state = self.state, "down"
        self._down_since = now
        self._attempts = 0
        self._bus_off_since = math.inf
        self._retry_at = now + self._delay
        return LinkChange("can_bus_lost", "warning", old, "down", reason, retry_in_s=self._delay)

    def error_frame(self, now: float, error_class: int, data: bytes) -> LinkChange | None:
        new = state_from_error_frame(error_class, data)
        if new is None or new == self.state or not self.can_send:
            return None
        old, self.state = self.state, new
        self._bus_off_since = now if new == "bus_off" else math.inf
        level = "info" if new == "active" else "warning"
        return LinkChange(
            "can_bus_state_changed", level, old, new, f"error frame 0x{error_class:X}"
        )

    def sending(self, now: float) -> None:
        """A frame set is about to be handed over: progress, unless :meth:`handed` denies it."""
        self._progress_before = self._progress_at
        self._progress_at = now

    def handed(self, whole_set: bool) -> None:
        """What the edge reports right after sending: not every frame went (or none did)."""
        if whole_set:
            self._failed_sets = 0
        else:
            self._progress_at = self._progress_before
            self._failed_sets += 1

    def si_heard(self, now: float) -> None:
        self._si_at = now
        self._si_silent_factor = 1

    def no_progress(self, now: float) -> str | None:
        """Why an open link must be re-opened although it reports no error, if it must."""
        if self.state not in ("active", "passive"):
            return None
        # Only sets that were tried and failed count: a loop that woke late is not a stall.
        if self._failed_sets >= 2 and now >= self._progress_at + self._send_stall:
            return f"no whole BMS frame set handed to the adapter for {self._send_stall:g} s"
        silent_s = self._si_silent * self._si_silent_factor
        if now >= self._si_at + silent_s:
            self._si_silent_factor = min(self._si_silent_factor * 2, SI_SILENT_MAX_FACTOR)
            return f"no SI status frame for {silent_s:g} s on a link that reports no error"
        return None

    def watchdog_deadline(self) -> float:
        """By when the next sign of progress is due: frames handed over, or the link's recovery.

        Up: the next whole frame set, one period after the last, plus the slack. Bus-off:
        the re-open it calls for. Down: the retry. Opening: the open's timeout. The
        watchdog acts when this passes; it moves only when the stream or its recovery does.
        """
        if self.state in ("active", "passive"):
            return self._progress_at + self._period + self._slack
        if self.state == "bus_off":
            return self._bus_off_since + self._bus_off_limit + self._slack
        if self.state == "down":
            return self._retry_at + self._slack
        return self._opening_since + self._open_timeout + self._slack

    def reopen_due(self, now: float) -> bool:
        return self.state == "down" and now >= self._retry_at

    def bus_off_expired(self, now: float) -> bool:
        return self.state == "bus_off" and now >= self._bus_off_since + self._bus_off_limit

    def next_deadline(self) -> float:
        if self.state == "down":
            return self._retry_at
        if self.state == "bus_off":
            return self._bus_off_since + self._bus_off_limit
        if self.state in ("active", "passive"):
            return min(
                self._progress_at + self._send_stall,
                self._si_at + self._si_silent * self._si_silent_factor,
            )
        return math.inf
