"""Whether the battery BMS is there, and what to do once it is lost (R15, R16).

A BMS counts as *seen* once it was fresh (remembered across restarts, so a controller that
starts while the BMS is down still knows a BMS belongs here). A seen BMS that is not fresh
for ``bms_lost_grace_s`` is **lost**: SMA's *general* warning, ``/Alarms/BmsConnectionLost``
on the vebus service, and limits that never run on the BMS's frozen word:

* following the BMS (``follow_bms``, or ``auto`` once a BMS was seen): the charge voltage at
  most ``min(the BMS's last CVL, float_voltage_v)``; the charge current at most
  ``degraded_charge_current_a`` **only while** the last known cells are inside
  ``[bms_lost_cell_min_v, bms_lost_cell_max_v]`` (far from both ends), else 0 A; 0 A in any
  case after ``bms_lost_timeout_s`` (the Multi's own BOL timeout); discharge at most
  ``gateway.safe_discharge_current_a``, or 0 A with ``block_discharge_on_bms_lost``;
* charging on our own algorithm (``own``): the BMS's ceilings are dropped; if it supplied the
  cell voltages, charging goes on conservatively (float voltage, degraded current).

``follow_bms`` without any BMS ever seen is the same as a lost one from the start: there is
nothing to follow.
"""

from __future__ import annotations

from dataclasses import dataclass

from smavenus.config import AppConfig
from smavenus.controller.inputs import BmsSample
from smavenus.events import LogEvent


@dataclass(frozen=True, slots=True)
class LostCaps:
    """The limits while the BMS is lost (``None``: no cap of this kind)."""

    charge_voltage_v: float | None
    charge_current_a: float
    discharge_current_a: float
    reason: str


@dataclass
class BmsPresence:
    seen_service: str | None = None
    fresh: bool = False
    lost_since: float | None = None
    last_cvl_v: float | None = None
    last_cells: tuple[float, float] | None = None

    def update(
        self,
        usable: BmsSample | None,
        now: float,
        started_at: float,
        expected: bool,
        events: list[LogEvent],
    ) -> None:
        """``usable``: the BMS if fresh this cycle. ``expected``: follow_bms (a BMS must be)."""
        if usable is not None:
            if self.seen_service != usable.service:
                events.append(
                    LogEvent("bms_selected", "info",
                             {"service": usable.service, "previous": self.seen_service})
                )  # fmt: skip
            if not self.fresh and self.lost_since is not None:
                events.append(
                    LogEvent("bms_fresh", "info", {"service": usable.service,
                             "after_s": round(now - self.lost_since, 1)})
                )  # fmt: skip
            self.seen_service, self.fresh, self.lost_since = usable.service, True, None
            self.last_cvl_v = usable.max_charge_voltage_v
            if usable.min_cell_v is not None and usable.max_cell_v is not None:
                self.last_cells = (usable.min_cell_v, usable.max_cell_v)
            return
        if self.fresh:
            events.append(LogEvent("bms_lost", "warning", {"service": self.seen_service}))
        self.fresh = False
        if self.lost_since is None and (self.seen_service is not None or expected):
            self.lost_since = now if self.seen_service is not None else started_at

    def lost(self, now: float, cfg: AppConfig) -> bool:
        """Past the grace time without a fresh BMS (one was seen, or one is required)."""
        return (
            not self.fresh
            and self.lost_since is not None
            and now - self.lost_since >= cfg.controller.bms_lost_grace_s
        )

    def caps(self, now: float, cfg: AppConfig, cells: tuple[float, float] | None) -> LostCaps:
        """R15: the limits while following a lost BMS. ``cells``: live (min, max), if any."""
        ctl = cfg.controller
        known = cells if cells is not None else self.last_cells
        lost_for = 0.0 if self.lost_since is None else now - self.lost_since
        cvl = (
            ctl.float_voltage_v
            if self.last_cvl_v is None
            else min(self.last_cvl_v, ctl.float_voltage_v)
        )
        if lost_for >= ctl.bms_lost_timeout_s:
            charge, why = 0.0, "bms_lost, past bms_lost_timeout_s"
        elif (
            known is not None
            and ctl.bms_lost_cell_min_v <= known[0]
            and known[1] <= ctl.bms_lost_cell_max_v
        ):
            charge, why = ctl.degraded_charge_current_a, "bms_lost, cells in the safe window"
        else:
            charge, why = 0.0, "bms_lost, cells unknown or outside the safe window"
        discharge = 0.0 if ctl.block_discharge_on_bms_lost else cfg.gateway.safe_discharge_current_a
        return LostCaps(cvl, charge, discharge, why)

    def deadlines(self, cfg: AppConfig) -> tuple[float, ...]:
        """When the grace time and the reduced-charging time of a lost BMS end."""
        if self.fresh or self.lost_since is None:
            return ()
        ctl = cfg.controller
        return (self.lost_since + ctl.bms_lost_grace_s, self.lost_since + ctl.bms_lost_timeout_s)
