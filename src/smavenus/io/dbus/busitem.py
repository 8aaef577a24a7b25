"""Exports an :class:`~smavenus.victron.items.ItemStore` as a Victron BusItem service.

What Venus consumers need (``venus-dbus.md``), and what this does:

* every path is its own object with ``GetValue``/``GetText``/``SetValue``;
* the root ``/`` answers ``GetItems`` (``{path: {Value, Text}}``, the scan method of
  dbusmonitor, veutil, flashmq and aiovelib) and the legacy ``GetValue``/``GetText`` with
  relative keys;
* :meth:`BusItemService.publish` sends **one** ``ItemsChanged`` on ``/`` with only the changed
  paths (one per SI cycle); a remote ``SetValue`` that changes a value sends that path's
  ``PropertiesChanged``, as velib does;
* the owner hears of remote writes twice over: ``on_change`` for a write that changed a value,
  ``on_accepted`` for every accepted write, changed or not (a writer that repeats a value to
  show it is alive, as DVCC does every 3 s, sends nothing on the bus that anyone could see);
* invalid is an empty ``ai`` array; every value is typed from its path's declaration;
* all objects answer **before** the bus name is requested: consumers scan on
  ``NameOwnerChanged`` and never rescan a service that had no ``/DeviceInstance`` then.

One service per bus connection (the root object ``/`` is the service's).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import structlog
from dbus_fast import Message, Variant
from dbus_fast.aio import MessageBus

from smavenus.io.dbus import (
    ERROR_INVALID_ARGS,
    MethodError,
    MethodRouter,
    emit,
    new_signal,
    request_name,
)
from smavenus.victron.items import ItemSpec, ItemStore, ItemType, SetResult, default_text

log = structlog.get_logger(__name__)

BUSITEM = "com.victronenergy.BusItem"
INVALID = Variant("ai", [])


def to_variant(spec: ItemSpec, value: Any) -> Variant:
    if value is None:
        return INVALID
    if spec.type is ItemType.INT:
        return Variant("i", int(value))
    if spec.type is ItemType.DOUBLE:
        return Variant("d", float(value))
    return Variant("s", str(value))


def from_variant(variant: Any) -> Any:
    """A written value as plain Python; an empty array (any element type) is ``None``."""
    value = variant.value if isinstance(variant, Variant) else variant
    if isinstance(value, list) and not value:
        return None
    return value


#: Called after a remote write was accepted and changed a value: (path, new value).
ChangeCallback = Callable[[str, Any], None]
#: Called after every accepted remote write, also one that left the value as it was:
#: (path, stored value). Not called for a refused write.
AcceptedCallback = Callable[[str, Any], None]


class BusItemService:
    """A store on the bus under a well-known name. Create, :meth:`register`, then publish."""

    def __init__(
        self,
        bus: MessageBus,
        name: str,
        store: ItemStore,
        on_change: ChangeCallback | None = None,
        quiet_writes: frozenset[str] = frozenset(),
        *,
        on_accepted: AcceptedCallback | None = None,
    ) -> None:
        self.bus = bus
        self.name = name
        self.store = store
        self._on_change = on_change
        self._on_accepted = on_accepted
        #: Paths written routinely (DVCC rewrites its limits every 3 s): logged at debug level.
        self._quiet_writes = quiet_writes
        self._router = MethodRouter(bus)
        self.signals_sent = 0
        for path in store.specs:
            self._router.add(path, BUSITEM, "GetValue", self._leaf_get_value)
            self._router.add(path, BUSITEM, "GetText", self._leaf_get_text)
            self._router.add(path, BUSITEM, "SetValue", self._leaf_set_value)
        self._router.add("/", BUSITEM, "GetItems", self._root_get_items)
        self._router.add("/", BUSITEM, "GetValue", self._root_get_value)
        self._router.add("/", BUSITEM, "GetText", self._root_get_text)

    async def register(self) -> None:
        """Answer on every path first, then take the name (the order Venus requires)."""
        self._router.install()
        await request_name(self.bus, self.name)
        log.info("dbus_service_registered", service=self.name, paths=len(self.store.specs))

    async def reregister(self) -> None:
        """Release the name and take it again, paths answering throughout.

        Consumers read ``/DeviceInstance`` once, when they scan a new owner; after it changed
        the service must leave the bus and come back (``venus-dbus.md`` §1.4, pitfall 4).
        """
        await self.bus.release_name(self.name)
        await request_name(self.bus, self.name)
        log.info("dbus_service_reregistered", service=self.name)

    async def unregister(self) -> None:
        if self.bus.connected:
            await self.bus.release_name(self.name)
        self._router.uninstall()

    # -- publishing -----------------------------------------------------------------------

    def publish(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Store ``values``; send one ItemsChanged with what changed. Returns the changes."""
        changed = self.store.update(values)
        self.send_items_changed(changed)
        return changed

    def send_items_changed(self, changed: Mapping[str, Any]) -> None:
        if not changed:
            return
        body = {path: self._entry(path) for path in changed}
        emit(self.bus, new_signal("/", BUSITEM, "ItemsChanged", "a{sa{sv}}", [body]))
        self.signals_sent += 1

    def _send_properties_changed(self, path: str) -> None:
        signal = new_signal(path, BUSITEM, "PropertiesChanged", "a{sv}", [self._entry(path)])
        emit(self.bus, signal)
        self.signals_sent += 1

    def _entry(self, path: str) -> dict[str, Variant]:
        spec = self.store.specs[path]
        value = self.store[path]
        return {"Value": to_variant(spec, value), "Text": Variant("s", default_text(spec, value))}

    # -- method handlers --------------------------------------------------------------------

    def _leaf_get_value(self, msg: Message) -> tuple[str, list[Any]]:
        path = str(msg.path)
        return "v", [to_variant(self.store.specs[path], self.store[path])]

    def _leaf_get_text(self, msg: Message) -> tuple[str, list[Any]]:
        return "s", [self.store.text(str(msg.path))]

    def _leaf_set_value(self, msg: Message) -> tuple[str, list[Any]]:
        if msg.signature != "v" or len(msg.body) != 1:
            raise MethodError(ERROR_INVALID_ARGS, "SetValue takes one variant")
        path = str(msg.path)
        value = from_variant(msg.body[0])
        result, changed = self.store.write(path, value)
        write_log = log.debug if path in self._quiet_writes else log.info
        write_log(
            "dbus_write",
            service=self.name,
            path=path,
            value=value,
            result=result.name.lower(),
            sender=msg.sender,
        )
        if result is not SetResult.OK:
            return "i", [int(result)]
        if changed:
            self._send_properties_changed(path)
            if self._on_change is not None:
                self._on_change(path, self.store[path])
        if self._on_accepted is not None:
            self._on_accepted(path, self.store[path])
        return "i", [int(result)]

    def _root_get_items(self, _msg: Message) -> tuple[str, list[Any]]:
        return "a{sa{sv}}", [{path: self._entry(path) for path in self.store.specs}]

    def _root_get_value(self, _msg: Message) -> tuple[str, list[Any]]:
        values = {
            path.lstrip("/"): to_variant(spec, self.store[path])
            for path, spec in self.store.specs.items()
        }
        return "v", [Variant("a{sv}", values)]

    def _root_get_text(self, _msg: Message) -> tuple[str, list[Any]]:
        texts = {path.lstrip("/"): self.store.text(path) for path in self.store.specs}
        return "v", [Variant("a{ss}", texts)]
