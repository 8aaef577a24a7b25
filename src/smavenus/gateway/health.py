"""Counters for the health report, and a throttle that keeps repeated faults to a few log lines."""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field


@dataclass
class Counters:
    frames_received: int = 0  #: SI status frames decoded
    frames_malformed: int = 0  #: frames with an SI ID that failed to decode
    frames_foreign: int = 0  #: frames the core was handed but does not use
    frames_scheduled: int = 0  #: BMS frames handed to the driver or held in the BCM job
    frames_dropped: int = 0  #: sends that failed
    commands_accepted: int = 0
    commands_rejected: int = 0  #: invalid payload, stale on arrival or out of order
    commands_unauthorized: int = 0  #: Command signals not from the controller's name owner
    #: per CAN ID, monotonic time it was last received
    last_seen: dict[int, float] = field(default_factory=dict)


@dataclass
class _Entry:
    logged_at: float
    suppressed: int = 0


class Throttle:
    """Admit the first occurrence of a key, then at most one per ``interval_s``.

    :meth:`admit` returns how many occurrences were suppressed since the last admitted one,
    or ``None`` when this one is suppressed. Time is passed in.
    """

    def __init__(self, interval_s: float) -> None:
        self._interval_s = interval_s
        self._entries: dict[Hashable, _Entry] = {}

    def admit(self, key: Hashable, now: float) -> int | None:
        entry = self._entries.get(key)
        if entry is None:
            self._entries[key] = _Entry(now)
            return 0
        if now - entry.logged_at >= self._interval_s:
            suppressed, entry.suppressed, entry.logged_at = entry.suppressed, 0, now
            return suppressed
        entry.suppressed += 1
        return None
