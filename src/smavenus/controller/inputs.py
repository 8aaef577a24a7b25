"""The controller's inputs, each with the time it was last confirmed.

Four sources speak about the battery:

* the **battery monitor** (a SmartShunt, a BMV; ``/ActiveBatteryService``): voltage, current,
  temperature, SoC and, when it publishes them, the lowest and highest cell voltage;
* the battery's own **BMS** (``/ActiveBmsService``: dbus-serialbattery, a CAN-bus battery),
  which may be the same service as the monitor: its limits (``/Info/*``), permissions
  (``/Io/*``), alarms (``/Alarms/*``) and its own measurements;
* **DVCC** (Venus's systemcalc), which writes limits into our vebus service every 3 s while
  it is on; the vebus-publisher stamps every write and forwards it;
* the **SI itself** (0x305 in the gateway's snapshot): voltage at its terminals (0.1 V), its
  own current and its battery-temperature sensor.

Each is *fresh* while its last update is younger than its maximum age. Every number is
checked here, in the core, whatever the edge did: a non-finite value (NaN, ±inf) is
*missing* (``None``), never a number and never an exception.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any, TypeVar

from smavenus.ipc.messages import SiSnapshot

S = TypeVar("S")


def finite(value: Any) -> float | None:
    """``value`` as a float if it is a finite number (not a bool), else ``None``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def sanitized(sample: S) -> S:
    """A sample with every float field that is not a finite number replaced by ``None``."""
    changes: dict[str, None] = {}
    for f in fields(sample):  # type: ignore[arg-type]
        value = getattr(sample, f.name)
        if isinstance(value, float) and not math.isfinite(value):
            changes[f.name] = None
    return replace(sample, **changes) if changes else sample  # type: ignore[type-var]


def is_fresh(updated_at: float | None, now: float, max_age_s: float) -> bool:
    return (
        updated_at is not None and math.isfinite(updated_at) and 0 <= now - updated_at <= max_age_s
    )


@dataclass(frozen=True, slots=True)
class MonitorSample:
    """The battery monitor's values as last known (``None``: not published or invalid).

    ``updated_at`` is the monotonic time of the monitor's last update (scan or signal).
    ``current_a`` has Victron's sign: positive while charging.
    """

    service: str
    updated_at: float
    voltage_v: float | None = None
    current_a: float | None = None
    temperature_c: float | None = None
    soc_pct: float | None = None
    min_cell_v: float | None = None
    max_cell_v: float | None = None


@dataclass(frozen=True, slots=True)
class BmsSample:
    """The battery BMS's values as last known (``None``: not published or invalid).

    Limits and permissions are the battery's word for the **whole** battery (every charger).
    ``alarms`` maps Victron's ``/Alarms/<Name>`` to its level (0 ok, 1 warning, 2 alarm).
    """

    service: str
    updated_at: float
    connected: bool = True
    voltage_v: float | None = None
    current_a: float | None = None
    temperature_c: float | None = None
    soc_pct: float | None = None
    min_cell_v: float | None = None
    max_cell_v: float | None = None
    min_cell_temperature_c: float | None = None
    max_cell_temperature_c: float | None = None
    max_charge_voltage_v: float | None = None
    max_charge_current_a: float | None = None
    max_discharge_current_a: float | None = None
    battery_low_voltage_v: float | None = None
    charge_request: bool | None = None
    allow_to_charge: bool | None = None
    allow_to_discharge: bool | None = None
    modules_online: int | None = None
    alarms: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DvccWrite:
    """One value DVCC wrote into our vebus service, and when (``value`` None: invalid)."""

    value: float | None
    written_at: float


@dataclass(frozen=True, slots=True)
class DvccWrites:
    """DVCC's latest writes into our vebus service (``None``: never written)."""

    max_charge_voltage_v: DvccWrite | None = None  #: /BatteryOperationalLimits/MaxChargeVoltage
    max_charge_current_a: DvccWrite | None = None  #: /BatteryOperationalLimits/MaxChargeCurrent
    max_discharge_current_a: DvccWrite | None = None  #: .../MaxDischargeCurrent
    battery_low_voltage_v: DvccWrite | None = None  #: .../BatteryLowVoltage
    dc_max_charge_current_a: DvccWrite | None = None  #: /Dc/0/MaxChargeCurrent


@dataclass(frozen=True, slots=True)
class SystemSample:
    """What ``com.victronenergy.system`` says about DVCC and the BMS it chose."""

    updated_at: float
    dvcc_on: bool | None = None  #: /Control/Dvcc
    active_bms_service: str | None = None  #: /ActiveBmsService


@dataclass(frozen=True, slots=True)
class UserDvccLimits:
    """The user's DVCC settings (``/Settings/SystemSetup/MaxChargeCurrent``, ``…Voltage``).

    ``None``: off (Victron stores −1 for the current and 0 for the voltage).
    """

    max_charge_current_a: float | None = None
    max_charge_voltage_v: float | None = None


@dataclass(frozen=True, slots=True)
class SiSample:
    """The SI's own battery measurement (0x305), with Victron's current sign (+ charging)."""

    received_at: float
    voltage_v: float | None
    current_a: float | None
    temperature_c: float | None
    soc_echo_pct: float | None
    grid_connected: bool | None = None

    @classmethod
    def from_snapshot(cls, snapshot: SiSnapshot) -> SiSample | None:
        """The 0x305 part of a snapshot, or ``None`` if the gateway never received one."""
        stamped = snapshot.battery_status
        if stamped is None:
            return None
        status = stamped.value
        relays = snapshot.relay_status
        current = finite(status.current_a)
        return cls(
            received_at=stamped.received_monotonic,
            voltage_v=finite(status.voltage_v),
            current_a=None if current is None else -current,
            temperature_c=finite(status.temperature_c),
            soc_echo_pct=finite(status.soc_pct),
            grid_connected=None if relays is None else relays.value.ac2_connected,
        )
