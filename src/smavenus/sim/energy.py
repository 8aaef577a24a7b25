"""The simulator's own account of the AC energy, to judge the vebus ``/Energy/*`` counters by.

Two sums of the same flows, per node of the SI's AC junction and summed over the lines:

* ``physical``: the model's power flow integrated over simulated time (what really flowed);
* ``reported``: the powers the SI put in its 0x300/0x301 frames (100 W steps, with the
  measurement noise), each cycle's held until the next cycle, as a host that integrates the
  frames does. This is what smavenus can know; ``physical − reported`` is the SI's resolution,
  not smavenus's error.

The nodes are the sums the vebus counters add up to whatever its attribution between them:
what AC in imported (``AcInXToAcOut + AcInXToInverter``), what it exported, what the inverter
delivered (``InverterToAcOut + InverterToAcInX``) and took in, what AC out consumed
(``AcInXToAcOut + InverterToAcOut``) and fed back. Each is in Wh of simulated time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from smavenus.errors import FrameDecodeError
from smavenus.protocol import ExternalPower, InverterPower, decode

NODES = (
    "ac_in_import",
    "ac_in_export",
    "inverter_out",
    "inverter_in",
    "ac_out_consumed",
    "ac_out_fed",
)
_EXTERNAL_ID = 0x300
_INVERTER_ID = 0x301
#: A reported cycle is held at most this many status periods (a silent SI counts nothing).
MAX_HOLD_PERIODS = 2.0


def node_watts(external_w: Sequence[float], inverter_w: Sequence[float]) -> dict[str, float]:
    """Each node's power (W, ≥ 0) for per-line external (+ from AC2) and inverter (+ to AC1)."""
    watts = dict.fromkeys(NODES, 0.0)
    for ext, inv in zip(external_w, inverter_w, strict=True):
        out = ext + inv
        watts["ac_in_import"] += max(ext, 0.0)
        watts["ac_in_export"] += max(-ext, 0.0)
        watts["inverter_out"] += max(inv, 0.0)
        watts["inverter_in"] += max(-inv, 0.0)
        watts["ac_out_consumed"] += max(out, 0.0)
        watts["ac_out_fed"] += max(-out, 0.0)
    return watts


@dataclass
class EnergyTotals:
    """Wh per node: ``physical`` and ``reported`` (see the module's docstring)."""

    status_period_s: float
    physical_j: dict[str, float] = field(default_factory=lambda: dict.fromkeys(NODES, 0.0))
    reported_j: dict[str, float] = field(default_factory=lambda: dict.fromkeys(NODES, 0.0))
    _held: dict[str, float] = field(default_factory=dict)
    _held_since: float = 0.0

    def integrate(
        self, external_w: Sequence[float], inverter_w: Sequence[float], dt_s: float
    ) -> None:
        """The model's flow over one integration step."""
        for name, watts in node_watts(external_w, inverter_w).items():
            self.physical_j[name] += watts * dt_s

    def cycle(self, now_s: float, frames: Sequence[tuple[int, bytes]]) -> None:
        """A status cycle went out at ``now_s``: count the previous one's powers, hold these."""
        self._count_held(now_s)
        by_id = dict(frames)
        external = _powers(_EXTERNAL_ID, by_id.get(_EXTERNAL_ID))
        inverter = _powers(_INVERTER_ID, by_id.get(_INVERTER_ID))
        if external is None or inverter is None:
            self._held = {}  # a cycle without its power frames: nothing is known to count
            return
        self._held = node_watts(external, inverter)
        self._held_since = now_s

    def _count_held(self, now_s: float) -> None:
        if not self._held:
            return
        end = min(now_s, self._held_since + MAX_HOLD_PERIODS * self.status_period_s)
        dt_s = max(end - self._held_since, 0.0)
        for name, watts in self._held.items():
            self.reported_j[name] += watts * dt_s
        self._held_since = end

    def to_dict(self, now_s: float) -> dict[str, Any]:
        """Wh so far (the held cycle counted up to ``now_s``), rounded to 1 mWh."""
        self._count_held(now_s)
        return {
            "physical_wh": {k: round(v / 3600.0, 3) for k, v in self.physical_j.items()},
            "reported_wh": {k: round(v / 3600.0, 3) for k, v in self.reported_j.items()},
        }


def _powers(can_id: int, data: bytes | None) -> tuple[float, float, float] | None:
    """Per-line watts of a 0x300/0x301 frame as a host decodes it (absent lines: 0)."""
    if data is None:
        return None
    try:
        frame = decode(can_id, data)
    except FrameDecodeError:
        return None
    assert isinstance(frame, (ExternalPower, InverterPower))
    return (frame.l1_w or 0.0, frame.l2_w or 0.0, frame.l3_w or 0.0)
