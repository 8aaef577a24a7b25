"""The charts' memory: the last ``hours`` of a few values, one point per ``interval_s``, in
a fixed ring of float arrays (8 bytes a value, allocated once: 24 h at 10 s is 8,640 points
× 9 series ≈ 620 KiB, whatever happens). Pure: the time of each point is passed in.
"""

from __future__ import annotations

import math
from array import array
from typing import Any

#: Series kept, with the live view's value for each (``None`` is stored as NaN).
SERIES: tuple[str, ...] = (
    "t",  #: unix seconds
    "soc_pct",
    "voltage_v",
    "current_a",
    "cvl_v",
    "ccl_a",
    "dcl_a",
    "ac_out_w",
    "ac_in_w",
)


def sample_of(view: dict[str, Any]) -> dict[str, float | None]:
    """One chart point from a :func:`~smavenus.web.view.live_view` dict."""
    battery = view["battery"]
    sent = {row["key"]: row["sent"] for row in view["limits"]}
    si = view["si"] or {"lines": []}
    out = [line["out_w"] for line in si["lines"]]
    ac2 = [line["ac2_w"] for line in si["lines"]]
    return {
        "soc_pct": battery["soc_pct"],
        "voltage_v": battery["voltage_v"] or battery["si_voltage_v"],
        "current_a": battery["current_a"]
        if battery["current_a"] is not None
        else battery["si_current_a"],
        "cvl_v": sent["charge_voltage_v"],
        "ccl_a": sent["charge_current_a"],
        "dcl_a": sent["discharge_current_a"],
        "ac_out_w": None if not out or None in out else sum(out),
        "ac_in_w": None if not ac2 or None in ac2 else sum(ac2),
    }


class History:
    def __init__(self, hours: float, interval_s: float) -> None:
        self.interval_s = interval_s
        self.capacity = math.ceil(hours * 3600.0 / interval_s)
        self._data = {name: array("d", [math.nan]) * self.capacity for name in SERIES}
        self._next = 0  #: where the next point goes
        self._count = 0
        self._last_t: float | None = None

    def due(self, now_unix: float) -> bool:
        return self._last_t is None or now_unix - self._last_t >= self.interval_s

    def add(self, now_unix: float, values: dict[str, float | None]) -> dict[str, float | None]:
        """Append one point; returns it (as sent to the page)."""
        point: dict[str, float | None] = {"t": round(now_unix, 1)}
        point |= {name: values.get(name) for name in SERIES[1:]}
        for name in SERIES:
            value = point[name]
            self._data[name][self._next] = math.nan if value is None else float(value)
        self._next = (self._next + 1) % self.capacity
        self._count = min(self._count + 1, self.capacity)
        self._last_t = now_unix
        return point

    def __len__(self) -> int:
        return self._count

    def columns(self) -> dict[str, list[float | None]]:
        """Every point, oldest first, one list per series (NaN back to None for JSON)."""
        start = (self._next - self._count) % self.capacity
        order = [(start + i) % self.capacity for i in range(self._count)]
        return {
            name: [None if math.isnan(v) else v for v in (self._data[name][i] for i in order)]
            for name in SERIES
        }

    @property
    def nbytes(self) -> int:
        """The ring's own memory (the arrays' buffers)."""
        return sum(a.itemsize * len(a) for a in self._data.values())
