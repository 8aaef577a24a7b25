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
from smavenus.sim.battery import Battery
from smavenus.sim.dvcc import DVCC_SYSTEM_SPECS
from smavenus.sim.power import Flow
from smavenus.sim.scenario import MonitorSection
from smavenus.sim.status import Noise
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
    #: AC-coupled PV fed on the SI's output per line, after curtailment (W).
    pv_ac_w: tuple[float, ...] = ()


#: What every simulated ``com.victronenergy.battery.*`` service carries to be selectable.
IDENTITY_SPECS: tuple[ItemSpec, ...] = (
    ItemSpec("/Mgmt/ProcessName", STR),
    ItemSpec("/Mgmt/ProcessVersion", STR),
    ItemSpec("/Mgmt/Connection", STR),
    ItemSpec("/DeviceInstance", INT),
    ItemSpec("/ProductId", INT),
    ItemSpec("/ProductName", STR),
    ItemSpec("/CustomName", STR, writable=True),
    ItemSpec("/FirmwareVersion", INT),
    ItemSpec("/Connected", INT),
)
#: The pack measurements (a shunt's, or a BMS's own).
DC_SPECS: tuple[ItemSpec, ...] = (
    ItemSpec("/Soc", DBL, "%", decimals=1),
    ItemSpec("/Dc/0/Voltage", DBL, "V", decimals=2),
    ItemSpec("/Dc/0/Current", DBL, "A", decimals=1),
    ItemSpec("/Dc/0/Power", DBL, "W", decimals=0),
    ItemSpec("/Dc/0/Temperature", DBL, "°C", decimals=1),
)
CELL_VOLTAGE_SPECS: tuple[ItemSpec, ...] = (
    ItemSpec("/System/MinCellVoltage", DBL, "V", decimals=3),
    ItemSpec("/System/MaxCellVoltage", DBL, "V", decimals=3),
)
MONITOR_SPECS: tuple[ItemSpec, ...] = (
    *IDENTITY_SPECS,
    *DC_SPECS,
    ItemSpec("/ConsumedAmphours", DBL, "Ah", decimals=1),
    ItemSpec("/TimeToGo", DBL, "s", decimals=0),
    *CELL_VOLTAGE_SPECS,
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


def battery_identity(
    device_instance: int,
    product_id: int,
    product_name: str,
    custom_name: str = "",
    connection: str = MONITOR_CONNECTION,
) -> dict[str, Any]:
    """The values of :data:`IDENTITY_SPECS`."""
    return {
        "/Mgmt/ProcessName": MONITOR_PROCESS,
        "/Mgmt/ProcessVersion": __version__,
        "/Mgmt/Connection": connection,
        "/DeviceInstance": device_instance,
        "/ProductId": product_id,
        "/ProductName": product_name,
        "/CustomName": custom_name,
        "/FirmwareVersion": 0x0414,
        "/Connected": 1,
    }


def monitor_identity(cfg: MonitorSection) -> dict[str, Any]:
    return battery_identity(cfg.device_instance, cfg.product_id, cfg.product_name, cfg.custom_name)


def monitor_reading(
    now_s: float, battery: Battery, flow: Flow, cfg: MonitorSection, noise: Noise
) -> MonitorReading:
    """The shunt's sample of the simulated bank now (noise drawn in a fixed order)."""
    current_a = flow.battery_current_a + noise("battery_current_a")
    voltage_v = battery.terminal_v(flow.battery_current_a) + noise("battery_voltage_v")
    soc = min(max(battery.soc_pct + cfg.soc_offset_pct, 0.0), 100.0)
    capacity = battery.params.capacity_ah
    remaining_ah = soc / 100.0 * capacity
    min_cell, max_cell = battery.cell_voltages_v(flow.battery_current_a)
    return MonitorReading(
        time_s=now_s,
        voltage_v=voltage_v,
        current_a=current_a,
        power_w=voltage_v * current_a,
        soc_pct=soc,
        temperature_c=battery.temperature_c + noise("temperature_c"),
        consumed_ah=-(capacity - remaining_ah),
        time_to_go_s=remaining_ah / -current_a * 3600.0 if current_a < -0.5 else None,
        min_cell_v=min_cell,
        max_cell_v=max_cell,
        pv_dc_current_a=flow.pv_dc_used_a,
        pv_ac_w=flow.pv_ac_used_w,
    )


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
    *DVCC_SYSTEM_SPECS,
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
