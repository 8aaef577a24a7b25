"""Grid assist: make the SI's own SoC-based grid start connect the grid, through the SoC.

The SI connects its AC2 input (grid or generator) by itself when the SoC we report falls
below 233.01 GdSocTm1Str (and disconnects above 233.02 GdSocTm1Stp; 233.03/04 for its second
time window), provided 232.41 GdSocEna = Enable. We never send commands for this: the only
lever is the SoC. To *request* the grid we report ``grid_request_soc_pct`` (set it below the
SI's GdSocTm1Str and above its 223.05-07 battery-protection SoCs); to stop requesting we
report the true SoC again and the SI disconnects once that passes GdSocTm1Stp. We never
report a SoC *above* the truth: the SI's battery protection must keep working.

Modes (``[controller] grid_assist_mode``):

* ``off``: the true SoC, always.
* ``low_battery``: request while the voltage has been below ``grid_low_voltage_v`` for
  ``grid_low_voltage_delay_s`` or the SoC is below ``grid_low_soc_pct``; stop once both are
  back by the hysteresis. Catches a monitor whose SoC drifted high while the battery is low.
* ``keep_charged``: low_battery, plus request while the SoC is below
  ``keep_charged_soc_pct`` (until it is ``grid_soc_hysteresis_pct`` above): an ESS-like
  minimum SoC kept from the grid.
* ``time_window``: low_battery always, keep_charged only inside the windows
  ``grid_window1/2_start``–``_end``, local time of the system's time zone (Venus
  ``/Settings/System/TimeZone``), e.g. to charge on a night tariff.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, tzinfo

from smavenus.config import AppConfig

MINUTES_PER_DAY = 24 * 60


def minute_of_day(text: str) -> int:
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


def in_window(start: str, end: str, minute: int) -> bool:
    """``[start, end)`` in minutes of the local day; wraps past midnight; start == end: never."""
    first, last = minute_of_day(start), minute_of_day(end)
    if first == last:
        return False
    if first < last:
        return first <= minute < last
    return minute >= first or minute < last


def local_minute(now_unix: float, tz: tzinfo) -> int:
    local = datetime.fromtimestamp(now_unix, tz)
    return local.hour * 60 + local.minute


def in_any_window(cfg: AppConfig, minute: int) -> bool:
    ctl = cfg.controller
    return in_window(ctl.grid_window1_start, ctl.grid_window1_end, minute) or in_window(
        ctl.grid_window2_start, ctl.grid_window2_end, minute
    )


@dataclass
class GridAssist:
    requested: bool = False
    reason: str = "off"
    _low_battery: bool = False
    _low_battery_reason: str = ""
    _keep_charged: bool = False
    _low_voltage_since: float | None = None

    def update(
        self,
        cfg: AppConfig,
        *,
        now: float,
        now_unix: float,
        tz: tzinfo,
        soc_pct: float | None,
        voltage_v: float | None,
        charge_request: bool = False,
    ) -> bool:
        """``charge_request``: the battery BMS asks to be charged (/Info/ChargeRequest)."""
        mode = cfg.controller.grid_assist_mode
        if mode == "off":
            self._low_battery = self._keep_charged = False
            self._low_voltage_since = None
            self.requested, self.reason = False, "off"
            return False
        self._update_low_battery(cfg, now, soc_pct, voltage_v)
        window_open = mode == "keep_charged" or (
            mode == "time_window" and in_any_window(cfg, local_minute(now_unix, tz))
        )
        self._update_keep_charged(cfg, window_open, soc_pct)
        self.requested = self._low_battery or self._keep_charged or charge_request
        if charge_request and not self._low_battery:
            self.reason = "bms_charge_request"
        elif self._low_battery:
            self.reason = self._low_battery_reason
        elif self._keep_charged:
            self.reason = mode
        else:
            self.reason = "not_needed" if window_open or mode != "time_window" else "outside_window"
        return self.requested

    def _update_low_battery(
        self, cfg: AppConfig, now: float, soc_pct: float | None, voltage_v: float | None
    ) -> None:
        ctl = cfg.controller
        if voltage_v is not None and voltage_v < ctl.grid_low_voltage_v:
            if self._low_voltage_since is None:
                self._low_voltage_since = now
        else:
            self._low_voltage_since = None
        low_v_held = (
            self._low_voltage_since is not None
            and now - self._low_voltage_since >= ctl.grid_low_voltage_delay_s
        )
        low_soc = soc_pct is not None and soc_pct < ctl.grid_low_soc_pct
        if not self._low_battery:
            if low_v_held or low_soc:
                self._low_battery = True
                self._low_battery_reason = (
                    "low_battery_voltage" if low_v_held else "low_battery_soc"
                )
            return
        soc_back = soc_pct is None or soc_pct >= ctl.grid_low_soc_pct + ctl.grid_soc_hysteresis_pct
        v_back = voltage_v is not None and (
            voltage_v >= ctl.grid_low_voltage_v + ctl.voltage_hysteresis_v
        )
        if soc_back and v_back:
            self._low_battery = False

    def _update_keep_charged(
        self, cfg: AppConfig, window_open: bool, soc_pct: float | None
    ) -> None:
        ctl = cfg.controller
        if not window_open or soc_pct is None:
            self._keep_charged = False
        elif soc_pct < ctl.keep_charged_soc_pct:
            self._keep_charged = True
        elif soc_pct >= ctl.keep_charged_soc_pct + ctl.grid_soc_hysteresis_pct:
            self._keep_charged = False

    def next_deadline(self, cfg: AppConfig) -> float | None:
        if self._low_voltage_since is None or self._low_battery:
            return None
        return self._low_voltage_since + cfg.controller.grid_low_voltage_delay_s
