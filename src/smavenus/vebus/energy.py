"""The ``/Energy/*`` counters: where each interval's AC energy went, integrated over time.

**Attribution.** Per line, the SI's AC bus is a junction of three nodes: the active AC input
(grid or generator; 0x300, + = imported), the inverter bridge (0x301, + = the inverter
delivers AC, i.e. the battery discharges) and AC out (the loads: input + inverter, + =
consumed). The three flows into the junction sum to zero, so either one node feeds the
other two or two nodes feed the third, and the split is unique: a flow from source ``s`` to
sink ``t`` is ``P_s · |P_t| / Σ P_sources``. That covers every quadrant:

================================  ==========================================================
discharging, importing            AcIn→AcOut = P_in, Inverter→AcOut = P_inv
discharging, exporting, loads     Inverter→AcOut = P_out, Inverter→AcIn = −P_in
discharging, exporting, PV on out Inverter→AcIn = P_inv, AcOut→AcIn = −P_out
charging, importing, loads        AcIn→AcOut = P_out, AcIn→Inverter = −P_inv
charging, importing, PV on out    AcIn→Inverter = P_in, AcOut→Inverter = −P_out
charging, exporting               AcOut→AcIn = −P_in, AcOut→Inverter = −P_inv
no AC input, discharging          Inverter→AcOut = P_inv
no AC input, charging (AC PV)     AcOut→Inverter = −P_inv
================================  ==========================================================

"AcIn" is AC input 1 or 2 as published in ``/Ac/ActiveIn/ActiveInput``.

What the original's ESSdev2 table got wrong, and this does not: its factor was 2.8e-7
instead of 1/3,600,000 (+0.8 %); it added AC-out power where the input's share belonged and
DC battery power where AC power belonged, so the flows did not balance; it chose the
quadrant from the DC current's sign while splitting AC power; it never wrote
``InverterToAcIn2``; it integrated stale values; and its counters restarted at zero.

**Integration.** A sample's power is held from the moment it is received until the next
one, but never past the time its frames go stale: ``J += W · Δt`` on the monotonic clock,
kWh = J / 3,600,000. Counters only ever grow.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass

from smavenus.vebus.paths import ENERGY_NAMES

JOULES_PER_KWH = 3_600_000.0


class Node(enum.Enum):
    AC_IN_1 = "AcIn1"
    AC_IN_2 = "AcIn2"
    INVERTER = "Inverter"
    AC_OUT = "AcOut"


#: (from, to) → Victron's counter name ("OutToInverter" is really spelled without "Ac").
COUNTERS: Mapping[tuple[Node, Node], str] = {
    (Node.AC_IN_1, Node.AC_OUT): "AcIn1ToAcOut",
    (Node.AC_IN_1, Node.INVERTER): "AcIn1ToInverter",
    (Node.AC_IN_2, Node.AC_OUT): "AcIn2ToAcOut",
    (Node.AC_IN_2, Node.INVERTER): "AcIn2ToInverter",
    (Node.AC_OUT, Node.AC_IN_1): "AcOutToAcIn1",
    (Node.AC_OUT, Node.AC_IN_2): "AcOutToAcIn2",
    (Node.INVERTER, Node.AC_IN_1): "InverterToAcIn1",
    (Node.INVERTER, Node.AC_IN_2): "InverterToAcIn2",
    (Node.INVERTER, Node.AC_OUT): "InverterToAcOut",
    (Node.AC_OUT, Node.INVERTER): "OutToInverter",
}
assert sorted(COUNTERS.values()) == sorted(ENERGY_NAMES)


@dataclass(frozen=True)
class LinePower:
    """One line's AC powers in SMA's signs (both 100 W steps on the wire)."""

    input_w: float  #: 0x300: + = taken from the AC input
    inverter_w: float  #: 0x301: + = the inverter delivers AC (battery discharging)

    @property
    def output_w(self) -> float:
        """AC out: + = consumed by the loads."""
        return self.input_w + self.inverter_w


def attribute(line: LinePower, source: Node | None) -> dict[str, float]:
    """The flows (W, all ≥ 0) between AC input ``source``, inverter and AC out on one line.

    ``source`` None: no AC input is connected; whatever the SI reports on AC2 is not counted
    (nothing can flow through an open relay) and AC out is taken as the inverter's power.
    """
    into_junction: dict[Node, float] = {Node.INVERTER: line.inverter_w}
    input_w = line.input_w if source is not None else 0.0
    if source is not None:
        into_junction[source] = input_w
    into_junction[Node.AC_OUT] = -(input_w + line.inverter_w)
    supplied = sum(w for w in into_junction.values() if w > 0)
    flows: dict[str, float] = {}
    if supplied <= 0:
        return flows
    for src, src_w in into_junction.items():
        if src_w <= 0:
            continue
        for dst, dst_w in into_junction.items():
            if dst_w < 0:
                flows[COUNTERS[(src, dst)]] = src_w * -dst_w / supplied
    return flows


def attribute_lines(lines: tuple[LinePower, ...], source: Node | None) -> dict[str, float]:
    """Per-line attribution, summed: phases exchange energy only through the battery."""
    total: dict[str, float] = {}
    for line in lines:
        for name, watts in attribute(line, source).items():
            total[name] = total.get(name, 0.0) + watts
    return total


@dataclass(frozen=True)
class PowerSample:
    """What the SI's power frames said, and until when that may be believed."""

    lines: tuple[LinePower, ...]
    source: Node | None
    valid_until: float  #: monotonic s: the oldest frame behind it goes stale then


class EnergyMeter:
    """Integrates held samples into joules per counter; only ever counts up."""

    def __init__(self, joules: Mapping[str, float] | None = None) -> None:
        self._joules = dict.fromkeys(ENERGY_NAMES, 0.0)
        for name, value in (joules or {}).items():
            if name in self._joules and value > 0:
                self._joules[name] = float(value)
        self._held: dict[str, float] = {}
        self._held_until = 0.0
        self._last: float | None = None

    @property
    def joules(self) -> dict[str, float]:
        return dict(self._joules)

    def kwh(self) -> dict[str, float]:
        return {name: j / JOULES_PER_KWH for name, j in self._joules.items()}

    def advance(self, now: float) -> bool:
        """Count the held power up to ``now`` (or until it went stale). True if anything grew."""
        grew = False
        if self._last is not None and self._held:
            end = min(now, self._held_until)
            dt_s = end - self._last
            if dt_s > 0:
                for name, watts in self._held.items():
                    if watts > 0:
                        self._joules[name] += watts * dt_s
                        grew = True
        self._last = now if self._last is None else max(self._last, now)
        return grew

    def hold(self, now: float, sample: PowerSample | None) -> bool:
        """Count up to ``now``, then hold ``sample`` (None: nothing is known, count nothing)."""
        grew = self.advance(now)
        if sample is None or sample.valid_until <= now:
            self._held = {}
        else:
            self._held = attribute_lines(sample.lines, sample.source)
            self._held_until = sample.valid_until
        return grew
