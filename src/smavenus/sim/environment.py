"""The world around the Sunny Island: loads, PV, ambient temperature, AC2 — each a ramp in time.

Every input is a named :class:`Ramp` (a step is a ramp of zero length). Scenario events set a
new target; the value moves linearly from wherever it is to the target.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Ramp:
    start_s: float
    from_value: float
    to_value: float
    duration_s: float = 0.0

    def value(self, time_s: float) -> float:
        if self.duration_s <= 0.0 or time_s >= self.start_s + self.duration_s:
            return self.to_value
        if time_s <= self.start_s:
            return self.from_value
        fraction = (time_s - self.start_s) / self.duration_s
        return self.from_value + (self.to_value - self.from_value) * fraction


class Inputs:
    """Named ramped inputs: ``load_w.1``, ``pv_ac_w.2``, ``pv_dc_a``, ``ambient_c``, …"""

    def __init__(self, initial: dict[str, float]) -> None:
        self._ramps = {name: Ramp(0.0, value, value) for name, value in initial.items()}

    def __getitem__(self, name: str) -> Ramp:
        return self._ramps[name]

    def value(self, name: str, time_s: float) -> float:
        return self._ramps[name].value(time_s)

    def set(self, name: str, time_s: float, target: float, ramp_s: float = 0.0) -> None:
        current = self._ramps[name].value(time_s)
        self._ramps[name] = Ramp(time_s, current, target, ramp_s)


def load_key(line: int) -> str:
    return f"load_w.{line}"


def pv_ac_key(line: int) -> str:
    return f"pv_ac_w.{line}"
