"""``io.smavenus.BmsController`` on the bus: the Command and Status signals and GetStatus.

It emits ``Command`` (a :class:`~smavenus.ipc.messages.BmsCommand` for the gateway) and
``Status`` (a :class:`~smavenus.ipc.messages.ControllerStatus`) every cycle.
"""

from __future__ import annotations

import contextlib
from typing import Any

import structlog
from dbus_fast import Message
from dbus_fast.aio import MessageBus

from smavenus.io.dbus import ERROR_FAILED, MethodError, MethodRouter, new_signal, request_name
from smavenus.ipc import names

log = structlog.get_logger("smavenus.bms_controller")


class ControllerService:
    """``io.smavenus.BmsController``: the Command and Status signals and GetStatus."""

    def __init__(self, bus: MessageBus) -> None:
        self.bus = bus
        self.status_json: str | None = None
        self._router = MethodRouter(bus)
        self._router.add(
            names.CONTROLLER_PATH,
            names.CONTROLLER_INTERFACE,
            names.GET_STATUS_METHOD,
            self._get_status,
        )
        self.sent = 0

    async def start(self) -> None:
        self._router.install()
        await request_name(self.bus, names.CONTROLLER_BUS_NAME)
        log.info("controller_service_registered", name=names.CONTROLLER_BUS_NAME)

    async def stop(self) -> None:
        if self.bus.connected:
            with contextlib.suppress(Exception):
                await self.bus.release_name(names.CONTROLLER_BUS_NAME)
        self._router.uninstall()

    def emit(self, command_json: str, status_json: str) -> None:
        self.status_json = status_json
        for member, payload in (
            (names.COMMAND_SIGNAL, command_json),
            (names.STATUS_SIGNAL, status_json),
        ):
            signal = new_signal(
                names.CONTROLLER_PATH, names.CONTROLLER_INTERFACE, member, "s", [payload]
            )
            self.bus.send(signal)
        self.sent += 1

    def _get_status(self, _msg: Message) -> tuple[str, list[Any]]:
        if self.status_json is None:
            raise MethodError(ERROR_FAILED, "no status yet")
        return "s", [self.status_json]
