"""Simulated time against the event loop's clock: ``sim = start + (wall − wall0) × speed``.

Pure arithmetic: the edge passes the loop's time in. The clock may be created paused and
started later (e.g. when the host opens the adapter), so that simulated time 0 is the same
moment in every run of a scenario.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class SimClock:
    speed: float = 1.0
    wall_origin_s: float | None = None  #: None while paused
    sim_origin_s: float = 0.0

    def __post_init__(self) -> None:
        if not self.speed > 0:
            raise ValueError(f"speed must be positive, not {self.speed}")

    @property
    def running(self) -> bool:
        return self.wall_origin_s is not None

    def start(self, wall_s: float) -> None:
        if self.wall_origin_s is None:
            self.wall_origin_s = wall_s

    def sim_time(self, wall_s: float) -> float:
        """Simulated time at ``wall_s`` (the origin while paused; never before the origin)."""
        if self.wall_origin_s is None:
            return self.sim_origin_s
        return self.sim_origin_s + max(0.0, wall_s - self.wall_origin_s) * self.speed

    def wall_time(self, sim_s: float) -> float | None:
        """When (loop time) simulated time reaches ``sim_s``; None while paused."""
        if self.wall_origin_s is None:
            return None
        return self.wall_origin_s + (sim_s - self.sim_origin_s) / self.speed
