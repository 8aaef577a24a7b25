"""The controller's settings as localsettings holds them, read without creating any.

The controller owns ``/Settings/SmaVenus/Controller/*`` (it creates them with AddSettings);
the web process only reads them: one ``GetItems`` on localsettings' root (every setting in
one reply, so a setting not created yet is simply absent, not an error per path), then each
``PropertiesChanged`` under that prefix, from localsettings' current owner only. It reads
again when localsettings (re)appears and, while settings are missing, when asked
(:meth:`SettingsReader.refresh_if_incomplete`, on each controller status).
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

from smavenus.controller.settings import SETTINGS, SETTINGS_PREFIX
from smavenus.io.dbus import NameOwnerWatcher, SignalSubscription, call
from smavenus.io.dbus.busitem import BUSITEM, from_variant
from smavenus.io.dbus.localsettings import SETTINGS_SERVICE
from smavenus.io.tasks import OwnedTasks

log = structlog.get_logger(__name__)

#: While settings are missing, read again at most this often.
REFRESH_INTERVAL_S = 10.0
PATHS = frozenset(s.path for s in SETTINGS)


class SettingsReader:
    def __init__(self, bus: MessageBus, changed: Callable[[], None]) -> None:
        self.bus = bus
        self.values: dict[str, Any] = {}
        self._changed = changed
        self._watcher = NameOwnerWatcher(bus, (SETTINGS_SERVICE,), on_change=self._owner_changed)
        self._subscription = SignalSubscription(
            bus, BUSITEM, "PropertiesChanged", self._properties_changed, sender=SETTINGS_SERVICE
        )
        self._last_read = -REFRESH_INTERVAL_S
        self._tasks = OwnedTasks("web_settings_reader")

    @property
    def available(self) -> bool:
        return self._watcher.owner(SETTINGS_SERVICE) is not None

    async def start(self) -> None:
        await self._subscription.start()
        await self._watcher.start()
        if self.available:
            await self.read()

    async def stop(self) -> None:
        self._tasks.cancel()
        await self._subscription.stop()
        await self._watcher.stop()

    async def read(self) -> None:
        self._last_read = time.monotonic()
        try:
            (items,) = await call(self.bus, SETTINGS_SERVICE, "/", BUSITEM, "GetItems")
        except (DBusError, asyncio.TimeoutError) as exc:
            log.warning("settings_not_readable", error=str(exc))
            return
        found = {path: from_variant(item["Value"]) for path, item in items.items() if path in PATHS}
        if found != self.values:
            self.values = found
            self._changed()

    def refresh_if_incomplete(self) -> None:
        """Read again if settings are missing (the controller may have created them since)."""
        due = time.monotonic() - self._last_read >= REFRESH_INTERVAL_S
        if self.available and due and len(self.values) < len(PATHS):
            self._spawn()

    def _spawn(self) -> None:
        self._tasks.spawn(self.read(), "read")

    def _owner_changed(self, _name: str, _old: str | None, new: str | None) -> None:
        if new is not None:
            self._spawn()

    def _properties_changed(self, msg: Message) -> None:
        path = str(msg.path)
        if not path.startswith(SETTINGS_PREFIX) or path not in PATHS:
            return
        if not self._watcher.owns(msg.sender, SETTINGS_SERVICE):
            return
        changes = msg.body[0] if msg.body else {}
        if "Value" in changes:
            self.values[path] = from_variant(changes["Value"])
            self._changed()
