"""DVCC's writes into the vebus service, each with the moment it arrived, for the controller. Pure.

systemcalc's DVCC rewrites ``/BatteryOperationalLimits/*`` and ``/Dc/0/MaxChargeCurrent``
every 3 s while it is on, and simply stops when it is switched off, loses its BMS or dies:
there is no "unset" write. So the write's time, not its value, says whether a limit is still
meant; every accepted write is stamped, also one that repeats the value. The edge reads the
clock and hands the stamp in; this module never does.
"""

from __future__ import annotations

import math

from smavenus.ipc.messages import DVCC_WRITE_PATHS, DvccWrites, WrittenValue


def dvcc_field(path: str) -> str | None:
    """The :class:`~smavenus.ipc.messages.DvccWrites` field of a DVCC path; ``None`` otherwise."""
    return DVCC_WRITE_PATHS.get(path)


class DvccRecord:
    """The latest accepted write per DVCC path, and the messages that report them."""

    def __init__(self) -> None:
        self._written: dict[str, WrittenValue] = {}
        self._seq = 0

    def record(self, path: str, value: float | None, written_monotonic: float) -> bool:
        """Keep one accepted write; ``False`` (nothing kept) for a path DVCC does not write.

        NaN and infinities are kept as ``None``, like the invalid marker: a limit nobody can
        use is no limit (the store already turns them into invalid on the bus).
        """
        name = dvcc_field(path)
        if name is None:
            return False
        if value is not None and not math.isfinite(value):
            value = None
        self._written[name] = WrittenValue(value=value, written_monotonic=written_monotonic)
        return True

    @property
    def empty(self) -> bool:
        return not self._written

    def message(self, sent_monotonic: float, sent_unix: float) -> DvccWrites:
        """Everything recorded so far, as the next message (``seq`` counts from 1)."""
        self._seq += 1
        return DvccWrites(
            seq=self._seq, sent_monotonic=sent_monotonic, sent_unix=sent_unix, **self._written
        )
