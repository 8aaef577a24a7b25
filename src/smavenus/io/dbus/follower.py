"""Following one Victron BusItem service, the way Victron's own clients do.

How (``venus-dbus.md`` §1.5, as velib's dbusmonitor and aiovelib do): a ``GetItems`` scan of
``/``, then ``ItemsChanged`` on ``/`` and ``PropertiesChanged`` — accepted only from the unique
name that currently owns the service — and a rescan whenever the owner changes (the service
restarted, was replaced, or appeared). A service that vanishes is reported at once. A
service publishes only what changed, so after ``poll_after_s`` of silence the follower scans
again: a reply confirms the values are still current (a service that is alive but idle), no
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

from smavenus.io.dbus.busitem import BUSITEM, from_variant
from smavenus.io.dbus.primitives import NameOwnerWatcher, SignalSubscription, call
from smavenus.io.tasks import OwnedTasks

log = structlog.get_logger(__name__)


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
        self._tasks = OwnedTasks(f"follower:{name}")
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
        self._tasks.cancel()
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
            self._tasks.spawn(self.scan(), "poll")

    def _owner_changed(self, _name: str, old: str | None, new: str | None) -> None:
        if new is None:
            log.warning("service_vanished", service=self.name, owner=old)
            self.values, self.updated_at = {}, None
            self._on_change()
            return
        log.info("service_appeared", service=self.name, owner=new, replaced=old)
        self._tasks.spawn(self.scan(), "scan")

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
