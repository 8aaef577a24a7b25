"""The simulated battery monitor and the systemcalc stand-in on D-Bus.

:class:`SimBatteryMonitor` appears as a SmartShunt does (``com.victronenergy.battery.<name>``,
one ``ItemsChanged`` per update) and can be made to **vanish** (its connection closes, as when
dbus-vedirect dies: the name disappears), **freeze** (it stays on the bus but stops updating),
**disconnect** (``/Connected`` = 0 and the measurements invalid, as a shunt that lost its
VE.Direct link), or be **restored**.

:class:`SimSystemCalc` is the part of ``com.victronenergy.system`` a battery consumer reads:
``/ActiveBatteryService`` and ``/Dc/Battery/*``, mirroring what the monitor last published —
so a frozen monitor leaves frozen numbers there too, and a vanished or disconnected one makes
them invalid, as systemcalc does. It can itself be switched to ``no_battery`` or ``vanish``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import structlog
from dbus_fast.aio import MessageBus

from smavenus.io.dbus import connect_system_bus
from smavenus.io.dbus.busitem import BusItemService
from smavenus.sim.monitor import (
    MEASURED_PATHS,
    MONITOR_SPECS,
    SYSTEM_SERVICE,
    SYSTEM_SPECS,
    MonitorReading,
    monitor_identity,
    monitor_values,
    system_identity,
    system_values,
)
from smavenus.sim.scenario import MonitorSection
from smavenus.victron.items import ItemStore

log = structlog.get_logger(__name__)

#: Called with the monitor's published values, or None when it is not selectable.
MirrorCallback = Callable[[Mapping[str, Any] | None], None]

MONITOR_STATES = ("normal", "vanish", "freeze", "disconnect")
SYSTEM_STATES = ("normal", "no_battery", "vanish")


async def _close(bus: MessageBus) -> None:
    bus.disconnect()
    await bus.wait_for_disconnect()  # type: ignore[no-untyped-call]  # unannotated in dbus-fast


class SimBatteryMonitor:
    def __init__(
        self, name: str, cfg: MonitorSection, on_mirror: MirrorCallback | None = None
    ) -> None:
        self.service_name = f"com.victronenergy.battery.{name}"
        self.cfg = cfg
        self.state = "normal"
        self.service: BusItemService | None = None
        self.updates = 0
        self._on_mirror = on_mirror
        self._last: MonitorReading | None = None

    async def start(self) -> None:
        bus = await connect_system_bus()
        store = ItemStore(MONITOR_SPECS)
        store.update(monitor_identity(self.cfg))
        if self._last is not None:
            store.update(monitor_values(self._last, self.cfg))
        service = BusItemService(bus, self.service_name, store)
        try:
            await service.register()
        except Exception:
            await _close(bus)
            raise
        self.service = service
        self._mirror()

    async def stop(self) -> None:
        if self.service is not None:
            bus, self.service = self.service.bus, None
            await _close(bus)

    def update(self, reading: MonitorReading) -> None:
        """A new sample: published (one ItemsChanged) unless frozen, vanished or disconnected."""
        if self.state == "freeze":
            return
        self._last = reading
        if self.service is None or self.state != "normal":
            return
        self.service.publish(monitor_values(reading, self.cfg))
        self.updates += 1
        self._mirror()

    async def set_state(self, state: str) -> None:
        if state not in (*MONITOR_STATES, "restore"):
            raise ValueError(f"unknown monitor state {state!r}")
        state = "normal" if state == "restore" else state
        old, self.state = self.state, state
        log.info("battery_monitor_state", service=self.service_name, old=old, new=state)
        if state == "vanish":
            await self.stop()
            self._mirror()
            return
        if self.service is None:
            await self.start()
        assert self.service is not None
        if state == "disconnect":
            self.service.publish({"/Connected": 0, **dict.fromkeys(MEASURED_PATHS)})
        elif state == "normal":
            values = {"/Connected": 1}
            if self._last is not None:
                values.update(monitor_values(self._last, self.cfg))
            self.service.publish(values)
        self._mirror()

    def _mirror(self) -> None:
        if self._on_mirror is None:
            return
        if self.service is None or self.service.store["/Connected"] != 1:
            self._on_mirror(None)
            return
        store = self.service.store
        self._on_mirror({path: store[path] for path in store.specs})


class SimSystemCalc:
    """``com.victronenergy.system`` as far as the battery goes."""

    def __init__(self, monitor_service: str, device_instance: int) -> None:
        self.monitor_service = monitor_service
        self.device_instance = device_instance
        self.state = "normal"
        self.service: BusItemService | None = None
        self._monitor: Mapping[str, Any] | None = None
        self._pv: tuple[float | None, float | None] = (None, None)

    async def start(self) -> None:
        bus = await connect_system_bus()
        store = ItemStore(SYSTEM_SPECS)
        store.update(system_identity())
        store.update(self._values())
        service = BusItemService(bus, SYSTEM_SERVICE, store)
        try:
            await service.register()
        except Exception:
            await _close(bus)
            raise
        self.service = service

    async def stop(self) -> None:
        if self.service is not None:
            bus, self.service = self.service.bus, None
            await _close(bus)

    def mirror(self, monitor: Mapping[str, Any] | None) -> None:
        self._monitor = monitor
        self._publish()

    def pv(self, current_a: float | None, voltage_v: float | None) -> None:
        self._pv = (current_a, voltage_v)

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
        return system_values(monitor, self.monitor_service, self.device_instance, *self._pv)

    def _publish(self) -> None:
        if self.service is not None:
            self.service.publish(self._values())
