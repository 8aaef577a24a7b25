"""The simulated battery monitor and systemcalc stand-in: their Venus paths and values.

Pure tables: :data:`MONITOR_SPECS` is what a SmartShunt's ``com.victronenergy.battery.*``
service carries (dbus-vedirect), :data:`SYSTEM_SPECS` the part of ``com.victronenergy.system``
that a battery consumer reads. The D-Bus side lives in ``smavenus.io.sim.victron``.
Signs are Victron's: current positive while charging.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from smavenus import __version__
from smavenus.sim.scenario import MonitorSection
from smavenus.victron.items import ItemSpec, ItemType

INT, DBL, STR = ItemType.INT, ItemType.DOUBLE, ItemType.STRING

MONITOR_PROCESS = "smavenus-sim"
MONITOR_CONNECTION = "Simulated VE.Direct"


@dataclass(frozen=True, slots=True)
class MonitorReading:
    """One battery-monitor sample at ``time_s`` (simulated)."""

    time_s: float
    voltage_v: float
    current_a: float
    power_w: float
    soc_pct: float
    temperature_c: float
    consumed_ah: float
    time_to_go_s: float | None
    min_cell_v: float
    max_cell_v: float
    pv_dc_current_a: float


MONITOR_SPECS: tuple[ItemSpec, ...] = (
    ItemSpec("/Mgmt/ProcessName", STR),
    ItemSpec("/Mgmt/ProcessVersion", STR),
    ItemSpec("/Mgmt/Connection", STR),
    ItemSpec("/DeviceInstance", INT),
    ItemSpec("/ProductId", INT),
    ItemSpec("/ProductName", STR),
    ItemSpec("/CustomName", STR, writable=True),
    ItemSpec("/FirmwareVersion", INT),
    ItemSpec("/Connected", INT),
    ItemSpec("/Soc", DBL, "%", decimals=1),
    ItemSpec("/Dc/0/Voltage", DBL, "V", decimals=2),
    ItemSpec("/Dc/0/Current", DBL, "A", decimals=1),
    ItemSpec("/Dc/0/Power", DBL, "W", decimals=0),
    ItemSpec("/Dc/0/Temperature", DBL, "°C", decimals=1),
    ItemSpec("/ConsumedAmphours", DBL, "Ah", decimals=1),
    ItemSpec("/TimeToGo", DBL, "s", decimals=0),
    ItemSpec("/System/MinCellVoltage", DBL, "V", decimals=3),
    ItemSpec("/System/MaxCellVoltage", DBL, "V", decimals=3),
)

#: Paths whose values come from readings (the others are identity, set once).
MEASURED_PATHS = (
    "/Soc",
    "/Dc/0/Voltage",
    "/Dc/0/Current",
    "/Dc/0/Power",
    "/Dc/0/Temperature",
    "/ConsumedAmphours",
    "/TimeToGo",
    "/System/MinCellVoltage",
    "/System/MaxCellVoltage",
)


def monitor_identity(cfg: MonitorSection) -> dict[str, Any]:
    return {
        "/Mgmt/ProcessName": MONITOR_PROCESS,
        "/Mgmt/ProcessVersion": __version__,
        "/Mgmt/Connection": MONITOR_CONNECTION,
        "/DeviceInstance": cfg.device_instance,
        "/ProductId": cfg.product_id,
        "/ProductName": cfg.product_name,
        "/CustomName": cfg.custom_name,
        "/FirmwareVersion": 0x0414,
        "/Connected": 1,
    }


def monitor_values(reading: MonitorReading, cfg: MonitorSection) -> dict[str, Any]:
    values: dict[str, Any] = {
        "/Soc": reading.soc_pct,
        "/Dc/0/Voltage": reading.voltage_v,
        "/Dc/0/Current": reading.current_a,
        "/Dc/0/Power": reading.power_w,
        "/Dc/0/Temperature": reading.temperature_c,
        "/ConsumedAmphours": reading.consumed_ah,
        "/TimeToGo": reading.time_to_go_s,
        "/System/MinCellVoltage": reading.min_cell_v if cfg.cell_voltages else None,
        "/System/MaxCellVoltage": reading.max_cell_v if cfg.cell_voltages else None,
    }
    return values


# -- systemcalc stand-in ----------------------------------------------------------------------

SYSTEM_SERVICE = "com.victronenergy.system"

SYSTEM_SPECS: tuple[ItemSpec, ...] = (
    ItemSpec("/Mgmt/ProcessName", STR),
    ItemSpec("/Mgmt/ProcessVersion", STR),
    ItemSpec("/Mgmt/Connection", STR),
    ItemSpec("/DeviceInstance", INT),
    ItemSpec("/Connected", INT),
    ItemSpec("/ProductName", STR),
    ItemSpec("/ActiveBatteryService", STR),
    ItemSpec("/AutoSelectedBatteryService", STR),
    ItemSpec("/Dc/Battery/BatteryService", STR),
    ItemSpec("/Dc/Battery/Soc", DBL, "%", decimals=1),
    ItemSpec("/Dc/Battery/Voltage", DBL, "V", decimals=2),
    ItemSpec("/Dc/Battery/Current", DBL, "A", decimals=1),
    ItemSpec("/Dc/Battery/Power", DBL, "W", decimals=0),
    ItemSpec("/Dc/Battery/Temperature", DBL, "°C", decimals=1),
    ItemSpec("/Dc/Battery/TimeToGo", DBL, "s", decimals=0),
    ItemSpec("/Dc/Battery/ConsumedAmphours", DBL, "Ah", decimals=1),
    ItemSpec("/Dc/Pv/Current", DBL, "A", decimals=1),
    ItemSpec("/Dc/Pv/Power", DBL, "W", decimals=0),
)

#: systemcalc path → the monitor path it mirrors.
SYSTEM_MIRROR: Mapping[str, str] = {
    "/Dc/Battery/Soc": "/Soc",
    "/Dc/Battery/Voltage": "/Dc/0/Voltage",
    "/Dc/Battery/Current": "/Dc/0/Current",
    "/Dc/Battery/Power": "/Dc/0/Power",
    "/Dc/Battery/Temperature": "/Dc/0/Temperature",
    "/Dc/Battery/TimeToGo": "/TimeToGo",
    "/Dc/Battery/ConsumedAmphours": "/ConsumedAmphours",
}


def system_identity() -> dict[str, Any]:
    return {
        "/Mgmt/ProcessName": MONITOR_PROCESS,
        "/Mgmt/ProcessVersion": __version__,
        "/Mgmt/Connection": "data from other services",
        "/DeviceInstance": 0,
        "/Connected": 1,
        "/ProductName": "smavenus-sim systemcalc stand-in",
    }


def system_values(
    monitor: Mapping[str, Any] | None,
    monitor_service: str,
    device_instance: int,
    pv_dc_current_a: float | None,
    pv_dc_voltage_v: float | None,
) -> dict[str, Any]:
    """What systemcalc publishes for the battery, given the monitor's published values.

    ``monitor=None`` means no battery service is selected (it vanished, or "no battery"):
    systemcalc then shows the active battery service and every battery value as invalid.
    """
    if monitor is None:
        values: dict[str, Any] = dict.fromkeys(SYSTEM_MIRROR)
        values.update(
            {
                "/ActiveBatteryService": None,
                "/AutoSelectedBatteryService": None,
                "/Dc/Battery/BatteryService": None,
            }
        )
    else:
        values = {path: monitor.get(source) for path, source in SYSTEM_MIRROR.items()}
        values.update(
            {
                "/ActiveBatteryService": f"com.victronenergy.battery/{device_instance}",
                "/AutoSelectedBatteryService": monitor.get("/ProductName"),
                "/Dc/Battery/BatteryService": monitor_service,
            }
        )
    pv_w = (
        None
        if pv_dc_current_a is None or pv_dc_voltage_v is None
        else pv_dc_current_a * pv_dc_voltage_v
    )
    values["/Dc/Pv/Current"] = pv_dc_current_a
    values["/Dc/Pv/Power"] = pv_w
    return values
