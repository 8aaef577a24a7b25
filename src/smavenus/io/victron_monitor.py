"""Following the battery monitor on Venus OS's D-Bus, the way Victron's own clients do.

Which monitor: the one named in ``[bms] battery_service``, or else the one systemcalc
selected — ``com.victronenergy.system`` ``/ActiveBatteryService``, e.g.
``com.victronenergy.battery/512``: the ``com.victronenergy.battery.*`` service whose
``/DeviceInstance`` is 512. Only the ``battery`` class is followed: when systemcalc selected
the vebus (our own SI, published from the SI's numbers) or "no battery", there is no monitor
and the controller runs on the SI's measurements, degraded.

How (``venus-dbus.md`` §1.5, as velib's dbusmonitor and aiovelib do): a ``GetItems`` scan of
``/``, then ``ItemsChanged`` on ``/`` and ``PropertiesChanged`` — accepted only from the unique
name that currently owns the service — and a rescan whenever the owner changes (the service
restarted, was replaced, or appeared). A service that vanishes is reported at once. A
monitor publishes only what changed, so after ``poll_after_s`` of silence the follower scans
again: a reply confirms the values are still current (a monitor that is alive but idle), no
reply leaves them to go stale.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import structlog
from dbus_fast import Message
from dbus_fast.aio import MessageBus
from dbus_fast.errors import DBusError

from smavenus.bms.inputs import MonitorSample
from smavenus.io.busitem import BUSITEM, from_variant
from smavenus.io.dbus import (
    DBUS_NAME,
    DBUS_PATH,
    NameOwnerWatcher,
    SignalSubscription,
    call,
)

log = structlog.get_logger(__name__)

SYSTEM_SERVICE = "com.victronenergy.system"
BATTERY_CLASS = "com.victronenergy.battery"
ACTIVE_BATTERY_PATH = "/ActiveBatteryService"

#: Monitor path → MonitorSample field.
MONITOR_PATHS: dict[str, str] = {
    "/Dc/0/Voltage": "voltage_v",
    "/Dc/0/Current": "current_a",
    "/Dc/0/Temperature": "temperature_c",
    "/Soc": "soc_pct",
    "/System/MinCellVoltage": "min_cell_v",
    "/System/MaxCellVoltage": "max_cell_v",
}
CONNECTED_PATH = "/Connected"


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def sample_from_values(
    service: str, values: dict[str, Any], updated_at: float
) -> MonitorSample | None:
    """The controller's view of a monitor's paths; None when it says it is not connected."""
    if values.get(CONNECTED_PATH) == 0:
        return None
    fields = {name: _number(values.get(path)) for path, name in MONITOR_PATHS.items()}
    return MonitorSample(service=service, updated_at=updated_at, **fields)


class ServiceFollower:
    """The values of one BusItem service, kept current. ``on_change()`` after every update."""

    def __init__(
        self,
        bus: MessageBus,
        name: str,
        on_change: Callable[[], None],
        *,
        paths: frozenset[str] | None = None,
        poll_after_s: float | None = None,
    ) -> None:
        self.bus = bus
        self.name = name
        self.paths = paths
        self.values: dict[str, Any] = {}
        self.updated_at: float | None = None
        self._on_change = on_change
        self._poll_after_s = poll_after_s
        self._poll_handle: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._watcher = NameOwnerWatcher(bus, (name,), on_change=self._owner_changed)
        self._subscriptions = [
            SignalSubscription(
                bus, BUSITEM, "ItemsChanged", self._items_changed, path="/", sender=name
            ),
            SignalSubscription(
                bus, BUSITEM, "PropertiesChanged", self._properties_changed, sender=name
            ),
        ]

    @property
    def owner(self) -> str | None:
        return self._watcher.owner(self.name)

    async def start(self) -> None:
        await self._watcher.start()
        for subscription in self._subscriptions:
            await subscription.start()
        if self.owner:
            await self.scan()

    async def stop(self) -> None:
        if self._poll_handle is not None:
            self._poll_handle.cancel()
        for task in self._tasks:
            task.cancel()
        for subscription in self._subscriptions:
            await subscription.stop()
        await self._watcher.stop()

    async def scan(self) -> None:
        owner = self.owner
        try:
            (items,) = await call(self.bus, self.name, "/", BUSITEM, "GetItems", timeout_s=2.0)
        except (DBusError, asyncio.TimeoutError) as exc:
            log.warning(
                "service_scan_failed", service=self.name, error=str(exc) or type(exc).__name__
            )
            self._arm_poll()
            return
        if owner is None or owner != self.owner:
            return  # the owner changed while we asked: its own scan follows
        self.values = {
            path: from_variant(entry.get("Value"))
            for path, entry in items.items()
            if self.paths is None or path in self.paths
        }
        self._updated()

    def _updated(self) -> None:
        self.updated_at = time.monotonic()
        self._arm_poll()
        self._on_change()

    def _arm_poll(self) -> None:
        if self._poll_after_s is None:
            return
        if self._poll_handle is not None:
            self._poll_handle.cancel()
        self._poll_handle = asyncio.get_running_loop().call_later(self._poll_after_s, self._poll)

    def _poll(self) -> None:
        self._poll_handle = None
        if self.owner:
            self._spawn(self.scan())

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _owner_changed(self, _name: str, old: str | None, new: str | None) -> None:
        if new is None:
            log.warning("service_vanished", service=self.name, owner=old)
            self.values, self.updated_at = {}, None
            self._on_change()
            return
        log.info("service_appeared", service=self.name, owner=new, replaced=old)
        self._spawn(self.scan())

    def _items_changed(self, msg: Message) -> None:
        if msg.sender != self.owner or msg.signature != "a{sa{sv}}":
            return
        changed = False
        for path, entry in msg.body[0].items():
            if (self.paths is None or path in self.paths) and "Value" in entry:
                self.values[path] = from_variant(entry["Value"])
                changed = True
        if changed:
            self._updated()

    def _properties_changed(self, msg: Message) -> None:
        path = msg.path or ""
        if msg.sender != self.owner or msg.signature != "a{sv}":
            return
        if (self.paths is None or path in self.paths) and "Value" in msg.body[0]:
            self.values[path] = from_variant(msg.body[0]["Value"])
            self._updated()


def parse_active_battery(value: Any) -> tuple[str, int] | None:
    """``"com.victronenergy.battery/512"`` → (class, instance); anything else → None."""
    if not isinstance(value, str) or "/" not in value:
        return None
    service_class, _, instance = value.rpartition("/")
    try:
        return service_class, int(instance)
    except ValueError:
        return None


class BatteryMonitor:
    """The battery monitor the controller should use, followed as it appears, vanishes or is
    replaced. ``on_sample(sample | None)`` after every change (None: no monitor now)."""

    def __init__(
        self,
        bus: MessageBus,
        configured: str | None,
        on_sample: Callable[[MonitorSample | None], None],
        *,
        poll_after_s: float,
    ) -> None:
        self.bus = bus
        self.configured = configured
        self.service: str | None = None
        self._on_sample = on_sample
        self._poll_after_s = poll_after_s
        self._follower: ServiceFollower | None = None
        self._system: ServiceFollower | None = None
        self._names: SignalSubscription | None = None
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        if self.configured:
            log.info("battery_monitor_configured", service=self.configured)
            await self._follow(self.configured)
            return
        self._system = ServiceFollower(
            self.bus,
            SYSTEM_SERVICE,
            self._system_changed,
            paths=frozenset({ACTIVE_BATTERY_PATH}),
        )
        self._names = SignalSubscription(
            self.bus,
            DBUS_NAME,
            "NameOwnerChanged",
            self._name_changed,
            path=DBUS_PATH,
            sender=DBUS_NAME,
        )
        await self._names.start()
        await self._system.start()
        await self._resolve()

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        if self._names is not None:
            await self._names.stop()
        if self._system is not None:
            await self._system.stop()
        if self._follower is not None:
            await self._follower.stop()

    # -- selection ---------------------------------------------------------------------------

    def _system_changed(self) -> None:
        self._spawn(self._resolve())

    def _name_changed(self, msg: Message) -> None:
        name = str(msg.body[0])
        if name.startswith(BATTERY_CLASS + ".") and name != self.service:
            self._spawn(self._resolve())  # a battery appeared or left: the selection may change

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _resolve(self) -> None:
        async with self._lock:
            assert self._system is not None
            if self._system.owner is None and self.service is not None:
                # systemcalc restarting: its choice has not changed, keep the monitor
                log.info("system_absent_keeping_monitor", service=self.service)
                return
            active = self._system.values.get(ACTIVE_BATTERY_PATH)
            parsed = parse_active_battery(active)
            if parsed is None or parsed[0] != BATTERY_CLASS:
                if self.service is not None or self._follower is None:
                    log.warning(
                        "no_battery_monitor",
                        active_battery_service=active,
                        system_present=self._system.owner is not None,
                        using="the SI's own measurements",
                    )
                await self._follow(None)
                return
            name = await self._find(parsed[1])
            if name is None:
                log.warning("battery_monitor_not_found", active_battery_service=active)
            await self._follow(name)

    async def _find(self, instance: int) -> str | None:
        (names,) = await call(self.bus, DBUS_NAME, DBUS_PATH, DBUS_NAME, "ListNames")
        for name in sorted(n for n in names if n.startswith(BATTERY_CLASS + ".")):
            try:
                (value,) = await call(
                    self.bus, name, "/DeviceInstance", BUSITEM, "GetValue", timeout_s=2.0
                )
            except (DBusError, asyncio.TimeoutError):
                continue
            if from_variant(value) == instance:
                return str(name)
        return None

    async def _follow(self, name: str | None) -> None:
        if name == self.service and (name is None or self._follower is not None):
            return
        if self._follower is not None:
            await self._follower.stop()
            self._follower = None
        self.service = name
        if name is None:
            self._on_sample(None)
            return
        log.info("battery_monitor_selected", service=name)
        self._follower = ServiceFollower(
            self.bus,
            name,
            self._monitor_changed,
            paths=frozenset({*MONITOR_PATHS, CONNECTED_PATH}),
            poll_after_s=self._poll_after_s,
        )
        await self._follower.start()
        if self._follower.updated_at is None:
            self._on_sample(None)

    def _monitor_changed(self) -> None:
        follower = self._follower
        if follower is None or follower.updated_at is None or self.service is None:
            self._on_sample(None)
            return
        self._on_sample(sample_from_values(self.service, follower.values, follower.updated_at))
