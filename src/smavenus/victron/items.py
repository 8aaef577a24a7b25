"""The bus-agnostic half of a Victron ``com.victronenergy.BusItem`` service.

An :class:`ItemStore` holds one value per path, each coerced to the path's declared D-Bus type
on every assignment (a double where Venus expects an integer enum breaks systemcalc's lookups;
a badly typed value inside GetItems makes the whole service unscannable). It reports what
changed so the exporter (``smavenus.io.dbus.busitem``) can send one ``ItemsChanged`` per update,
and it answers remote writes with velib's codes. No D-Bus here: tests use it directly.

Conventions (velib ``vedbus.py``): ``None`` is "invalid" (an empty array on the wire);
GetText of an invalid value is ``---``; SetValue returns 0 accepted (also when unchanged),
1 not writable or not coercible to the path's type, 2 refused by the owner's check.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any


class ItemType(enum.Enum):
    """The D-Bus type each path is published with (its variant signature)."""

    INT = "i"
    DOUBLE = "d"
    STRING = "s"


class SetResult(enum.IntEnum):
    OK = 0
    NOT_WRITABLE = 1  #: also: the value cannot be coerced to the path's type
    REFUSED = 2  #: the owner's validation said no


INVALID_TEXT = "---"


@dataclass(frozen=True)
class ItemSpec:
    """One path: its type, unit, whether Venus may write it, and its display resolution."""

    path: str
    type: ItemType
    unit: str = ""
    writable: bool = False
    #: Doubles are rounded to this many decimals before storing, so noise below the display
    #: resolution never produces a change signal. ``None`` keeps full precision.
    decimals: int | None = None
    description: str = ""
    #: Optional text formatter for GetText (e.g. enum names); default: value and unit.
    text: Callable[[Any], str] | None = None
    #: Optional bounds (reported to clients that ask, and enforced on writes).
    minimum: float | None = None
    maximum: float | None = None

    def __post_init__(self) -> None:
        if not self.path.startswith("/") or self.path == "/" or self.path.endswith("/"):
            raise ValueError(f"{self.path!r} is not a BusItem path")


class CoercionError(ValueError):
    """A value that cannot be represented in the path's declared type."""


def coerce(spec: ItemSpec, value: Any, *, keep_nan: bool = False) -> Any:
    """``value`` in the path's type, or ``None`` (invalid). Raises :class:`CoercionError`.

    ``keep_nan`` keeps a NaN on a double path as a NaN (a faulty driver's output, which a
    simulator must be able to put on the bus); otherwise NaN and infinities are invalid.
    """
    if value is None:
        return None
    if spec.type is ItemType.STRING:
        if not isinstance(value, str):
            raise CoercionError(f"{spec.path} takes text, not {type(value).__name__}")
        return value
    if isinstance(value, str):
        raise CoercionError(f"{spec.path} takes a number, not text")
    if isinstance(value, enum.Enum):
        value = value.value
    if not isinstance(value, (int, float)):
        raise CoercionError(f"{spec.path} takes a number, not {type(value).__name__}")
    number = float(value)
    if keep_nan and math.isnan(number) and spec.type is ItemType.DOUBLE:
        return math.nan
    if math.isnan(number) or math.isinf(number):
        return None  # a measurement we do not have is invalid, not a number
    if spec.type is ItemType.INT:
        if not number.is_integer():
            raise CoercionError(f"{spec.path} takes an integer, not {value!r}")
        return int(number)
    if spec.decimals is not None:
        number = round(number, spec.decimals)
        if number == 0:
            number = 0.0  # no "-0.0" on the bus
    return number


def default_text(spec: ItemSpec, value: Any) -> str:
    if value is None:
        return INVALID_TEXT
    if spec.text is not None:
        return spec.text(value)
    if isinstance(value, float) and spec.decimals is not None:
        shown = f"{value:.{spec.decimals}f}"
    else:
        shown = str(value)
    return f"{shown} {spec.unit}".rstrip() if spec.unit else shown


def _same(new: Any, old: Any) -> bool:
    """Equal and of one type; a NaN equals a NaN here, so a NaN is not re-sent every update."""
    if type(new) is not type(old):
        return False
    if isinstance(new, float) and math.isnan(new) and math.isnan(old):
        return True
    return bool(new == old)


#: Called on a remote write with (path, coerced value); returns True to accept.
WriteCheck = Callable[[str, Any], bool]


class ItemStore:
    """Values by path. Local updates return what changed; remote writes are checked."""

    def __init__(
        self,
        specs: Iterable[ItemSpec],
        on_write: WriteCheck | None = None,
        *,
        keep_nan: bool = False,
    ) -> None:
        self._specs: dict[str, ItemSpec] = {}
        for spec in specs:
            if spec.path in self._specs:
                raise ValueError(f"duplicate path {spec.path}")
            self._specs[spec.path] = spec
        self._values: dict[str, Any] = dict.fromkeys(self._specs)
        self._on_write = on_write
        #: Local updates keep NaN on double paths (see :func:`coerce`); remote writes never do.
        self._keep_nan = keep_nan

    # -- reading --------------------------------------------------------------------------

    @property
    def specs(self) -> Mapping[str, ItemSpec]:
        return self._specs

    def __contains__(self, path: object) -> bool:
        return path in self._specs

    def __getitem__(self, path: str) -> Any:
        return self._values[path]

    def text(self, path: str) -> str:
        return default_text(self._specs[path], self._values[path])

    def items(self) -> dict[str, tuple[Any, str]]:
        """Every path with (value, text): the GetItems answer."""
        return {path: (self._values[path], self.text(path)) for path in self._specs}

    # -- local updates ----------------------------------------------------------------------

    def update(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Set many paths at once; return only those whose stored value changed."""
        changed: dict[str, Any] = {}
        for path, value in values.items():
            spec = self._specs.get(path)
            if spec is None:
                raise KeyError(f"{path} is not a path of this service")
            new = coerce(spec, value, keep_nan=self._keep_nan)
            if not _same(new, self._values[path]):
                self._values[path] = new
                changed[path] = new
        return changed

    def invalidate(self, paths: Iterable[str]) -> dict[str, Any]:
        """Mark paths invalid (stale data is shown as invalid, never as frozen numbers)."""
        return self.update(dict.fromkeys(paths))

    # -- remote writes (SetValue) -------------------------------------------------------------

    def write(self, path: str, value: Any) -> tuple[SetResult, bool]:
        """Apply a remote write. Returns (result code, whether the stored value changed)."""
        spec = self._specs.get(path)
        if spec is None or not spec.writable:
            return SetResult.NOT_WRITABLE, False
        try:
            new = coerce(spec, value)
        except CoercionError:
            return SetResult.NOT_WRITABLE, False
        if new is not None and spec.type is not ItemType.STRING:
            if spec.minimum is not None and new < spec.minimum:
                return SetResult.REFUSED, False
            if spec.maximum is not None and new > spec.maximum:
                return SetResult.REFUSED, False
        if self._on_write is not None and not self._on_write(path, new):
            return SetResult.REFUSED, False
        changed = bool(self.update({path: new}))
        return SetResult.OK, changed
