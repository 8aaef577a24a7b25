"""D-Bus primitives on dbus-fast's low-level API: connect, serve methods, emit and receive signals.

Why the low-level API (``add_message_handler`` and hand-built ``Message``) rather than
``ServiceInterface`` classes: the Victron BusItem protocol exports one object per path (a
vebus service has ~150), our inter-process interfaces are a handful of methods and signals
with one JSON argument, and the low-level API works with every dbus-fast release Venus OS
may ship (signature annotations changed in dbus-fast 4). It also keeps the typing trap of
string signatures out of our code.

Everything here is an edge: it logs, and the core never sees a dbus-fast type.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import structlog
from dbus_fast import BusType, Message, MessageFlag, MessageType, NameFlag, RequestNameReply
from dbus_fast.aio import MessageBus
from dbus_fast.errors import DBusError

from smavenus.io.tasks import OwnedTasks

log = structlog.get_logger(__name__)

DBUS_NAME = "org.freedesktop.DBus"
DBUS_PATH = "/org/freedesktop/DBus"
INTROSPECTABLE = "org.freedesktop.DBus.Introspectable"
ERROR_UNKNOWN_METHOD = "org.freedesktop.DBus.Error.UnknownMethod"
ERROR_INVALID_ARGS = "org.freedesktop.DBus.Error.InvalidArgs"
ERROR_ACCESS_DENIED = "org.freedesktop.DBus.Error.AccessDenied"
ERROR_FAILED = "org.freedesktop.DBus.Error.Failed"


async def connect_system_bus() -> MessageBus:
    """Connect to the system bus. ``DBUS_SYSTEM_BUS_ADDRESS`` is honoured (dbus-fast reads it)."""
    bus = await MessageBus(bus_type=BusType.SYSTEM).connect()
    log.debug(
        "dbus_connected",
        unique_name=bus.unique_name,
        address=os.environ.get("DBUS_SYSTEM_BUS_ADDRESS", "default system bus"),
    )
    return bus


async def call(
    bus: MessageBus,
    destination: str,
    path: str,
    interface: str,
    member: str,
    *,
    signature: str = "",
    body: Iterable[Any] = (),
    timeout_s: float = 5.0,
) -> list[Any]:
    """Call a method and return the reply body; a D-Bus error reply raises :class:`DBusError`."""
    message = Message(
        destination=destination,
        path=path,
        interface=interface,
        member=member,
        signature=signature,
        body=list(body),
    )
    reply = await asyncio.wait_for(bus.call(message), timeout_s)
    if reply.message_type is MessageType.ERROR:
        raise DBusError(reply.error_name or ERROR_FAILED, str(reply.body[0] if reply.body else ""))
    return list(reply.body)


def new_signal(path: str, interface: str, member: str, signature: str, body: list[Any]) -> Message:
    """A signal marked NO_REPLY_EXPECTED (what aiovelib does for ItemsChanged)."""
    return Message(
        message_type=MessageType.SIGNAL,
        path=path,
        interface=interface,
        member=member,
        signature=signature,
        body=body,
        flags=MessageFlag.NO_REPLY_EXPECTED,
    )


def emit(bus: MessageBus, signal: Message) -> None:
    """Send a signal without waiting for the write.

    A write that fails ends the connection, and its owner reports that (the services exit
    on ``dbus_connection_lost``, the gateway reconnects); the future's exception is taken
    here so that asyncio does not report it a second time when the future is collected.
    """
    bus.send(signal).add_done_callback(_outcome_taken)


def _outcome_taken(future: asyncio.Future[None]) -> None:
    if not future.cancelled():
        future.exception()


async def request_name(bus: MessageBus, name: str) -> None:
    """Take a well-known name or raise: two processes never share one (velib: do not queue)."""
    reply = await bus.request_name(name, NameFlag.DO_NOT_QUEUE)
    if reply not in (RequestNameReply.PRIMARY_OWNER, RequestNameReply.ALREADY_OWNER):
        raise RuntimeError(f"D-Bus name {name} is already owned by another process ({reply.name})")


async def add_match(bus: MessageBus, rule: str) -> None:
    await call(bus, DBUS_NAME, DBUS_PATH, DBUS_NAME, "AddMatch", signature="s", body=[rule])


async def remove_match(bus: MessageBus, rule: str) -> None:
    await call(bus, DBUS_NAME, DBUS_PATH, DBUS_NAME, "RemoveMatch", signature="s", body=[rule])


def match_rule(**terms: str) -> str:
    return ",".join(f"{key}='{value}'" for key, value in terms.items())


class MethodError(Exception):
    """Raised by a method handler to send a D-Bus error reply."""

    def __init__(self, name: str, text: str) -> None:
        super().__init__(text)
        self.name = name
        self.text = text


#: A method handler gets the call and returns (signature, body) for the reply.
MethodHandler = Callable[[Message], tuple[str, list[Any]]]


@dataclass
class MethodRouter:
    """Routes method calls on (path, interface, member) to handlers, via one message handler.

    ``interface=None`` in a call (allowed by the D-Bus spec) matches any registered interface.
    Introspection is answered for registered paths so tools such as ``dbus-send`` and
    ``busctl`` can browse the service.
    """

    bus: MessageBus
    _routes: dict[tuple[str, str, str], MethodHandler] = field(default_factory=dict)
    _paths: set[str] = field(default_factory=set)
    _installed: bool = False

    def add(self, path: str, interface: str, member: str, handler: MethodHandler) -> None:
        self._routes[(path, interface, member)] = handler
        self._paths.add(path)

    def remove_path(self, path: str) -> None:
        for key in [k for k in self._routes if k[0] == path]:
            del self._routes[key]
        self._paths.discard(path)

    def install(self) -> None:
        if not self._installed:
            self.bus.add_message_handler(self._handle)
            self._installed = True

    def uninstall(self) -> None:
        if self._installed:
            self.bus.remove_message_handler(self._handle)
            self._installed = False

    def _find(self, msg: Message) -> MethodHandler | None:
        path, member = msg.path or "", msg.member or ""
        if msg.interface:
            return self._routes.get((path, msg.interface, member))
        for (route_path, _iface, route_member), handler in self._routes.items():
            if route_path == path and route_member == member:
                return handler
        return None

    def _handle(self, msg: Message) -> Message | bool | None:
        if msg.message_type is not MessageType.METHOD_CALL:
            return None
        if msg.interface == INTROSPECTABLE and msg.member == "Introspect":
            return self._introspect(msg)
        handler = self._find(msg)
        if handler is None:
            return None
        try:
            signature, body = handler(msg)
            reply = Message.new_method_return(msg, signature, body)
        except MethodError as exc:
            reply = Message.new_error(msg, exc.name, exc.text)
        if msg.flags & MessageFlag.NO_REPLY_EXPECTED:
            return True
        return reply

    def _introspect(self, msg: Message) -> Message | None:
        path = msg.path or "/"
        prefix = path.rstrip("/") + "/"
        children = sorted(
            {
                p[len(prefix) :].split("/")[0]
                for p in self._paths
                if p.startswith(prefix) and p != path
            }
        )
        interfaces = sorted({iface for (p, iface, _m) in self._routes if p == path})
        if not children and not interfaces:
            return None
        parts = ['<!DOCTYPE node PUBLIC "-//freedesktop//DTD D-BUS Object Introspection 1.0//EN"']
        parts.append(' "http://www.freedesktop.org/standards/dbus/1.0/introspect.dtd">\n<node>')
        for iface in interfaces:
            members = sorted(m for (p, i, m) in self._routes if p == path and i == iface)
            parts.append(f'  <interface name="{iface}">')
            parts.extend(f'    <method name="{m}"/>' for m in members)
            parts.append("  </interface>")
        parts.extend(f'  <node name="{child}"/>' for child in children)
        parts.append("</node>")
        return Message.new_method_return(msg, "s", ["\n".join(parts)])


SignalCallback = Callable[[Message], None]


@dataclass
class SignalSubscription:
    """Receives one signal (interface + member, optionally path and sender) via a match rule."""

    bus: MessageBus
    interface: str
    member: str
    callback: SignalCallback
    path: str | None = None
    sender: str | None = None
    _rule: str = ""

    async def start(self) -> None:
        terms = {"type": "signal", "interface": self.interface, "member": self.member}
        if self.path:
            terms["path"] = self.path
        if self.sender:
            terms["sender"] = self.sender
        self._rule = match_rule(**terms)
        self.bus.add_message_handler(self._handle)
        await add_match(self.bus, self._rule)

    async def stop(self) -> None:
        self.bus.remove_message_handler(self._handle)
        if self._rule and self.bus.connected:
            await remove_match(self.bus, self._rule)

    def _handle(self, msg: Message) -> None:
        if (
            msg.message_type is MessageType.SIGNAL
            and msg.interface == self.interface
            and msg.member == self.member
            and (self.path is None or msg.path == self.path)
        ):
            self.callback(msg)


OwnerCallback = Callable[[str, str | None, str | None], Awaitable[None] | None]


@dataclass
class NameOwnerWatcher:
    """Tracks the unique owner of well-known names (a restarted peer gets a new unique name).

    ``on_change(name, old_owner, new_owner)`` runs for every change after :meth:`start`.
    Used to accept signals only from the process that currently owns a name.
    """

    bus: MessageBus
    names: tuple[str, ...]
    on_change: OwnerCallback | None = None
    owners: dict[str, str | None] = field(default_factory=dict)
    _subscription: SignalSubscription | None = None
    _tasks: OwnedTasks = field(default_factory=lambda: OwnedTasks("name_owner_watcher"))

    async def start(self) -> None:
        self._subscription = SignalSubscription(
            self.bus, DBUS_NAME, "NameOwnerChanged", self._changed, path=DBUS_PATH, sender=DBUS_NAME
        )
        await self._subscription.start()
        for name in self.names:
            owner = await self._current_owner(name)
            # A NameOwnerChanged that arrived while we asked is newer than the reply.
            self.owners.setdefault(name, owner)

    async def stop(self) -> None:
        if self._subscription is not None:
            await self._subscription.stop()

    def owner(self, name: str) -> str | None:
        return self.owners.get(name)

    def owns(self, sender: str | None, name: str) -> bool:
        return sender is not None and sender == self.owners.get(name)

    async def _current_owner(self, name: str) -> str | None:
        try:
            body = await call(
                self.bus,
                DBUS_NAME,
                DBUS_PATH,
                DBUS_NAME,
                "GetNameOwner",
                signature="s",
                body=[name],
            )
        except DBusError:
            return None
        return str(body[0])

    def _changed(self, msg: Message) -> None:
        # Anyone can send a signal that looks like this straight to our connection, where no
        # match rule filters it: only the bus daemon's own word counts.
        if msg.sender != DBUS_NAME:
            return
        name, old, new = (str(x) for x in msg.body)
        if name not in self.names:
            return
        self.owners[name] = new or None
        if self.on_change is not None:
            result = self.on_change(name, old or None, new or None)
            if asyncio.iscoroutine(result):
                self._tasks.spawn(result, f"on_change:{name}")
