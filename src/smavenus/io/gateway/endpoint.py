"""The can-gateway on D-Bus: ``io.smavenus.CanGateway`` (signals, methods, commands in).

D-Bus is optional for the SI: the CAN side runs before the first connection and through
every outage. This endpoint connects with backoff, and after a drop reconnects the same
way, each outage logged when it starts and when it ends.

Commands (``io.smavenus.BmsController1.Command``) are accepted only from the *current*
unique owner of ``io.smavenus.BmsController`` (tracked with :class:`NameOwnerWatcher`: a
restarted controller gets a new unique name), validated with pydantic, and handed on; an
invalid or foreign one is counted and logged by the core and changes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Literal

import structlog
from dbus_fast import Message
from dbus_fast.aio import MessageBus
from pydantic import ValidationError

from smavenus.io.dbus import (
    ERROR_ACCESS_DENIED,
    ERROR_FAILED,
    ERROR_INVALID_ARGS,
    MethodError,
    MethodRouter,
    NameOwnerWatcher,
    SignalSubscription,
    connect_system_bus,
    emit,
    new_signal,
    request_name,
)
from smavenus.ipc import names
from smavenus.ipc.messages import BmsCommand, GatewayHealth, SiSnapshot

log = structlog.get_logger(__name__)

#: A Command payload longer than this is refused before parsing.
MAX_COMMAND_BYTES = 64 * 1024
RECONNECT_INITIAL_S = 0.5
RECONNECT_MAX_S = 10.0


@dataclass(frozen=True)
class GatewayHandlers:
    """What the endpoint calls; all run on the loop and must not block."""

    snapshot: Callable[[], SiSnapshot]
    health: Callable[[], GatewayHealth]
    command: Callable[[BmsCommand], None]
    refused: Callable[[Literal["rejected", "unauthorized"], str], None]
    #: None: the method is disabled in the configuration and refused.
    remote_on_off: Callable[[bool], None] | None = None
    quick_stop: Callable[[], None] | None = None


def _validation_summary(exc: ValidationError) -> str:
    first = exc.errors(include_url=False)[0]
    where = ".".join(str(p) for p in first["loc"]) or "payload"
    more = f" (+{exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"invalid payload: {where}: {first['msg']}{more}"


class GatewayDbus:
    def __init__(self, handlers: GatewayHandlers) -> None:
        self._h = handlers
        self._bus: MessageBus | None = None
        self._watcher: NameOwnerWatcher | None = None
        self.connected = asyncio.Event()
        self.connections = 0

    # -- publishing -----------------------------------------------------------------------

    def publish_snapshot(self, snapshot: SiSnapshot) -> None:
        self._emit(names.SNAPSHOT_SIGNAL, snapshot.model_dump_json())

    def publish_health(self, health: GatewayHealth) -> None:
        self._emit(names.HEALTH_SIGNAL, health.model_dump_json())

    def _emit(self, member: str, payload: str) -> None:
        bus = self._bus
        if bus is None or not bus.connected:
            return  # the latest state is there for GetSnapshot/GetHealth after reconnecting
        signal = new_signal(names.GATEWAY_PATH, names.GATEWAY_INTERFACE, member, "s", [payload])
        emit(bus, signal)  # a signal to a bus that just dropped: the reconnect path reports it

    # -- connection -----------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Stay connected until ``stop`` is set."""
        delay = RECONNECT_INITIAL_S
        outage_logged = False
        while not stop.is_set():
            try:
                bus = await self._connect()
            except Exception as exc:  # any failure to connect or register: retry later
                if not outage_logged:
                    log.warning(
                        "dbus_unavailable", reason=str(exc) or type(exc).__name__, retry_in_s=delay
                    )
                    outage_logged = True
                if await _wait_or_stop(stop, delay):
                    return
                delay = min(delay * 2, RECONNECT_MAX_S)
                continue
            delay, outage_logged = RECONNECT_INITIAL_S, False
            self.connections += 1
            log.info(
                "dbus_connected",
                name=names.GATEWAY_BUS_NAME,
                unique_name=bus.unique_name,
                reconnect=self.connections > 1,
            )
            self.connected.set()
            # Not cancelled when stopping: cancelling a waiter on dbus-fast's disconnect
            # future would cancel that future itself.
            disconnected = asyncio.ensure_future(_disconnected(bus))
            await _first_of(stop.wait(), disconnected)
            self.connected.clear()
            self._bus = None
            if stop.is_set():
                bus.disconnect()
                await asyncio.wait({disconnected}, timeout=1.0)
                _settle(disconnected)
                return
            _settle(disconnected)
            log.warning("dbus_lost", retry_in_s=delay)
            outage_logged = True
            if await _wait_or_stop(stop, delay):
                return

    async def _connect(self) -> MessageBus:
        bus = await connect_system_bus()
        try:
            router = MethodRouter(bus)
            for member, handler in (
                (names.GET_SNAPSHOT_METHOD, self._get_snapshot),
                (names.GET_HEALTH_METHOD, self._get_health),
                (names.REMOTE_ON_OFF_METHOD, self._remote_on_off),
                (names.QUICK_STOP_METHOD, self._quick_stop),
            ):
                router.add(names.GATEWAY_PATH, names.GATEWAY_INTERFACE, member, handler)
            router.install()
            watcher = NameOwnerWatcher(bus, (names.CONTROLLER_BUS_NAME,))
            await watcher.start()  # before subscribing, so no command arrives unjudged
            commands = SignalSubscription(
                bus, names.CONTROLLER_INTERFACE, names.COMMAND_SIGNAL, self._on_command
            )
            await commands.start()
            # The name last: a client that sees it appear finds the methods answering.
            await request_name(bus, names.GATEWAY_BUS_NAME)
        except BaseException:
            bus.disconnect()
            raise
        self._watcher = watcher
        self._bus = bus
        return bus

    # -- methods --------------------------------------------------------------------------

    def _get_snapshot(self, _msg: Message) -> tuple[str, list[str]]:
        return "s", [self._h.snapshot().model_dump_json()]

    def _get_health(self, _msg: Message) -> tuple[str, list[str]]:
        return "s", [self._h.health().model_dump_json()]

    def _remote_on_off(self, msg: Message) -> tuple[str, list[str]]:
        if self._h.remote_on_off is None:
            raise MethodError(
                ERROR_ACCESS_DENIED, "disabled: set [gateway] enable_remote_on_off = true"
            )
        if msg.signature != "s" or msg.body[0] not in ("on", "off"):
            raise MethodError(ERROR_INVALID_ARGS, 'expected one string, "on" or "off"')
        _call_or_fail(lambda: self._h.remote_on_off(msg.body[0] == "on"))  # type: ignore[misc]
        return "s", ["sent"]

    def _quick_stop(self, _msg: Message) -> tuple[str, list[str]]:
        if self._h.quick_stop is None:
            raise MethodError(
                ERROR_ACCESS_DENIED, "disabled: set [gateway] enable_quick_stop = true"
            )
        _call_or_fail(self._h.quick_stop)
        return "s", ["sent"]

    # -- commands -------------------------------------------------------------------------

    def _on_command(self, msg: Message) -> None:
        watcher = self._watcher
        if watcher is None or not watcher.owns(msg.sender, names.CONTROLLER_BUS_NAME):
            owner = None if watcher is None else watcher.owner(names.CONTROLLER_BUS_NAME)
            self._h.refused(
                "unauthorized",
                f"sender {msg.sender} does not own {names.CONTROLLER_BUS_NAME} (owner: {owner})",
            )
            return
        if msg.signature != "s":
            self._h.refused("rejected", f"signature {msg.signature!r}, expected 's'")
            return
        payload = msg.body[0]
        if len(payload) > MAX_COMMAND_BYTES:
            self._h.refused("rejected", f"payload of {len(payload)} bytes is too long")
            return
        try:
            command = BmsCommand.model_validate_json(payload)
        except ValidationError as exc:
            self._h.refused("rejected", _validation_summary(exc))
            return
        self._h.command(command)


def _call_or_fail(action: Callable[[], None]) -> None:
    try:
        action()
    except Exception as exc:  # the bus is down or the frame could not be queued
        raise MethodError(ERROR_FAILED, f"not sent: {exc}") from exc


def _disconnected(bus: MessageBus) -> Coroutine[Any, Any, None]:
    result: Coroutine[Any, Any, None] = bus.wait_for_disconnect()  # type: ignore[no-untyped-call]  # unannotated in dbus-fast
    return result


async def _wait_or_stop(stop: asyncio.Event, delay_s: float) -> bool:
    """Wait ``delay_s`` unless ``stop`` is set first. True if stopping."""
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(stop.wait(), delay_s)
    return stop.is_set()


async def _first_of(stop: Coroutine[Any, Any, Any], other: asyncio.Future[Any]) -> None:
    """Wait until ``stop`` finishes or ``other`` completes; only ``stop`` is cancelled."""
    stopping = asyncio.ensure_future(stop)
    try:
        await asyncio.wait({stopping, other}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
        await asyncio.gather(stopping, return_exceptions=True)


def _settle(future: asyncio.Future[Any]) -> None:
    """Retrieve a finished future's outcome (so it is not reported as lost); cancel it if not."""
    if future.done():
        if not future.cancelled():
            future.exception()
    else:
        future.cancel()
