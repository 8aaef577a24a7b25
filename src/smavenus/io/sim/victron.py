"""The simulated battery services and the systemcalc stand-in on D-Bus.

:class:`SimBatteryService` is one ``com.victronenergy.battery.*`` service on its own bus
connection: the SmartShunt-like monitor (one ``ItemsChanged`` per update), the battery's BMS
on a service of its own, or both on one service (``[bms] service = "monitor"``). It can be
put in any fault state of :mod:`smavenus.sim.faults`: **vanish** (its connection closes, as
when the driver dies: the name disappears), **freeze** (on the bus, never changing),
**disconnect** (``/Connected`` = 0 and the measurements invalid), **lie**, **nan**,
**cells_invalid**, and back (**restore**). Its store keeps NaN, so ``nan`` reaches clients
as D-Bus doubles holding NaN.

:class:`SimSystemCalc` is the part of ``com.victronenergy.system`` a battery consumer reads:
``/ActiveBatteryService`` and ``/Dc/Battery/*``, mirroring what the monitor last published —
so a frozen monitor leaves frozen numbers there too, and a vanished or disconnected one makes
them invalid, as systemcalc does — plus ``/ActiveBmsService``/``/ActiveBmsInstance`` and, with
``[dvcc]``, DVCC (``smavenus.io.sim.dvcc``). It can itself be switched to ``no_battery`` or
``vanish`` (DVCC stops with it, as when systemcalc dies).

A service whose bus connection is lost without being told to go (the dbus-daemon restarted)
comes back by itself as soon as the bus takes connections again, as Venus's drivers do when
their supervisor restarts them (``dbus_reconnected``; retried every 0.1-2 s).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from typing import Any, Protocol

import structlog
from dbus_fast.aio import MessageBus

from smavenus.io.dbus import connect_system_bus
from smavenus.io.dbus.busitem import BusItemService
from smavenus.io.sim.dvcc import CycleCallback, DvccWriter
from smavenus.sim.dvcc import DVCC_OFF, BmsView, DvccSettings, bms_system_values
from smavenus.sim.faults import (
    SERVICE_STATES,
    SILENT_STATES,
    disconnected_values,
    shown_values,
    state_of,
)
from smavenus.sim.monitor import SYSTEM_SERVICE, SYSTEM_SPECS, system_identity, system_values
from smavenus.sim.scenario_types import DEFAULT_LIE_OFFSET_V
from smavenus.victron.items import ItemSpec, ItemStore

log = structlog.get_logger(__name__)

#: Called with the monitor's published values, or None when it is not selectable.
MirrorCallback = Callable[[Mapping[str, Any] | None], None]

SYSTEM_STATES = ("normal", "no_battery", "vanish")


async def _close(bus: MessageBus) -> None:
    bus.disconnect()
    await bus.wait_for_disconnect()  # type: ignore[no-untyped-call]  # unannotated in dbus-fast


RECONNECT_MAX_DELAY_S = 2.0


class _Served(Protocol):
    service: BusItemService | None


async def _reconnect(
    owner: _Served, lost: BusItemService, start: Callable[[], Awaitable[None]]
) -> None:
    """Wait for ``lost``'s connection to end; unless ``owner`` let it go, serve again."""
    with contextlib.suppress(Exception):
        await lost.bus.wait_for_disconnect()  # type: ignore[no-untyped-call]
    if owner.service is not lost:
        return  # stopped on purpose (vanish, stop)
    owner.service = None
    log.warning("dbus_connection_lost", service=lost.name)
    delay = 0.1
    while owner.service is None:
        try:
            await start()
        except Exception as exc:  # any failure to connect: try again
            log.debug("dbus_reconnect_failed", service=lost.name, reason=repr(exc))
            await asyncio.sleep(delay)
            delay = min(2 * delay, RECONNECT_MAX_DELAY_S)
            continue
        log.info("dbus_reconnected", service=lost.name)


def _watch(owner: _Served, start: Callable[[], Awaitable[None]]) -> asyncio.Task[None] | None:
    if owner.service is None:
        return None
    return asyncio.ensure_future(_reconnect(owner, owner.service, start))


async def _unwatch(task: asyncio.Task[None] | None) -> None:
    if task is not None and task is not asyncio.current_task():
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _serve(name: str, store: ItemStore) -> BusItemService:
    bus = await connect_system_bus()
    service = BusItemService(bus, name, store)
    try:
        await service.register()
    except Exception:
        await _close(bus)
        raise
    return service


class SimBatteryService:
    """A simulated ``com.victronenergy.battery.*`` service (a shunt, a BMS, or both)."""

    def __init__(
        self,
        service_name: str,
        specs: Sequence[ItemSpec],
        identity: Mapping[str, Any],
        measured: Collection[str],
        on_mirror: MirrorCallback | None = None,
    ) -> None:
        self.service_name = service_name
        self.specs = {spec.path: spec for spec in specs}
        self._identity = dict(identity)
        self._measured = tuple(measured)  #: invalid while disconnected
        self.state = "normal"
        self.voltage_offset_v = DEFAULT_LIE_OFFSET_V
        self.service: BusItemService | None = None
        self.updates = 0
        self._on_mirror = on_mirror
        self._true: dict[str, Any] = {}  #: the latest true values, whatever is shown
        self._watcher: asyncio.Task[None] | None = None
        #: A restore and a reconnection may both want to serve: only one may.
        self._starting = asyncio.Lock()

    @property
    def published(self) -> Mapping[str, Any] | None:
        """What a client reads now; None while the service is off the bus."""
        if self.service is None:
            return None
        store = self.service.store
        return {path: store[path] for path in store.specs}

    async def start(self) -> None:
        async with self._starting:
            if self.service is not None:
                return
            store = ItemStore(self.specs.values(), keep_nan=True)
            store.update(self._identity)
            store.update(self._current())
            self.service = await _serve(self.service_name, store)
            self._watcher = _watch(self, self.start)
        self._mirror()

    async def stop(self) -> None:
        if self.service is not None:
            bus, self.service = self.service.bus, None
            await _close(bus)
        await _unwatch(self._watcher)

    def update(self, values: Mapping[str, Any]) -> None:
        """New true values: published (one ItemsChanged) unless the state keeps them back."""
        self._true.update(values)
        if self.service is None or self.state in SILENT_STATES:
            return
        self.service.publish(shown_values(values, self.state, self.specs, self.voltage_offset_v))
        self.updates += 1
        self._mirror()

    async def set_state(self, request: str, detail: Mapping[str, Any] | None = None) -> None:
        state = state_of(request)
        if state not in SERVICE_STATES:
            raise ValueError(f"unknown battery service state {request!r}")
        old, self.state = self.state, state
        self.voltage_offset_v = (detail or {}).get("voltage_offset_v", DEFAULT_LIE_OFFSET_V)
        log.info("battery_service_state", service=self.service_name, old=old, new=state)
        if state == "vanish":
            await self.stop()
        elif self.service is None:
            await self.start()
        elif state != "freeze":
            self.service.publish(self._current())
        self._mirror()

    def _current(self) -> dict[str, Any]:
        """Everything but the identity as the state shows it (a freeze shows the last)."""
        if self.state == "disconnect":
            return disconnected_values(self.specs, self._measured)
        shown = shown_values(self._true, self.state, self.specs, self.voltage_offset_v)
        return {"/Connected": 1, **shown}

    def _mirror(self) -> None:
        if self._on_mirror is None:
            return
        published = self.published
        self._on_mirror(None if published is None or published["/Connected"] != 1 else published)


class SimSystemCalc:
    """``com.victronenergy.system`` as far as the battery, the BMS and DVCC go."""

    def __init__(
        self,
        monitor_service: str,
        device_instance: int,
        *,
        bms: Callable[[], BmsView | None] = lambda: None,
        dvcc: Callable[[], DvccSettings] | None = None,
        on_dvcc_cycle: CycleCallback | None = None,
    ) -> None:
        self.monitor_service = monitor_service
        self.device_instance = device_instance
        self.state = "normal"
        self.service: BusItemService | None = None
        self._monitor: Mapping[str, Any] | None = None
        self._pv: tuple[float | None, float | None] = (None, None)
        self._bms = bms
        self._dvcc_values: dict[str, Any] = dict(DVCC_OFF)
        self._watcher: asyncio.Task[None] | None = None
        self._starting = asyncio.Lock()
        self.dvcc: DvccWriter | None = None
        if dvcc is not None:
            self.dvcc = DvccWriter(
                bus=lambda: None if self.service is None else self.service.bus,
                settings=dvcc,
                bms=bms,
                pv_dc_current_a=lambda: self._pv[0] or 0.0,
                publish=self._publish_dvcc,
                on_cycle=on_dvcc_cycle,
            )

    async def start(self) -> None:
        async with self._starting:
            if self.service is not None:
                return
            store = ItemStore(SYSTEM_SPECS, keep_nan=True)
            store.update(system_identity())
            store.update(self._values())
            self.service = await _serve(SYSTEM_SERVICE, store)
            self._watcher = _watch(self, self.start)
        if self.dvcc is not None:
            self.dvcc.restarted()
            self.dvcc.start()

    async def stop(self) -> None:
        if self.service is not None:
            bus, self.service = self.service.bus, None
            await _close(bus)
        await _unwatch(self._watcher)

    async def close(self) -> None:
        """Stop for good (DVCC's loop too)."""
        if self.dvcc is not None:
            await self.dvcc.stop()
        await self.stop()

    def mirror(self, monitor: Mapping[str, Any] | None) -> None:
        self._monitor = monitor
        self._publish()

    def pv(self, current_a: float | None, voltage_v: float | None) -> None:
        self._pv = (current_a, voltage_v)

    def refresh(self) -> None:
        """Something systemcalc watches changed (the BMS): publish what follows at once."""
        self._publish()

    def dvcc_changed(self, settings: DvccSettings) -> None:
        """The user switched DVCC: systemcalc shows it with its next tick, here at once."""
        self._publish_dvcc(DVCC_OFF if not settings.enabled else {"/Control/Dvcc": 1})

    async def set_state(self, state: str) -> None:
        if state not in SYSTEM_STATES:
            raise ValueError(f"unknown system state {state!r}")
        old, self.state = self.state, state
        log.info("systemcalc_state", old=old, new=state)
        if state == "vanish":
            await self.stop()
            return
        if self.service is None:
            await self.start()
        self._publish()

    def _values(self) -> dict[str, Any]:
        monitor = self._monitor if self.state == "normal" else None
        values = system_values(monitor, self.monitor_service, self.device_instance, *self._pv)
        return {**values, **bms_system_values(self._bms()), **self._dvcc_values}

    def _publish(self) -> None:
        if self.service is not None:
            self.service.publish(self._values())

    def _publish_dvcc(self, values: Mapping[str, Any]) -> None:
        self._dvcc_values.update(values)
        self._publish()
