"""Readings no battery of this configuration can show: sensor faults, not battery conditions.

A monitor that publishes 655.34 V (dbus-serialbattery's invalid marker read as a number), a
cell at 0 V or a temperature of 1,000 °C describes its own fault, not the battery: taken as
the worst reading it would stop the SI for a condition the battery does not have. Such a
value is therefore *missing* — and missing data keeps every protection it fed, at the level
it had (:mod:`smavenus.controller.protections`) — with SMA's *general* warning while it
lasts. The windows are wide on purpose: anything a real battery can reach, even one far
outside its limits, is a reading and protects.
"""

from __future__ import annotations

from dataclasses import fields, replace
from typing import TypeVar

from smavenus.config import AppConfig

S = TypeVar("S")

#: Per-cell voltage window of any lithium chemistry, in V (a pack: × cells).
CELL_WINDOW_V = (1.0, 5.0)
TEMPERATURE_WINDOW_C = (-50.0, 120.0)
#: Currents beyond this many times the largest configured limit are not readings.
CURRENT_FACTOR = 5.0

#: Sample field → kind of quantity.
KINDS: dict[str, str] = {
    "voltage_v": "pack",
    "min_cell_v": "cell",
    "max_cell_v": "cell",
    "temperature_c": "temperature",
    "min_cell_temperature_c": "temperature",
    "max_cell_temperature_c": "temperature",
    "current_a": "current",
}


def windows(cfg: AppConfig) -> dict[str, tuple[float, float]]:
    bat = cfg.battery
    amps = CURRENT_FACTOR * max(bat.max_charge_current_a, bat.max_discharge_current_a, 100.0)
    low, high = CELL_WINDOW_V
    return {
        "pack": (low * bat.cell_count, high * bat.cell_count),
        "cell": CELL_WINDOW_V,
        "temperature": TEMPERATURE_WINDOW_C,
        "current": (-amps, amps),
    }


def plausible(sample: S, cfg: AppConfig) -> tuple[S, tuple[str, ...]]:
    """``sample`` with every implausible measurement made ``None``, and their field names."""
    window = windows(cfg)
    bad: dict[str, None] = {}
    for f in fields(sample):  # type: ignore[arg-type]
        kind = KINDS.get(f.name)
        value = getattr(sample, f.name)
        if kind is None or not isinstance(value, float):
            continue
        low, high = window[kind]
        if not low <= value <= high:
            bad[f.name] = None
    if not bad:
        return sample, ()
    return replace(sample, **bad), tuple(bad)  # type: ignore[type-var]
