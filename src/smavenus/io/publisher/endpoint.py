"""``io.smavenus.VebusPublisher`` on the bus: the DvccWrites signal and GetDvccWrites.

The publisher's connection owns this name next to ``com.victronenergy.vebus.<suffix>``. Every
accepted DVCC write into the vebus service is stamped here with ``time.monotonic()`` when it
is handled (the clock every process on the host shares) and recorded; a ``DvccWrites``
signal with everything recorded follows once per event-loop iteration. DVCC writes four or
five paths back to back every 3 s: they arrive together and leave as one message, not five.
``GetDvccWrites`` answers the latest message, so a restarted controller catches up at once.
Before the name is ours (it is taken after the vebus name) the message is only kept: a
signal from a non-owner would be refused by every reader, who fetch it when the name appears.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import structlog
from dbus_fast import Message
from dbus_fast.aio import MessageBus

from smavenus.io.dbus import (
    ERROR_FAILED,
    MethodError,
    MethodRouter,
    emit,
    new_signal,
    request_name,
)
from smavenus.ipc import names
from smavenus.vebus.dvcc import DvccRecord

log = structlog.get_logger(__name__)


class PublisherEndpoint:
    """``io.smavenus.VebusPublisher``: the DvccWrites signal and GetDvccWrites."""

    def __init__(self, bus: MessageBus, record: DvccRecord | None = None) -> None:
        self.bus = bus
        self.record = DvccRecord() if record is None else record
        #: The latest DvccWrites sent (JSON), the answer to GetDvccWrites.
        self.latest_json: str | None = None
        self.sent = 0
        self.registered = False
        self._pending: asyncio.Handle | None = None
        self._router = MethodRouter(bus)
        self._router.add(
            names.PUBLISHER_PATH,
            names.PUBLISHER_INTERFACE,
            names.GET_DVCC_WRITES_METHOD,
            self._get_dvcc_writes,
        )

    async def start(self) -> None:
        self._router.install()
        await request_name(self.bus, names.PUBLISHER_BUS_NAME)
        self.registered = True
        log.info("publisher_endpoint_registered", name=names.PUBLISHER_BUS_NAME)

    async def stop(self) -> None:
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None
        registered, self.registered = self.registered, False
        if registered and self.bus.connected:
            with contextlib.suppress(Exception):
                await self.bus.release_name(names.PUBLISHER_BUS_NAME)
        self._router.uninstall()

    def written(self, path: str, value: Any) -> None:
        """An accepted write into the vebus service: stamp it now, send it with the others."""
        first = self.record.empty
        if not self.record.record(path, value, time.monotonic()):
            return
        if first:
            log.info("dvcc_writes_started", path=path)
        if self._pending is None:
            self._pending = asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._pending = None
        message = self.record.message(time.monotonic(), time.time())
        self.latest_json = message.model_dump_json()
        if self.registered and self.bus.connected:
            emit(
                self.bus,
                new_signal(
                    names.PUBLISHER_PATH,
                    names.PUBLISHER_INTERFACE,
                    names.DVCC_WRITES_SIGNAL,
                    "s",
                    [self.latest_json],
                ),
            )
            self.sent += 1

    def _get_dvcc_writes(self, _msg: Message) -> tuple[str, list[Any]]:
        if self.latest_json is None:
            raise MethodError(ERROR_FAILED, "no DVCC write yet")
        return "s", [self.latest_json]
