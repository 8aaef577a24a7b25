"""The CAN link's state: open, lost, bus-off, and when to try again.

The edge reports what happened (opened, failed to open, lost, an error frame); this module
decides the bus state, when the next re-open is due (exponential backoff), and which
changes are worth a log line. An outage is logged when it starts and when it ends, never
once per failed attempt: a missing adapter retried for an hour is two lines, not 3,600.
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

    def __init__(self, backoff_initial_s: float, backoff_max_s: float, bus_off_limit_s: float):
        self._initial = backoff_initial_s
        self._max = backoff_max_s
        self._bus_off_limit = bus_off_limit_s
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

    def opening(self) -> None:
        """An open attempt has started; no deadline until it ends."""
        self.state = "opening"
        self._retry_at = math.inf
        self._attempts += 1

    def opened(self, now: float) -> LinkChange:
        old, self.state = self.state, "active"
        self._delay = self._initial
        self._bus_off_since = math.inf
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

    def reopen_due(self, now: float) -> bool:
        return self.state == "down" and now >= self._retry_at

    def bus_off_expired(self, now: float) -> bool:
        return self.state == "bus_off" and now >= self._bus_off_since + self._bus_off_limit

    def next_deadline(self) -> float:
        if self.state == "down":
            return self._retry_at
        if self.state == "bus_off":
            return self._bus_off_since + self._bus_off_limit
        return math.inf
