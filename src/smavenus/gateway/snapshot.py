"""Assembling the SI's status frames into one coherent snapshot per SI cycle.

The SI sends 0x300-0x30A about once a second, and may leave a frame out for a cycle
(SMA-TI §6). Publishing one signal per frame would make every subscriber reassemble the
cycle; publishing on a fixed timer would add up to a second of latency. Instead a cycle
closes as soon as it can be known to be complete:

1. **complete**: every ID heard within the expect window (``si_absent_after_s``) has arrived
   in this cycle. In steady state this fires on the cycle's last frame, so the snapshot
   leaves with no added delay.
2. **repeat**: an ID arrives that this cycle already has: the SI has started the next cycle.
3. **gap**: no SI frame for ``snapshot_gap_s``, or for twice the widest spacing between two
   frames of the last whole cycle if the SI spreads its frames wider than that: a frame was
   skipped (or the set shrank).

Rules 1 and 3 apply only once the cycle has been *learned* (rule 2 fired once). Before that
nothing is known about the SI's set or spacing, and closing on a gap could cut every cycle
into one snapshot per frame; the first snapshot then waits for the second cycle to begin.

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
        #: The widest spacing between two frames of the current cycle, and of the last one
        #: that closed complete or on a repeat (the SI's own rhythm).
        self._widest_step = 0.0
        self._cycle_spacing = 0.0

    @property
    def latest(self) -> Mapping[int, Received]:
        return MappingProxyType(self._latest)

    def add(self, can_id: int, value: Any, now: float) -> list[Cycle]:
        """Take one decoded SI frame; return the cycles this closes (usually none or one)."""
        closed: list[Cycle] = []
        if can_id in self._current:
            self._learned = True
            self._cycle_spacing = self._widest_step
            closed.append(self._close("repeat"))
        if self._current:
            self._widest_step = max(self._widest_step, now - self._last_at)
        self._latest[can_id] = Received(now, value)
        self._current.add(can_id)
        self._last_at = now
        if self._learned and self._current >= self._expected(now):
            self._cycle_spacing = self._widest_step
            closed.append(self._close("complete"))
        return closed

    def on_timer(self, now: float) -> Cycle | None:
        if now >= self.next_deadline():
            return self._close("gap")
        return None

    def next_deadline(self) -> float:
        if not (self._current and self._learned):
            return math.inf
        return self._last_at + max(self._gap_s, 2 * self._cycle_spacing)

    def _expected(self, now: float) -> set[int]:
        horizon = now - self._window_s
        return {can_id for can_id, r in self._latest.items() if r.at >= horizon}

    def _close(self, reason: CloseReason) -> Cycle:
        cycle = Cycle(MappingProxyType(dict(self._latest)), frozenset(self._current), reason)
        self._current = set()
        self._widest_step = 0.0
        return cycle
