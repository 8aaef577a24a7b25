"""The controller's inputs, each with the time it was last confirmed, and how they combine.

Two sources measure the battery:

* the **battery monitor** (a SmartShunt, a BMV, a BMS on Venus): voltage, current,
  temperature, SoC and, when it publishes them, the lowest and highest cell voltage. It is
  the primary source: it sits at the battery, measures every charger's current, and knows
  the SoC;
* the **SI itself** (0x305 in the gateway's snapshot): voltage at its terminals (0.1 V),
  its own current (0.1 A) and its battery-temperature sensor. The fallback, and a
  cross-check of the monitor's voltage.

Each is *fresh* while its last update is younger than ``[controller] input_max_age_s``. A monitor
publishes only what changed (ItemsChanged), so its freshness is the time of its last update
of any value, not per value: a temperature that has not moved for an hour is still current
as long as the monitor is alive. Values of one source are never mixed with the other's
(the original took voltage from the monitor and current from the SI).
"""

from __future__ import annotations

from dataclasses import dataclass

from smavenus.ipc.messages import MeasurementSource, SiSnapshot


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
        return cls(
            received_at=stamped.received_monotonic,
            voltage_v=status.voltage_v,
            current_a=None if status.current_a is None else -status.current_a,
            temperature_c=status.temperature_c,
            soc_echo_pct=status.soc_pct,
            grid_connected=None if relays is None else relays.value.ac2_connected,
        )


@dataclass(frozen=True, slots=True)
class Measurements:
    """What the controller regulates and protects on this cycle, from one source."""

    source: MeasurementSource
    voltage_v: float | None = None
    current_a: float | None = None
    temperature_c: float | None = None
    soc_pct: float | None = None
    min_cell_v: float | None = None
    max_cell_v: float | None = None
    #: The monitor's voltage when fresh, even when it is not trusted (for the cross-check).
    monitor_voltage_v: float | None = None
    #: The SI's own values when fresh (cross-check; the SI's current is what CCL limits).
    si_voltage_v: float | None = None
    si_current_a: float | None = None
    monitor_stale: bool = False
    si_stale: bool = True

    @property
    def cell_spread_v(self) -> float | None:
        if self.min_cell_v is None or self.max_cell_v is None:
            return None
        return self.max_cell_v - self.min_cell_v

    @property
    def charger_current_a(self) -> float | None:
        """The current the SI's charge limit acts on: the SI's own if known, else the battery's."""
        return self.si_current_a if self.si_current_a is not None else self.current_a


def is_fresh(updated_at: float | None, now: float, max_age_s: float) -> bool:
    return updated_at is not None and now - updated_at <= max_age_s


def select(
    monitor: MonitorSample | None,
    si: SiSample | None,
    now: float,
    max_age_s: float,
    *,
    distrust_monitor: bool = False,
) -> Measurements:
    """The monitor's values when it is fresh and has a voltage, else the SI's, else none.

    ``distrust_monitor``: the monitor's voltage disagrees with the SI's (the cross-check):
    use the SI's values while they are fresh, and keep the monitor's voltage for the check.
    """
    monitor_ok = (
        monitor is not None
        and is_fresh(monitor.updated_at, now, max_age_s)
        and monitor.voltage_v is not None
    )
    si_ok = si is not None and is_fresh(si.received_at, now, max_age_s)
    si_voltage = si.voltage_v if si is not None and si_ok else None
    si_current = si.current_a if si is not None and si_ok else None
    si_temperature = si.temperature_c if si is not None and si_ok else None
    monitor_voltage = monitor.voltage_v if monitor is not None and monitor_ok else None
    if monitor_ok and not (distrust_monitor and si_ok and si_voltage is not None):
        assert monitor is not None
        return Measurements(
            source="battery_monitor",
            voltage_v=monitor.voltage_v,
            current_a=monitor.current_a,
            # A monitor without a temperature sensor: the SI's battery sensor serves.
            temperature_c=(
                monitor.temperature_c if monitor.temperature_c is not None else si_temperature
            ),
            soc_pct=monitor.soc_pct,
            min_cell_v=monitor.min_cell_v,
            max_cell_v=monitor.max_cell_v,
            monitor_voltage_v=monitor_voltage,
            si_voltage_v=si_voltage,
            si_current_a=si_current,
            monitor_stale=False,
            si_stale=not si_ok,
        )
    if si_ok and si_voltage is not None:
        return Measurements(
            source="si",
            voltage_v=si_voltage,
            current_a=si_current,
            temperature_c=si_temperature,
            monitor_voltage_v=monitor_voltage,
            si_voltage_v=si_voltage,
            si_current_a=si_current,
            monitor_stale=not monitor_ok,
            si_stale=False,
        )
    return Measurements(source="none", monitor_stale=True, si_stale=not si_ok)
