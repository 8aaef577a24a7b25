"""The AC-coupled PV inverter on the SI's output, as Venus sees one: ``com.victronenergy.
pvinverter.<name>`` with ``/Position`` = 1 (AC output). Pure.

Its power is what the power flow let through (:attr:`smavenus.sim.power.Flow.pv_ac_used_w`):
the scenario's sun (``[pv] ac_power_w`` and ``pv_ac`` events) less what the SI curtails by
raising its output frequency when the battery cannot take more (SMA's frequency-shift power
control, modelled in :mod:`smavenus.sim.power`). systemcalc adds a PV inverter on the output
to the vebus ``/Ac/Out`` power to get the consumption on the output
(``/Ac/ConsumptionOnOutput``), which therefore equals the loads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from smavenus import __version__
from smavenus.victron.items import ItemSpec, ItemType

INT, DBL, STR = ItemType.INT, ItemType.DOUBLE, ItemType.STRING
#: ``/Position``: 0 AC input 1, 1 AC output, 2 AC input 2 (Victron's pvinverter convention).
POSITION_AC_OUTPUT = 1
#: ``/StatusCode`` 7: running (Fronius-style codes, as Victron's pvinverter drivers use).
STATUS_RUNNING = 7
DEVICE_INSTANCE = 20
LINES = (1, 2, 3)

PV_INVERTER_SPECS: tuple[ItemSpec, ...] = (
    ItemSpec("/Mgmt/ProcessName", STR),
    ItemSpec("/Mgmt/ProcessVersion", STR),
    ItemSpec("/Mgmt/Connection", STR),
    ItemSpec("/DeviceInstance", INT),
    ItemSpec("/ProductId", INT),
    ItemSpec("/ProductName", STR),
    ItemSpec("/CustomName", STR, writable=True),
    ItemSpec("/Connected", INT),
    ItemSpec("/Position", INT),
    ItemSpec("/StatusCode", INT),
    ItemSpec("/ErrorCode", INT),
    ItemSpec("/Ac/Power", DBL, "W", decimals=0),
    ItemSpec("/Ac/Energy/Forward", DBL, "kWh", decimals=3),
    *(ItemSpec(f"/Ac/L{n}/Power", DBL, "W", decimals=0) for n in LINES),
    *(ItemSpec(f"/Ac/L{n}/Energy/Forward", DBL, "kWh", decimals=3) for n in LINES),
)
MEASURED_PATHS: tuple[str, ...] = tuple(
    s.path for s in PV_INVERTER_SPECS if s.path.startswith("/Ac/")
)


def pv_inverter_identity() -> dict[str, Any]:
    return {
        "/Mgmt/ProcessName": "smavenus-sim",
        "/Mgmt/ProcessVersion": __version__,
        "/Mgmt/Connection": "simulated (AC output of the SI)",
        "/DeviceInstance": DEVICE_INSTANCE,
        "/ProductId": 0,
        "/ProductName": "Simulated PV inverter",
        "/CustomName": "",
        "/Connected": 1,
        "/Position": POSITION_AC_OUTPUT,
        "/StatusCode": STATUS_RUNNING,
        "/ErrorCode": 0,
    }


@dataclass
class PvInverterMeter:
    """Its power per line and the energy it has fed, integrated on simulated time."""

    lines: int
    _joules: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])
    _last: tuple[float, tuple[float, ...]] | None = None

    def values(self, time_s: float, power_w: tuple[float, ...]) -> dict[str, Any]:
        if self._last is not None:
            then, held = self._last
            for n, watts in enumerate(held):
                self._joules[n] += max(watts, 0.0) * max(time_s - then, 0.0)
        self._last = (time_s, power_w)
        values: dict[str, Any] = {"/Ac/Power": sum(power_w)}
        for n in LINES:
            present = n <= self.lines
            values[f"/Ac/L{n}/Power"] = power_w[n - 1] if present else None
            values[f"/Ac/L{n}/Energy/Forward"] = self._joules[n - 1] / 3.6e6 if present else None
        values["/Ac/Energy/Forward"] = sum(self._joules) / 3.6e6
        return values
