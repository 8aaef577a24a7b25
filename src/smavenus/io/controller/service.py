"""``io.smavenus.BmsController`` on the bus: the Command and Status signals, GetStatus and
the two requests a person may make (StartFullCharge, AcknowledgeAlarms).

It emits ``Command`` (a :class:`~smavenus.ipc.messages.BmsCommand` for the gateway) and
``Status`` (a :class:`~smavenus.ipc.messages.ControllerStatus`) every cycle. Who may call
the requests is the D-Bus policy's decision (``deploy/dbus/smavenus.conf``: root and the
``smavenus`` user); each call is logged with the caller's words and its connection.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import Any

import structlog
from dbus_fast import Message
from dbus_fast.aio import MessageBus

from smavenus.controller import ChargeController
from smavenus.controller.requests import acknowledge_alarms, start_full_charge
from smavenus.io.dbus import (
    ERROR_FAILED,
    ERROR_INVALID_ARGS,
    MethodError,
    MethodRouter,
    emit,
    new_signal,
    request_name,
)
from smavenus.io.dbus.primitives import MethodHandler
from smavenus.ipc import names
from smavenus.ipc.messages import RequestOutcome

#: Carries out one request (the argument: who asked) and says how it went.
RequestHandler = Callable[[str], RequestOutcome]
#: The caller's words are for the log only; a longer one is refused.
MAX_WHO_CHARS = 200

log = structlog.get_logger("smavenus.bms_controller")


def controller_requests(
    controller: ChargeController, accepted: Callable[[], None]
) -> dict[str, RequestHandler]:
    """The requests the controller answers, by D-Bus member; ``accepted`` is told of each
    one carried out (the ticker then steps at once)."""

    def full_charge(_who: str) -> RequestOutcome:  # who asked is logged by the service
        refusal = start_full_charge(controller, time.monotonic())
        if refusal is None:
            accepted()
        return RequestOutcome(accepted=refusal is None, reason=refusal)

    def acknowledge(_who: str) -> RequestOutcome:
        released = acknowledge_alarms(controller, time.monotonic())
        accepted()
        return RequestOutcome(accepted=True, released=tuple(released))

    return {
        names.START_FULL_CHARGE_METHOD: full_charge,
        names.ACKNOWLEDGE_ALARMS_METHOD: acknowledge,
    }


class ControllerService:
    """``io.smavenus.BmsController``: the Command and Status signals and GetStatus."""

    def __init__(self, bus: MessageBus, requests: dict[str, RequestHandler] | None = None) -> None:
        self.bus = bus
        self.status_json: str | None = None
        self._router = MethodRouter(bus)
        self._router.add(
            names.CONTROLLER_PATH,
            names.CONTROLLER_INTERFACE,
            names.GET_STATUS_METHOD,
            self._get_status,
        )
        for member, handler in (requests or {}).items():
            self._router.add(
                names.CONTROLLER_PATH,
                names.CONTROLLER_INTERFACE,
                member,
                self._request(member, handler),
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
            emit(self.bus, signal)
        self.sent += 1

    @staticmethod
    def _request(member: str, handler: RequestHandler) -> MethodHandler:
        def answer(msg: Message) -> tuple[str, list[Any]]:
            if msg.signature != "s" or len(msg.body[0]) > MAX_WHO_CHARS:
                raise MethodError(ERROR_INVALID_ARGS, f"{member} takes one short string: who asks")
            who = str(msg.body[0])
            outcome = handler(who)
            log.info(
                "request_handled",
                request=member,
                requested_by=who,
                sender=msg.sender,
                accepted=outcome.accepted,
                reason=outcome.reason,
                released=list(outcome.released),
            )
            return "s", [outcome.model_dump_json()]

        return answer

    def _get_status(self, _msg: Message) -> tuple[str, list[Any]]:
        if self.status_json is None:
            raise MethodError(ERROR_FAILED, "no status yet")
        return "s", [self.status_json]
