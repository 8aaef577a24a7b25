"""Assembling the SI's status frames into one coherent snapshot per SI cycle.

The SI sends 0x300-0x30A about once a second, and may leave a frame out for a cycle
(SMA-TI §6). Publishing one signal per frame would make every subscriber reassemble the
cycle; publishing on a fixed timer would add up to a second of latency. Instead a cycle
closes as soon as it can be known to be complete:

1. **complete**: every ID heard within the expect window (``si_absent_after_s``) has arrived
   in this cycle. In steady state this fires on the cycle's last frame, so the snapshot
   leaves with no added delay. Only used once the cycle has been *learned* (rule 2 fired
   once), so the first, partial view after start-up does not produce one snapshot per frame.
2. **repeat**: an ID arrives that this cycle already has: the SI has started the next cycle.
3. **gap**: no SI frame for ``snapshot_gap_s``: a frame was skipped (or the set shrank).

A snapshot carries the *latest* value of every frame with the time it was received, so a
skipped frame shows as an older value, never as a hole.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal

CloseReason = Literal["complete", "repeat", "gap"]


@dataclass(frozen=True, slots=True)
class Received:
    at: float  #: monotonic receive time
    value: Any  #: the decoded frame model


@dataclass(frozen=True, slots=True)
class Cycle:
    """A closed SI cycle: the latest value of every SI frame at the moment it closed."""

    frames: Mapping[int, Received]
    ids: frozenset[int]  #: the IDs that arrived in this cycle
    closed_by: CloseReason


class SnapshotAssembler:
    def __init__(self, gap_s: float, expect_window_s: float) -> None:
        self._gap_s = gap_s
        self._window_s = expect_window_s
        self._latest: dict[int, Received] = {}
        self._current: set[int] = set()
        self._last_at = -math.inf
        self._learned = False

    @property
    def latest(self) -> Mapping[int, Received]:
        return MappingProxyType(self._latest)

    def add(self, can_id: int, value: Any, now: float) -> list[Cycle]:
        """Take one decoded SI frame; return the cycles this closes (usually none or one)."""
        closed: list[Cycle] = []
        if can_id in self._current:
            self._learned = True
            closed.append(self._close("repeat"))
        self._latest[can_id] = Received(now, value)
        self._current.add(can_id)
        self._last_at = now
        if self._learned and self._current >= self._expected(now):
            closed.append(self._close("complete"))
        return closed

    def on_timer(self, now: float) -> Cycle | None:
        if self._current and now >= self._last_at + self._gap_s:
            return self._close("gap")
        return None

    def next_deadline(self) -> float:
        return self._last_at + self._gap_s if self._current else math.inf

    def _expected(self, now: float) -> set[int]:
        horizon = now - self._window_s
        return {can_id for can_id, r in self._latest.items() if r.at >= horizon}

    def _close(self, reason: CloseReason) -> Cycle:
        cycle = Cycle(MappingProxyType(dict(self._latest)), frozenset(self._current), reason)
        self._current = set()
        return cycle
