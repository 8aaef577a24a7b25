"""The systemcalc stand-in's DVCC loop: SetValue into the vebus service every ``period_s``.

Like systemcalc's timer this runs on **wall-clock** time (3 s by default), whatever the
simulator's ``--speed``: DVCC's writes are a keep-alive for the inverter, and a consumer
judges their age on its own clock. Each cycle finds the vebus service as systemcalc does
(every ``com.victronenergy.vebus.*`` name on the bus, the lowest ``/DeviceInstance``),
reads it with one ``GetItems``, lets :func:`smavenus.sim.dvcc.dvcc_plan` decide, and writes.

A cycle that cannot write (no vebus service yet, a write refused or failing) is logged
once per reason and simply tried again next period; nothing here may stop the simulator.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping
from typing import Any

import structlog
from dbus_fast import Variant
from dbus_fast.aio import MessageBus
from dbus_fast.errors import DBusError

from smavenus.io.dbus import DBUS_NAME, DBUS_PATH, call
from smavenus.io.dbus.busitem import BUSITEM, INVALID, from_variant
from smavenus.io.tasks import OwnedTasks
from smavenus.sim.dvcc import (
    DVCC_OFF,
    VEBUS_MAX_CHARGE_CURRENT,
    BmsView,
    DvccSettings,
    LastCurrent,
    Unset,
    VebusView,
    dvcc_plan,
)

log = structlog.get_logger(__name__)

VEBUS_PREFIX = "com.victronenergy.vebus."
CALL_TIMEOUT_S = 2.0

#: (vebus service or None, the values written, what went wrong or None): once per cycle.
CycleCallback = Callable[[str | None, Mapping[str, Any], str | None], None]


def write_variant(value: Any) -> Variant:
    """As systemcalc's writes arrive: an int as Int32 (``round()`` gives ints), a float as a
    double, None as the invalid marker."""
    if value is None:
        return INVALID
    if isinstance(value, int):
        return Variant("i", value)
    return Variant("d", float(value))


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


async def find_vebus(bus: MessageBus) -> VebusView | None:
    """The vebus service with the lowest ``/DeviceInstance``, read now; None if there is none."""
    (names,) = await call(bus, DBUS_NAME, DBUS_PATH, DBUS_NAME, "ListNames")
    candidates: list[tuple[int, str]] = []
    for name in sorted(str(n) for n in names if str(n).startswith(VEBUS_PREFIX)):
        with contextlib.suppress(DBusError, asyncio.TimeoutError):
            (value,) = await call(
                bus, name, "/DeviceInstance", BUSITEM, "GetValue", timeout_s=CALL_TIMEOUT_S
            )
            instance = from_variant(value)
            if isinstance(instance, int):
                candidates.append((instance, name))
    if not candidates:
        return None
    instance, name = min(candidates)
    (items,) = await call(bus, name, "/", BUSITEM, "GetItems", timeout_s=CALL_TIMEOUT_S)
    values = {path: from_variant(entry.get("Value")) for path, entry in items.items()}
    return VebusView(
        service=name,
        instance=instance,
        connected=values.get("/Connected") == 1,
        max_charge_current_a=_number(values.get(VEBUS_MAX_CHARGE_CURRENT)),
        bol_frame=values.get("/FirmwareFeatures/BolFrame") == 1,
    )


class DvccWriter:
    """systemcalc's DVCC delegate, as far as our vebus service is concerned."""

    def __init__(
        self,
        *,
        bus: Callable[[], MessageBus | None],
        settings: Callable[[], DvccSettings],
        bms: Callable[[], BmsView | None],
        pv_dc_current_a: Callable[[], float],
        publish: Callable[[Mapping[str, Any]], None],
        on_cycle: CycleCallback | None = None,
    ) -> None:
        self._bus = bus
        self._settings = settings
        self._bms = bms
        self._pv = pv_dc_current_a
        self._publish = publish
        self._on_cycle = on_cycle
        self._last_current: LastCurrent = Unset.NOTSET
        self._failing: str | None = None
        self._task: asyncio.Task[None] | None = None
        self._tasks = OwnedTasks("dvcc")
        self.ticks = 0  #: periods passed (stalled or off included)
        self._tick_waiters: list[tuple[int, asyncio.Future[None]]] = []

    def start(self) -> None:
        if self._task is None:
            self._task = self._tasks.spawn(self._run(), "cycles")

    async def stop(self) -> None:
        for _target, future in self._tick_waiters:
            future.cancel()
        if self._task is not None:
            self._task = None
            await self._tasks.cancel_all()  # a failure was logged when it happened

    async def wait_ticks(self, count: int) -> None:
        """Return once ``count`` more periods have passed: a window in which an enabled,
        unstalled DVCC would have written ``count`` times (tests of silence use it)."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._tick_waiters.append((self.ticks + count, future))
        await future

    def restarted(self) -> None:
        """systemcalc came back: a new process has written nothing to any vebus yet."""
        self._last_current = Unset.NOTSET

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time()
        while True:
            try:
                await self.cycle()
            except Exception as exc:  # a stand-in must never stop the simulator
                self._failed(None, f"cycle error: {type(exc).__name__}: {exc}")
            self.ticks += 1
            for item in [w for w in self._tick_waiters if w[0] <= self.ticks]:
                self._tick_waiters.remove(item)
                if not item[1].done():
                    item[1].set_result(None)
            due = max(due + self._settings().period_s, loop.time())
            await asyncio.sleep(due - loop.time())

    async def cycle(self) -> None:
        """One DVCC cycle (public for tests that want one now)."""
        settings, bus = self._settings(), self._bus()
        if bus is None or not settings.enabled:
            if bus is not None:
                self._publish(DVCC_OFF)
            return
        if settings.stalled:
            return  # hung: still "on", nothing written, nothing updated
        try:
            vebus = await find_vebus(bus)
        except (DBusError, asyncio.TimeoutError) as exc:
            self._failed(None, f"vebus not readable: {exc or type(exc).__name__}")
            return
        plan = dvcc_plan(settings, self._bms(), vebus, self._pv(), self._last_current)
        self._last_current = plan.last_current
        self._publish(plan.system)
        if vebus is None:
            self._failed(None, "no vebus service")
            return
        written: dict[str, Any] = {}
        problems: list[str] = []
        for path, value in plan.writes.items():
            problem = await self._write(bus, vebus.service, path, value)
            if problem is None:
                written[path] = value
            else:
                problems.append(problem)
        if problems:
            self._failed(vebus.service, "; ".join(problems), written)
            return
        if self._failing is not None:
            log.info("dvcc_write_recovered", service=vebus.service, was=self._failing)
            self._failing = None
        log.debug("dvcc_written", service=vebus.service, values=written)
        if self._on_cycle is not None:
            self._on_cycle(vebus.service, written, None)

    async def _write(self, bus: MessageBus, service: str, path: str, value: Any) -> str | None:
        try:
            (code,) = await call(
                bus,
                service,
                path,
                BUSITEM,
                "SetValue",
                signature="v",
                body=[write_variant(value)],
                timeout_s=CALL_TIMEOUT_S,
            )
        except (DBusError, asyncio.TimeoutError) as exc:
            return f"{path}: {exc or type(exc).__name__}"
        return None if code == 0 else f"{path}: refused ({code})"

    def _failed(
        self, service: str | None, reason: str, written: Mapping[str, Any] | None = None
    ) -> None:
        if reason != self._failing:
            log.warning("dvcc_write_failed", service=service, reason=reason)
            self._failing = reason
        if self._on_cycle is not None:
            self._on_cycle(service, written or {}, reason)
