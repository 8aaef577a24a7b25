"""The protection envelope: what a chemistry allows, and what live settings may never widen.

Thresholds that protect the battery (cell and pack voltages, temperatures, alarm delays, the
voltage-mismatch threshold) live in ``[controller]`` and can be changed while the system
runs (Venus localsettings, the GUI, MQTT, the web page). Their hard bounds live in
``[battery]``, which only the TOML file sets: a live change is accepted only inside them
(the same cross-field rules judge the file and every live write, so a write beyond the
envelope is refused, logged and written back).

The chemistry sets the defaults of the cell bounds and a per-cell ceiling for the pack's
charge voltage, so that ``config check`` refuses, for example, a 15-cell LiFePO4 bank at
56.8 V (3.79 V per cell).
"""

from __future__ import annotations

from dataclasses import dataclass

from smavenus.config.controller import ControllerConfig
from smavenus.config.sections import BatteryConfig


@dataclass(frozen=True, slots=True)
class Chemistry:
    #: The highest charge voltage per cell any sane charger applies (pack ceiling / cells).
    max_charge_per_cell_v: float
    #: The lowest discharge voltage per cell (pack floor / cells).
    min_discharge_per_cell_v: float
    #: Default envelope of the cell thresholds.
    cell_max_v: float
    cell_min_v: float


#: LiFePO4: 3.65 V is the datasheet charge limit of every common cell (EVE, CATL, Lishen);
#: 2.5 V the discharge cut-off. NMC: 4.20 V and 2.75 V (3.0 V for most pouch cells).
CHEMISTRIES: dict[str, Chemistry] = {
    "lifepo4": Chemistry(3.65, 2.50, 3.80, 2.50),
    "nmc": Chemistry(4.20, 2.75, 4.25, 2.75),
}


def cell_bounds(bat: BatteryConfig) -> tuple[float, float]:
    """(lowest, highest) a cell threshold may be set to."""
    chem = CHEMISTRIES[bat.chemistry]
    low = chem.cell_min_v if bat.cell_min_v is None else bat.cell_min_v
    high = chem.cell_max_v if bat.cell_max_v is None else bat.cell_max_v
    return low, high


def battery_problems(bat: BatteryConfig) -> list[str]:
    """``[battery]`` against its chemistry."""
    chem = CHEMISTRIES[bat.chemistry]
    problems = []
    per_cell = bat.max_charge_voltage_v / bat.cell_count
    if per_cell > chem.max_charge_per_cell_v + 1e-9:
        problems.append(
            f"battery.max_charge_voltage_v: {bat.max_charge_voltage_v} V is {per_cell:.3f} V per "
            f"cell for {bat.cell_count} cells, above {chem.max_charge_per_cell_v} V, the most a "
            f"{bat.chemistry} cell may be charged to"
        )
    per_cell = bat.min_discharge_voltage_v / bat.cell_count
    if per_cell < chem.min_discharge_per_cell_v - 1e-9:
        problems.append(
            f"battery.min_discharge_voltage_v: {bat.min_discharge_voltage_v} V is "
            f"{per_cell:.3f} V per cell for {bat.cell_count} cells, below "
            f"{chem.min_discharge_per_cell_v} V, the least a {bat.chemistry} cell may be "
            f"discharged to"
        )
    low, high = cell_bounds(bat)
    if not low < high:
        problems.append(f"battery.cell_min_v: {low} V must be below battery.cell_max_v ({high} V)")
    if not bat.temperature_min_c < bat.temperature_max_c:
        problems.append(
            f"battery.temperature_min_c: {bat.temperature_min_c} °C must be below "
            f"battery.temperature_max_c ({bat.temperature_max_c} °C)"
        )
    if not bat.charge_temperature_min_c < bat.charge_temperature_max_c:
        problems.append(
            f"battery.charge_temperature_min_c: {bat.charge_temperature_min_c} °C must be below "
            f"battery.charge_temperature_max_c ({bat.charge_temperature_max_c} °C)"
        )
    return problems


def _above(key: str, value: float, bound: float, bound_name: str, unit: str) -> str | None:
    if value > bound + 1e-9:
        return f"controller.{key}: {value} {unit} is beyond {bound_name} ({bound} {unit})"
    return None


def _below(key: str, value: float, bound: float, bound_name: str, unit: str) -> str | None:
    if value < bound - 1e-9:
        return f"controller.{key}: {value} {unit} is beyond {bound_name} ({bound} {unit})"
    return None


def envelope_problems(bat: BatteryConfig, ctl: ControllerConfig) -> list[str]:
    """Every ``[controller]`` protection threshold inside the ``[battery]`` envelope."""
    low, high = cell_bounds(bat)
    cell_max = (
        "battery.cell_max_v" if bat.cell_max_v is not None else f"the {bat.chemistry} maximum"
    )
    cell_min = (
        "battery.cell_min_v" if bat.cell_min_v is not None else f"the {bat.chemistry} minimum"
    )
    checks = [
        _above("cell_regulate_voltage_v", ctl.cell_regulate_voltage_v, high, cell_max, "V"),
        _above("cell_high_voltage_v", ctl.cell_high_voltage_v, high, cell_max, "V"),
        _above("cell_high_voltage_alarm_v", ctl.cell_high_voltage_alarm_v, high, cell_max, "V"),
        _below("cell_low_voltage_v", ctl.cell_low_voltage_v, low, cell_min, "V"),
        _below("cell_low_voltage_alarm_v", ctl.cell_low_voltage_alarm_v, low, cell_min, "V"),
        _above("max_temperature_c", ctl.max_temperature_c, bat.temperature_max_c,
               "battery.temperature_max_c", "°C"),
        _below("min_temperature_c", ctl.min_temperature_c, bat.temperature_min_c,
               "battery.temperature_min_c", "°C"),
        _above("charge_max_temperature_c", ctl.charge_max_temperature_c,
               bat.charge_temperature_max_c, "battery.charge_temperature_max_c", "°C"),
        _below("charge_min_temperature_c", ctl.charge_min_temperature_c,
               bat.charge_temperature_min_c, "battery.charge_temperature_min_c", "°C"),
        _above("alarm_delay_s", ctl.alarm_delay_s, bat.alarm_delay_max_s,
               "battery.alarm_delay_max_s", "s"),
        _above("voltage_mismatch_v", ctl.voltage_mismatch_v, bat.voltage_mismatch_max_v,
               "battery.voltage_mismatch_max_v", "V"),
    ]  # fmt: skip
    alarm_v = bat.max_charge_voltage_v + ctl.high_voltage_alarm_margin_v
    pack_high = round(high * bat.cell_count, 3)
    if alarm_v > pack_high + 1e-9:
        checks.append(
            f"controller.high_voltage_alarm_margin_v: {ctl.high_voltage_alarm_margin_v} V puts "
            f"the pack alarm at {alarm_v:.2f} V, beyond {bat.cell_count} cells at {high} V "
            f"({pack_high} V)"
        )
    return [line for line in checks if line is not None]
