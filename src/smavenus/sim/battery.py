"""The simulated battery: open-circuit voltage curve, internal resistance, temperature, true SoC.

A plausible equivalent circuit, not electrochemistry: ``terminal = OCV(SoC) + I × R(T)`` with
``I`` positive while charging. The OCV curves are per cell, as ``(soc_pct, volts)`` tables
interpolated linearly. They rise steeply near full, so a constant charge voltage makes the
current taper on its own, and fall steeply near empty, so the discharge voltage limit trips
before the battery is flat. The simulator knows the true SoC; nothing on the bus does.
"""

from __future__ import annotations

import enum
import math
from bisect import bisect_right
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Chemistry:
    """A cell type: OCV table, default series cell count and per-cell resistance at 25 °C."""

    name: str
    #: (soc_pct, cell volts), strictly increasing in both.
    ocv_table: tuple[tuple[float, float], ...]
    default_cells: int
    cell_resistance_ohm: float
    #: Resistance rises this fraction per kelvin below 25 °C (cold cells are stiffer).
    cold_resistance_per_k: float
    _soc_points: tuple[float, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_soc_points", tuple(point[0] for point in self.ocv_table))

    def cell_ocv_v(self, soc_pct: float) -> float:
        return interpolate(self.ocv_table, soc_pct, self._soc_points)


def interpolate(
    table: tuple[tuple[float, float], ...], x: float, xs: tuple[float, ...] | None = None
) -> float:
    """Piecewise-linear lookup, clamped at both ends (``xs``: the table's x values, if known)."""
    if xs is None:
        xs = tuple(point[0] for point in table)
    if x <= xs[0]:
        return table[0][1]
    if x >= xs[-1]:
        return table[-1][1]
    i = bisect_right(xs, x)
    (x0, y0), (x1, y1) = table[i - 1], table[i]
    return y0 + (y1 - y0) * (x - x0) / (x1 - x0)


class ChemistryName(enum.Enum):
    LIFEPO4 = "lifepo4"
    LEAD_ACID = "lead_acid"


#: LiFePO4: the long flat plateau around 3.3 V, steep knees below 10 % and above 95 %.
LIFEPO4 = Chemistry(
    name="lifepo4",
    ocv_table=(
        (0.0, 2.50),
        (2.0, 2.90),
        (5.0, 3.10),
        (10.0, 3.20),
        (20.0, 3.25),
        (30.0, 3.28),
        (40.0, 3.295),
        (50.0, 3.305),
        (60.0, 3.315),
        (70.0, 3.325),
        (80.0, 3.335),
        (90.0, 3.35),
        (95.0, 3.38),
        (98.0, 3.42),
        (99.0, 3.46),
        (100.0, 3.65),
    ),
    default_cells=16,
    cell_resistance_ohm=0.00025,
    cold_resistance_per_k=0.03,
)

#: Flooded/AGM lead-acid, 2 V cells: a sloped curve; the top end includes the gassing rise
#: so that a 2.40 V/cell absorption voltage tapers the current as a real bank does.
LEAD_ACID = Chemistry(
    name="lead_acid",
    ocv_table=(
        (0.0, 1.90),
        (10.0, 1.95),
        (20.0, 1.98),
        (50.0, 2.04),
        (80.0, 2.10),
        (90.0, 2.14),
        (95.0, 2.20),
        (98.0, 2.30),
        (100.0, 2.45),
    ),
    default_cells=24,
    cell_resistance_ohm=0.0004,
    cold_resistance_per_k=0.02,
)

CHEMISTRIES: dict[ChemistryName, Chemistry] = {
    ChemistryName.LIFEPO4: LIFEPO4,
    ChemistryName.LEAD_ACID: LEAD_ACID,
}


@dataclass(frozen=True)
class BatteryParams:
    chemistry: Chemistry
    cells: int
    capacity_ah: float
    internal_resistance_ohm: float
    #: Heat capacity of the whole bank (J/K) and its time constant towards ambient (s).
    heat_capacity_j_per_k: float = 100_000.0
    thermal_time_constant_s: float = 7200.0
    #: Per-cell SoC offsets (percentage points): cell imbalance for min/max cell voltage.
    cell_soc_offsets_pct: tuple[float, ...] = ()


class Battery:
    """State of the bank. ``current_a`` is positive while charging everywhere in this class."""

    def __init__(self, params: BatteryParams, soc_pct: float, temperature_c: float) -> None:
        self.params = params
        self.soc_pct = min(max(soc_pct, 0.0), 100.0)
        self.temperature_c = temperature_c
        self.charged_ah = 0.0  #: Ah into the battery since start (out counts negative)

    def resistance_ohm(self) -> float:
        cold_k = max(0.0, 25.0 - self.temperature_c)
        factor = 1.0 + self.params.chemistry.cold_resistance_per_k * cold_k
        return self.params.internal_resistance_ohm * factor

    def ocv_v(self) -> float:
        return self.params.cells * self.params.chemistry.cell_ocv_v(self.soc_pct)

    def terminal_v(self, current_a: float) -> float:
        return self.ocv_v() + current_a * self.resistance_ohm()

    def current_for_voltage_a(self, voltage_v: float) -> float:
        """The current at which the terminal voltage equals ``voltage_v`` (CV regulation)."""
        return (voltage_v - self.ocv_v()) / self.resistance_ohm()

    def cell_voltages_v(self, current_a: float) -> tuple[float, float]:
        """(min, max) cell voltage under ``current_a``, from the per-cell SoC offsets."""
        offsets = self.params.cell_soc_offsets_pct or (0.0,)
        drop = current_a * self.resistance_ohm() / self.params.cells
        volts = [
            self.params.chemistry.cell_ocv_v(min(max(self.soc_pct + o, 0.0), 100.0)) + drop
            for o in offsets
        ]
        return min(volts), max(volts)

    def step(self, current_a: float, dt_s: float, ambient_c: float) -> None:
        """Integrate ``dt_s`` seconds at ``current_a``: charge, then heat and cooling."""
        delta_ah = current_a * dt_s / 3600.0
        self.charged_ah += delta_ah
        self.soc_pct = min(
            max(self.soc_pct + 100.0 * delta_ah / self.params.capacity_ah, 0.0), 100.0
        )
        heating_w = current_a * current_a * self.resistance_ohm()
        cooling = (ambient_c - self.temperature_c) * (
            1.0 - math.exp(-dt_s / self.params.thermal_time_constant_s)
        )
        self.temperature_c += cooling + heating_w * dt_s / self.params.heat_capacity_j_per_k
