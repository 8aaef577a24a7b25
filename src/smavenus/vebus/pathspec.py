"""The vocabulary of the vebus path table: value types, the lines, and where a value comes from.

Kept apart from the table itself (:mod:`smavenus.vebus.paths`) so the table can be split by
concern (AC and DC measurements there, alarms and LEDs in :mod:`smavenus.vebus.alarm_paths`)
without the parts importing each other.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from smavenus.victron.items import ItemSpec, ItemType

INT, DBL, STR = ItemType.INT, ItemType.DOUBLE, ItemType.STRING

LINES: tuple[int, ...] = (1, 2, 3)


class Source(enum.Enum):
    """Where a path's value comes from; decides when it goes invalid."""

    FIXED = "fixed"  #: identity, configuration and /Connected: always valid
    SI = "si"  #: the SI's status frames; invalid when the snapshot or frame is too old
    CONTROLLER = "controller"  #: the bms-controller's status (and the SI); invalid when old
    #: BMS conditions raised by the controller (Status) or sent by the gateway (Health), and the
    #: gateway's command source; invalid when neither is fresh.
    BMS = "bms"
    LATCHED = "latched"  #: installation facts the SI has shown once; persisted
    WRITTEN = "written"  #: written by Venus (GUI, DVCC); kept as written
    ENERGY = "energy"  #: integrated counters; persisted, never go backwards

    @property
    def goes_stale(self) -> bool:
        return self in (Source.SI, Source.CONTROLLER, Source.BMS)


@dataclass(frozen=True)
class VebusPath:
    spec: ItemSpec
    source: Source

    @property
    def path(self) -> str:
        return self.spec.path
