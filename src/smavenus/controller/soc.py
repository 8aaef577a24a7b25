"""The SoC the controller reports to the SI, and why.

The SI does not compute a SoC in LiIon_Ext-BMS mode: its battery protection (223.05-07
BatPro1-3Soc), its self-consumption logic and its SoC-based grid start (233.01-04) all act
on the SoC we send. So the number matters:

* **Monitor fresh**: its SoC, plus an optional correction (``soc_reset_at_full``): when
  absorption ends on tail current the battery is full; if the monitor reads less, the
  difference is added. The correction **fades as the battery discharges** (in proportion to
  the monitor's SoC, so it is gone at 0 %: a wrong correction can never hide an empty
  battery), never lifts the SoC above 100 %, and disappears once the monitor itself reaches
  100 %.
* **Monitor stale or without a SoC**: the last SoC, carried forward by counting the
  current of the source in use (the SI's own current when the monitor is gone). The SI does
  not see DC-coupled chargers, so this under-estimates while they charge: the safe side.
* **Never known** (a start without a monitor): the SoC the SI echoes back (the one the
  gateway sent last), else ``[gateway] fallback_soc_pct``.
* **Never 0 %** unless the battery is truly empty (voltage at or below the discharge floor,
  or a cell at its alarm voltage) **for** ``empty_hold_s``: 0 % makes the SI switch off
  completely (SMA-TI §2), which a drifting monitor or one sagging sample must not cause.
"""

from __future__ import annotations

from dataclasses import dataclass

from smavenus.config import AppConfig
from smavenus.controller.sources import Measurements

#: Longest interval integrated in one go (a stalled loop must not add an hour at once).
MAX_INTEGRATION_S = 10.0


@dataclass
class SocEstimator:
    soc_pct: float | None = None
    source: str = "unknown"
    #: The correction at the reset, and the monitor's SoC then (the correction fades with it).
    offset_pct: float = 0.0
    offset_at_soc_pct: float = 100.0
    empty_since: float | None = None
    _last_at: float | None = None

    def update(
        self, m: Measurements, now: float, cfg: AppConfig, si_echo_pct: float | None
    ) -> float:
        dt_s = (
            0.0 if self._last_at is None else min(max(now - self._last_at, 0.0), MAX_INTEGRATION_S)
        )
        self._last_at = now
        if m.source in ("battery_monitor", "bms") and m.soc_pct is not None:
            if m.soc_pct >= 100.0:
                self.offset_pct = 0.0
            offset = self.offset_now(m.soc_pct)
            self.soc_pct = _clamp(m.soc_pct + offset)
            self.source = m.source if offset == 0 else f"{m.source}_reset"
        elif self.soc_pct is not None and m.current_a is not None:
            delta = 100.0 * m.current_a * dt_s / 3600.0 / cfg.battery.capacity_ah
            self.soc_pct = _clamp(self.soc_pct + delta)
            self.source = "estimated"
        elif self.soc_pct is None:
            if si_echo_pct is not None:
                self.soc_pct, self.source = _clamp(si_echo_pct), "si_echo"
            else:
                self.soc_pct, self.source = cfg.gateway.fallback_soc_pct, "fallback"
        return self.soc_pct

    def offset_now(self, monitor_soc_pct: float) -> float:
        """The correction at this monitor SoC: in proportion to it, never above 100 % in all."""
        if self.offset_pct <= 0.0:
            return 0.0
        share = min(max(monitor_soc_pct, 0.0) / max(self.offset_at_soc_pct, 1e-9), 1.0)
        return max(min(self.offset_pct * share, 100.0 - monitor_soc_pct), 0.0)

    def reset_to_full(self, monitor_soc_pct: float | None) -> float:
        """Absorption ended on tail current: the battery is full. Returns the correction."""
        if monitor_soc_pct is not None:
            self.offset_pct = max(100.0 - monitor_soc_pct, 0.0)
            self.offset_at_soc_pct = max(monitor_soc_pct, 1e-9)
        self.soc_pct = 100.0
        return self.offset_pct

    def empty(self, m: Measurements, now: float, cfg: AppConfig) -> bool:
        """Truly empty, and for at least ``empty_hold_s`` (one sagging sample is not empty)."""
        if not truly_empty(m, cfg):
            self.empty_since = None
            return False
        if self.empty_since is None:
            self.empty_since = now
        return now - self.empty_since >= cfg.controller.empty_hold_s


def truly_empty(m: Measurements, cfg: AppConfig) -> bool:
    if m.voltage_v is not None and m.voltage_v <= cfg.battery.min_discharge_voltage_v:
        return True
    return m.min_cell_v is not None and m.min_cell_v <= cfg.controller.cell_low_voltage_alarm_v


def _clamp(soc: float) -> float:
    return min(max(soc, 0.0), 100.0)
