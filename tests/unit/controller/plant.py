"""A battery and a Sunny Island in a few lines, to close the loop around the pure core.

Not a mock of our code: a small physical model the controller has to cope with, in the
pessimistic variant where the SI does **not** regulate toward the charge voltage itself
(practitioners report that it only obeys the current limit), so holding the absorption
voltage is entirely the controller's job. The SI follows the current limit with a
first-order lag (SMA-TI: about 10 s to follow a step), and the monitor reports the battery
at the start of each cycle.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from dataclasses import dataclass

from smavenus.controller.inputs import MonitorSample
from smavenus.ipc.messages import SiSnapshot, Stamped
from smavenus.protocol.frames import BatteryStatus

#: LiFePO4 open-circuit voltage per cell (SoC %, V): flat plateau, steep knees.
LFP_OCV = (
    (0.0, 2.50), (2.0, 2.90), (5.0, 3.10), (10.0, 3.20), (20.0, 3.25), (30.0, 3.28),
    (40.0, 3.295), (50.0, 3.305), (60.0, 3.315), (70.0, 3.325), (80.0, 3.335),
    (90.0, 3.35), (95.0, 3.38), (98.0, 3.42), (99.0, 3.46), (100.0, 3.65),
)  # fmt: skip


def ocv_cell_v(soc_pct: float) -> float:
    xs = [p[0] for p in LFP_OCV]
    if soc_pct <= xs[0]:
        return LFP_OCV[0][1]
    if soc_pct >= xs[-1]:
        return LFP_OCV[-1][1]
    i = bisect_right(xs, soc_pct)
    (x0, y0), (x1, y1) = LFP_OCV[i - 1], LFP_OCV[i]
    return y0 + (y1 - y0) * (soc_pct - x0) / (x1 - x0)


@dataclass
class Plant:
    capacity_ah: float = 280.0
    cells: int = 16
    resistance_ohm: float = 0.004
    soc_pct: float = 20.0
    temperature_c: float = 20.0
    #: What the charging source can deliver (grid/PV through the SI), A.
    source_a: float = 200.0
    load_a: float = 0.0
    lag_s: float = 3.0
    #: Per-cell SoC offsets (one runner cell makes the highest cell climb first).
    cell_offsets_pct: tuple[float, ...] = (0.0,)
    si_current_a: float = 0.0  #: + charging

    def ocv_v(self) -> float:
        return self.cells * ocv_cell_v(self.soc_pct)

    def battery_current_a(self) -> float:
        return self.si_current_a - self.load_a

    def voltage_v(self) -> float:
        return self.ocv_v() + self.battery_current_a() * self.resistance_ohm

    def cell_voltages_v(self) -> tuple[float, float]:
        drop = self.battery_current_a() * self.resistance_ohm / self.cells
        volts = [
            ocv_cell_v(min(max(self.soc_pct + o, 0), 100)) + drop for o in self.cell_offsets_pct
        ]
        return min(volts), max(volts)

    def step(self, ccl_a: float, dt_s: float) -> None:
        target = min(ccl_a, self.source_a) + self.load_a * 0  # loads are fed besides charging
        alpha = 1.0 - math.exp(-dt_s / self.lag_s)
        self.si_current_a += (target - self.si_current_a) * alpha
        delta_ah = self.battery_current_a() * dt_s / 3600.0
        self.soc_pct = min(max(self.soc_pct + 100.0 * delta_ah / self.capacity_ah, 0.0), 100.0)


def si_snapshot(
    now: float,
    voltage_v: float | None,
    current_a: float | None,
    temperature_c: float | None = 20.0,
    soc_echo_pct: float | None = None,
    seq: int = 0,
) -> SiSnapshot:
    """The gateway's snapshot with the SI's 0x305 (``current_a`` in Victron's sign: + charging)."""
    status = BatteryStatus(
        voltage_v=None if voltage_v is None else round(voltage_v, 1),
        current_a=None if current_a is None else round(-current_a, 1),
        temperature_c=temperature_c,
        soc_pct=soc_echo_pct,
    )
    return SiSnapshot(
        seq=seq,
        sent_monotonic=now,
        sent_unix=1.7e9 + now,
        si_present=True,
        battery_status=Stamped[BatteryStatus](received_monotonic=now, value=status),
    )


def monitor_sample(plant: Plant, now: float, cells: bool = False) -> MonitorSample:
    low, high = plant.cell_voltages_v() if cells else (None, None)
    return MonitorSample(
        service="com.victronenergy.battery.test",
        updated_at=now,
        voltage_v=plant.voltage_v(),
        current_a=plant.battery_current_a(),
        temperature_c=plant.temperature_c,
        soc_pct=plant.soc_pct,
        min_cell_v=low,
        max_cell_v=high,
    )
