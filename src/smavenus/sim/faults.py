"""How a simulated Venus service misbehaves: the fault states of the battery monitor and the BMS.

A state changes what the service puts on the bus, never the simulated battery. The pure part
is here (which values a state shows); taking the bus name away (``vanish``) and not
publishing (``freeze``) are done by the D-Bus edge (``smavenus.io.sim.victron``).

| state | what a client sees |
|---|---|
| ``normal`` | the true values |
| ``vanish`` | the bus name disappears (the driver died) |
| ``freeze`` | on the bus and answering, never changing |
| ``disconnect`` | ``/Connected`` 0, the measurements invalid, ``/Info`` limits kept |
| ``lie`` | the pack voltage offset by ``voltage_offset_v`` (power recomputed from it) |
| ``nan`` | NaN (a D-Bus double) in every double path |
| ``cells_invalid`` | ``/System/Min|MaxCellVoltage`` invalid, everything else as normal |

``restore`` (an event, not a state) returns to ``normal``.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from typing import Any, Literal, get_args

from smavenus.victron.items import ItemSpec, ItemType

ServiceState = Literal["normal", "vanish", "freeze", "disconnect", "lie", "nan", "cells_invalid"]
#: What a ``monitor`` or ``bms`` event may ask for: a state, or ``restore`` (= normal).
StateRequest = Literal[
    "normal", "vanish", "freeze", "disconnect", "lie", "nan", "cells_invalid", "restore"
]
SERVICE_STATES: tuple[str, ...] = get_args(ServiceState)

#: States in which the service publishes nothing new.
SILENT_STATES = frozenset({"vanish", "freeze", "disconnect"})

CELL_VOLTAGE_PATHS = ("/System/MinCellVoltage", "/System/MaxCellVoltage")
#: serialbattery shows 0 modules online while it cannot reach the BMS (reference §2.1).
MODULES_ONLINE_PATH = "/System/NrOfModulesOnline"


def state_of(request: str) -> str:
    """The state a request leads to (``restore`` is ``normal``)."""
    return "normal" if request == "restore" else request


def shown_values(
    values: Mapping[str, Any],
    state: str,
    specs: Mapping[str, ItemSpec],
    voltage_offset_v: float = 0.0,
) -> dict[str, Any]:
    """What a service in ``state`` publishes for the true ``values`` (paths of ``specs``)."""
    shown = dict(values)
    if state == "lie" and shown.get("/Dc/0/Voltage") is not None:
        shown["/Dc/0/Voltage"] += voltage_offset_v
        if shown.get("/Dc/0/Current") is not None and "/Dc/0/Power" in specs:
            shown["/Dc/0/Power"] = shown["/Dc/0/Voltage"] * shown["/Dc/0/Current"]
    elif state == "nan":
        for path in shown:
            if specs[path].type is ItemType.DOUBLE:
                shown[path] = math.nan
    elif state == "cells_invalid":
        for path in CELL_VOLTAGE_PATHS:
            if path in shown:
                shown[path] = None
    return shown


def disconnected_values(paths: Collection[str], measured: Collection[str]) -> dict[str, Any]:
    """``/Connected`` 0 and the ``measured`` paths invalid (as a driver that lost its device)."""
    values: dict[str, Any] = {"/Connected": 0}
    values.update(dict.fromkeys(p for p in measured if p in paths))
    if MODULES_ONLINE_PATH in paths:
        values[MODULES_ONLINE_PATH] = 0
    return values
