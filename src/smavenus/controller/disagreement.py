"""Two live sources that disagree about the pack voltage: a latched fault, not a vote.

When the battery monitor (or the BMS) and the SI's corrected terminal voltage differ by
``voltage_mismatch_v`` or more for ``alarm_delay_s``, one of them is wrong and nobody knows
which: charging is blocked, discharge limited and SMA's *general* warning raised. The fault
is **latched**: it clears only after every pair of live sources has agreed within
``voltage_mismatch_v`` less the hysteresis for ``mismatch_clear_s`` without a break — or
once fewer than two sources have been left to compare for ``alarm_delay_s`` (one vanished or
froze: the remaining one protects alone, and the missing monitor degrades charging on its
own account; not at once, since a restarted controller reads its sources one by one).

Orion, Tesla and Batrium BMSs treat a pack-voltage mismatch the same way; nobody resumes
charging on the sensor that happens to look safe (reference §4).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

from smavenus.config import AppConfig
from smavenus.events import LogEvent

#: The hysteresis below the threshold that counts as agreement (a fraction of it).
AGREEMENT_FRACTION = 0.75


@dataclass
class Disagreement:
    latched: bool = False
    #: Since when a pair has differed past the threshold (not yet latched).
    pending_since: float | None = None
    #: Since when every pair has agreed (latched only).
    agreeing_since: float | None = None
    pair: str = ""
    difference_v: float | None = None
    #: Since when fewer than two sources have been live (latched only).
    alone_since: float | None = None

    def update(
        self, voltages: dict[str, float], now: float, cfg: AppConfig, events: list[LogEvent]
    ) -> bool:
        """Judge this cycle's live pack voltages; True while the fault is latched."""
        ctl = cfg.controller
        worst: tuple[float, str] | None = None
        for (a, va), (b, vb) in combinations(sorted(voltages.items()), 2):
            if worst is None or abs(va - vb) > worst[0]:
                worst = (abs(va - vb), f"{a}/{b}")
        if worst is None:  # fewer than two sources: nothing to compare
            return self._alone(now, cfg, events)
        self.alone_since = None
        difference, pair = worst
        self.difference_v = difference
        if not self.latched:
            if difference < ctl.voltage_mismatch_v:
                self.pending_since = None
                return False
            if self.pending_since is None:
                self.pending_since = now
            if now - self.pending_since < ctl.alarm_delay_s:
                return False
            self.latched, self.pair, self.agreeing_since = True, pair, None
            events.append(
                LogEvent(
                    "sensor_disagreement",
                    "warning",
                    {"pair": pair, "difference_v": round(difference, 3),
                     "voltages": {k: round(v, 3) for k, v in voltages.items()},
                     "threshold_v": ctl.voltage_mismatch_v},
                )
            )  # fmt: skip
            return True
        if difference <= ctl.voltage_mismatch_v * AGREEMENT_FRACTION:
            if self.agreeing_since is None:
                self.agreeing_since = now
            if now - self.agreeing_since >= ctl.mismatch_clear_s:
                self._clear(now, events, f"agreed for {ctl.mismatch_clear_s:g} s")
        else:
            self.agreeing_since = None
        return self.latched

    def _alone(self, now: float, cfg: AppConfig, events: list[LogEvent]) -> bool:
        """Fewer than two live sources: a latch clears after ``alarm_delay_s`` of that (not at
        once: after a restart, or during a slow rescan, a source is briefly absent)."""
        self.pending_since = None
        if self.latched:
            self.alone_since = now if self.alone_since is None else self.alone_since
            if now - self.alone_since >= cfg.controller.alarm_delay_s:
                self._clear(now, events, "fewer than two live sources")
        return self.latched

    def _clear(self, now: float, events: list[LogEvent], why: str) -> None:
        self.latched, self.pending_since, self.agreeing_since = False, None, None
        self.alone_since = None
        events.append(
            LogEvent("sensor_disagreement_cleared", "info", {"pair": self.pair, "why": why})
        )

    def next_deadline(self, cfg: AppConfig) -> float | None:
        if not self.latched and self.pending_since is not None:
            return self.pending_since + cfg.controller.alarm_delay_s
        if self.latched and self.agreeing_since is not None:
            return self.agreeing_since + cfg.controller.mismatch_clear_s
        if self.latched and self.alone_since is not None:
            return self.alone_since + cfg.controller.alarm_delay_s
        return None
