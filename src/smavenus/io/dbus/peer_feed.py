"""Following another smavenus process: its signals, from its current owner only, validated.

A :class:`PeerFeed` subscribes to one signal of a peer (the gateway's ``Snapshot``, the
controller's ``Status`` …), accepts it only from the unique name that currently owns the
peer's well-known name (a restarted peer gets a new one; anybody else is ignored and
counted), validates the JSON payload with the pydantic model, drops out-of-order or repeated
messages by ``seq``, and asks the peer for its latest message (``GetSnapshot`` …) at start
and whenever the peer (re)appears, so a restart on either side catches up at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Generic, TypeVar

import structlog
from dbus_fast import Message
from dbus_fast.aio import MessageBus
from dbus_fast.errors import DBusError
from pydantic import ValidationError

from smavenus.io.dbus import NameOwnerWatcher, SignalSubscription, call
from smavenus.io.tasks import OwnedTasks
from smavenus.ipc.feeds import Feed
from smavenus.ipc.messages import Message as IpcMessage

log = structlog.get_logger(__name__)

M = TypeVar("M", bound=IpcMessage)

#: A payload longer than this is refused before parsing.
MAX_PAYLOAD_BYTES = 256 * 1024


class PeerFeed(Generic[M]):
    def __init__(self, bus: MessageBus, feed: Feed[M], on_message: Callable[[M], None]) -> None:
        self.bus = bus
        self.bus_name = feed.bus_name
        self.path = feed.path
        self.interface = feed.interface
        self.get_method = feed.get_method
        self.signal = feed.signal
        self.model = feed.model
        self._on_message = on_message
        self._watcher = NameOwnerWatcher(bus, (feed.bus_name,), on_change=self._owner_changed)
        self._subscription = SignalSubscription(
            bus, feed.interface, feed.signal, self._on_signal, path=feed.path, sender=feed.bus_name
        )
        self._last: tuple[str, int] | None = None  # (sender, seq) of the last accepted message
        self._rejecting = False
        self.accepted = 0
        self.rejected = 0
        self.unauthorized = 0
        self._tasks = OwnedTasks(f"peer_feed:{feed.signal}")

    async def start(self) -> None:
        await self._watcher.start()  # first: no signal is judged before the owner is known
        await self._subscription.start()
        if self._watcher.owner(self.bus_name):
            await self.fetch()
        else:
            log.info("peer_absent", peer=self.bus_name, signal=self.signal)

    async def stop(self) -> None:
        self._tasks.cancel()
        await self._subscription.stop()
        await self._watcher.stop()

    async def fetch(self) -> None:
        """Ask the peer for its latest message (its Get method)."""
        owner = self._watcher.owner(self.bus_name)
        try:
            body = await call(self.bus, self.bus_name, self.path, self.interface, self.get_method)
        except (DBusError, asyncio.TimeoutError) as exc:
            log.warning(
                "peer_fetch_failed", peer=self.bus_name, method=self.get_method, error=str(exc)
            )
            return
        if body and owner is not None:
            self._accept(owner, body[0])

    def _owner_changed(self, _name: str, old: str | None, new: str | None) -> None:
        if new is None:
            log.warning("peer_gone", peer=self.bus_name, signal=self.signal, owner=old)
            return
        log.info("peer_appeared", peer=self.bus_name, signal=self.signal, owner=new)
        self._tasks.spawn(self.fetch(), "fetch")

    def _on_signal(self, msg: Message) -> None:
        if not self._watcher.owns(msg.sender, self.bus_name):
            self.unauthorized += 1
            if self.unauthorized == 1 or self.unauthorized % 1000 == 0:
                log.warning(
                    "peer_signal_unauthorized",
                    peer=self.bus_name,
                    sender=msg.sender,
                    owner=self._watcher.owner(self.bus_name),
                    count=self.unauthorized,
                )
            return
        if msg.signature != "s":
            self._reject(f"signature {msg.signature!r}, expected 's'")
            return
        self._accept(str(msg.sender), msg.body[0])

    def _accept(self, sender: str, payload: object) -> None:
        if not isinstance(payload, str) or len(payload) > MAX_PAYLOAD_BYTES:
            self._reject("payload is not a string of acceptable length")
            return
        try:
            message = self.model.model_validate_json(payload)
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            where = ".".join(str(p) for p in first["loc"]) or "payload"
            self._reject(f"{where}: {first['msg']}")
            return
        if self._last is not None and self._last[0] == sender and message.seq <= self._last[1]:
            return  # already seen (a Get reply racing a signal) or out of order
        self._last = (sender, message.seq)
        self.accepted += 1
        if self._rejecting:
            self._rejecting = False
            log.info("peer_payload_accepted_again", peer=self.bus_name, rejected=self.rejected)
        self._on_message(message)

    def _reject(self, reason: str) -> None:
        self.rejected += 1
        if not self._rejecting:
            self._rejecting = True
            log.warning(
                "peer_payload_rejected",
                peer=self.bus_name,
                model=self.model.__name__,
                reason=reason,
            )
