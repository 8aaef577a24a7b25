"""DVCC as Venus's systemcalc plays it: what it writes into the vebus service, computed purely.

The facts are systemcalc's (``battery-bms-and-dvcc.md`` §1.2 step 10 and the §1.3 table):

* **with a BMS** (a battery service whose ``/Info/MaxChargeVoltage`` is valid):
  ``/BatteryOperationalLimits/MaxChargeVoltage`` = min(BMS CVL, user max charge voltage if
  > 0); ``/BatteryOperationalLimits/MaxChargeCurrent`` = max(0, round(min(user limit if ≥ 0,
  BMS CCL) − DC-PV current)); ``MaxDischargeCurrent`` and ``BatteryLowVoltage`` copied from
  the BMS, invalid included; ``/Dc/0/MaxChargeCurrent`` raised to at least that MCC (only
  when the vebus is connected and that path is valid). Every BOL value is clamped at 0.
* **without a BMS**: ``/Dc/0/MaxChargeCurrent`` = user limit − DC-PV current (0 at ≤ 1 A)
  every cycle, or 10000 once when there is no user limit (again after the vebus was lost).

Not modelled: vendor quirks (§1.5), a measured DC system, DynamicESS, secondary Multis, the
"BMS lost with an MPPT that had one" silence, and the low-pass filter on charger currents
(the stand-in subtracts the simulated DC-PV current as it is). A non-finite BMS value
(``nan`` state) counts as invalid here; Python's systemcalc tests only ``is not None``, so
it would take a NaN CVL for a BMS and fail in ``round()`` on a NaN CCL (read from its code,
not observed).
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from smavenus.sim.scenario_venus import DvccEvent, DvccSection
from smavenus.victron.items import ItemSpec, ItemType

BOL_MAX_CHARGE_VOLTAGE = "/BatteryOperationalLimits/MaxChargeVoltage"
BOL_MAX_CHARGE_CURRENT = "/BatteryOperationalLimits/MaxChargeCurrent"
BOL_MAX_DISCHARGE_CURRENT = "/BatteryOperationalLimits/MaxDischargeCurrent"
BOL_BATTERY_LOW_VOLTAGE = "/BatteryOperationalLimits/BatteryLowVoltage"
VEBUS_MAX_CHARGE_CURRENT = "/Dc/0/MaxChargeCurrent"
#: systemcalc's "no limit" for /Dc/0/MaxChargeCurrent (multi.py: "max out").
NO_LIMIT_A = 10000

#: What systemcalc publishes about the BMS and DVCC on com.victronenergy.system.
DVCC_SYSTEM_SPECS: tuple[ItemSpec, ...] = (
    ItemSpec("/ActiveBmsService", ItemType.STRING),
    ItemSpec("/ActiveBmsInstance", ItemType.INT),
    ItemSpec("/Control/Dvcc", ItemType.INT),
    ItemSpec("/Control/BmsParameters", ItemType.INT),
    ItemSpec("/Control/MaxChargeCurrent", ItemType.INT),
    ItemSpec("/Dc/Battery/ChargeVoltage", ItemType.DOUBLE, "V", decimals=3),
)
#: With DVCC off systemcalc writes nothing and shows this.
DVCC_OFF: Mapping[str, Any] = {
    "/Control/Dvcc": 0,
    "/Control/BmsParameters": 0,
    "/Control/MaxChargeCurrent": 0,
    "/Dc/Battery/ChargeVoltage": None,
}


class Unset(enum.Enum):
    """systemcalc's ``notset``: no /Dc/0/MaxChargeCurrent written to this vebus yet."""

    NOTSET = "notset"


LastCurrent = float | None | Unset


@dataclass
class DvccSettings:
    """The user's DVCC settings and the writer's health: changed by ``dvcc`` events."""

    enabled: bool
    stalled: bool
    max_charge_current_a: float
    max_charge_voltage_v: float
    period_s: float

    @classmethod
    def from_section(cls, cfg: DvccSection) -> DvccSettings:
        return cls(
            cfg.enabled, False, cfg.max_charge_current_a, cfg.max_charge_voltage_v, cfg.period_s
        )

    def apply(self, event: DvccEvent) -> None:
        for key in ("enabled", "stalled", "max_charge_current_a", "max_charge_voltage_v"):
            value = getattr(event, key)
            if value is not None:
                setattr(self, key, value)

    def status(self) -> dict[str, Any]:
        return {
            "enabled": self.enabled,
            "stalled": self.stalled,
            "user_max_charge_current_a": self.max_charge_current_a,
            "user_max_charge_voltage_v": self.max_charge_voltage_v,
            "period_s": self.period_s,
        }


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


@dataclass(frozen=True)
class BmsView:
    """The controlling BMS as systemcalc sees it on the bus."""

    service: str
    instance: int | None
    values: Mapping[str, Any]

    def number(self, path: str) -> float | None:
        """A finite number, else None (invalid)."""
        return _number(self.values.get(path))


def controlling_bms(service: str, values: Mapping[str, Any] | None) -> BmsView | None:
    """The service as a BMS, or None: a service is a BMS iff its CVL is valid (SC
    ``batteryservice.py``)."""
    if values is None:
        return None
    view = BmsView(service, values.get("/DeviceInstance"), values)
    return view if view.number("/Info/MaxChargeVoltage") is not None else None


def bms_system_values(bms: BmsView | None) -> dict[str, Any]:
    """``/ActiveBmsService`` is the service name, ``/ActiveBmsInstance`` its instance."""
    return {
        "/ActiveBmsService": None if bms is None else bms.service,
        "/ActiveBmsInstance": None if bms is None else bms.instance,
    }


@dataclass(frozen=True)
class VebusView:
    """The vebus service DVCC writes to (the lowest ``/DeviceInstance``), as read this cycle."""

    service: str
    instance: int
    connected: bool
    max_charge_current_a: float | None
    bol_frame: bool


@dataclass(frozen=True)
class DvccPlan:
    """One cycle: the vebus writes (path → value, None = invalid) and the system's paths."""

    writes: dict[str, Any]
    system: dict[str, Any]
    last_current: LastCurrent


def _bol(value: float | None) -> float | None:
    return None if value is None else max(0.0, value)


def dvcc_plan(
    settings: DvccSettings,
    bms: BmsView | None,
    vebus: VebusView | None,
    pv_dc_current_a: float,
    last_current: LastCurrent,
) -> DvccPlan:
    """What one DVCC cycle writes. ``last_current``: what the previous no-BMS cycle wrote to
    /Dc/0/MaxChargeCurrent (for the "10000 once" rule); the plan carries the new one."""
    if not settings.enabled:
        return DvccPlan({}, dict(DVCC_OFF), last_current)
    user_current = settings.max_charge_current_a if settings.max_charge_current_a >= 0 else None
    charge_voltage = None if bms is None else bms.number("/Info/MaxChargeVoltage")
    if charge_voltage is not None and settings.max_charge_voltage_v > 0:
        charge_voltage = min(charge_voltage, settings.max_charge_voltage_v)
    bms_current = None if bms is None else bms.number("/Info/MaxChargeCurrent")
    limits = [x for x in (user_current, bms_current) if x is not None]
    vebus_current = max(0, round(min(limits) - pv_dc_current_a)) if limits else None
    active = vebus is not None and vebus.connected
    system: dict[str, Any] = {
        "/Control/Dvcc": 1,
        "/Dc/Battery/ChargeVoltage": charge_voltage,
        "/Control/MaxChargeCurrent": int(not active or (vebus is not None and vebus.bol_frame)),
        "/Control/BmsParameters": int(bms is not None and vebus is not None),
    }
    if vebus is None:
        return DvccPlan({}, system, Unset.NOTSET)
    writable = active and vebus.max_charge_current_a is not None
    writes: dict[str, Any] = {}
    if bms is not None:
        if charge_voltage is not None:
            writes[BOL_MAX_CHARGE_VOLTAGE] = _bol(charge_voltage)
        if vebus_current is not None:
            writes[BOL_MAX_CHARGE_CURRENT] = vebus_current
            if writable:
                assert vebus.max_charge_current_a is not None
                writes[VEBUS_MAX_CHARGE_CURRENT] = max(vebus.max_charge_current_a, vebus_current)
        writes[BOL_MAX_DISCHARGE_CURRENT] = _bol(bms.number("/Info/MaxDischargeCurrent"))
        writes[BOL_BATTERY_LOW_VOLTAGE] = _bol(bms.number("/Info/BatteryLowVoltage"))
        return DvccPlan(writes, system, last_current if active else Unset.NOTSET)
    if not writable:
        return DvccPlan(writes, system, last_current if active else Unset.NOTSET)
    if vebus_current is not None:
        current = vebus_current if vebus_current > 1 else 0
        writes[VEBUS_MAX_CHARGE_CURRENT] = current
        return DvccPlan(writes, system, current)
    if last_current is not None:
        writes[VEBUS_MAX_CHARGE_CURRENT] = NO_LIMIT_A
    return DvccPlan(writes, system, None)
