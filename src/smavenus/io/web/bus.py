"""What smavenus-web reads and asks on D-Bus; it never touches CAN.

It follows the gateway's ``Snapshot`` and ``Health`` and the controller's ``Status`` with
:class:`~smavenus.io.dbus.peer_feed.PeerFeed` (from their current owners only, validated),
reads the controller's settings in localsettings without creating any (the controller owns
them), writes a setting with ``SetValue`` on ``com.victronenergy.settings`` after the page
has judged it, and makes a person's requests: the controller's ``StartFullCharge`` and
``AcknowledgeAlarms``, the gateway's ``RemoteOnOff``. The SI is fed whether this runs or not.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dbus_fast import Variant
from dbus_fast.aio import MessageBus

from smavenus.controller.settings import SettingValue
from smavenus.io.dbus import call
from smavenus.io.dbus.busitem import BUSITEM
from smavenus.io.dbus.localsettings import SETTINGS_SERVICE
from smavenus.io.dbus.peer_feed import PeerFeed
from smavenus.io.web.settings_reader import SettingsReader
from smavenus.ipc import feeds, names
from smavenus.ipc.messages import ControllerStatus, GatewayHealth, RequestOutcome, SiSnapshot
from smavenus.web.view import Latest

#: A request to the controller or the gateway waits at most this long for its answer.
REQUEST_TIMEOUT_S = 5.0


def variant_of(value: SettingValue) -> Variant:
    if isinstance(value, int):  # bool is an int
        return Variant("i", int(value))
    if isinstance(value, float):
        return Variant("d", value)
    return Variant("s", str(value))


class WebBus:
    """The latest of each feed, the stored settings, and the requests."""

    def __init__(self, bus: MessageBus, changed: Callable[[str], None]) -> None:
        self.bus = bus
        self.latest = Latest()
        self._changed = changed
        self.settings = SettingsReader(bus, lambda: changed("settings"))
        self._feeds: list[Any] = [
            PeerFeed(bus, feeds.SNAPSHOTS, self._on_snapshot),
            PeerFeed(bus, feeds.HEALTH, self._on_health),
            PeerFeed(bus, feeds.STATUS, self._on_status),
        ]

    async def start(self) -> None:
        await self.settings.start()
        for feed in self._feeds:
            await feed.start()

    async def stop(self) -> None:
        for feed in self._feeds:
            await feed.stop()
        await self.settings.stop()

    @property
    def stored(self) -> dict[str, Any]:
        """localsettings' values of the controller's settings, by path."""
        return dict(self.settings.values)

    def _on_snapshot(self, message: SiSnapshot) -> None:
        self.latest.snapshot = message
        self._changed("snapshot")

    def _on_health(self, message: GatewayHealth) -> None:
        self.latest.health = message
        self._changed("health")

    def _on_status(self, message: ControllerStatus) -> None:
        self.latest.status = message
        if message.settings_source == "localsettings":
            self.settings.refresh_if_incomplete()
        self._changed("status")

    async def write_setting(self, path: str, value: SettingValue) -> bool:
        """SetValue on localsettings; True when it took it (0), False when refused (-1)."""
        (code,) = await call(
            self.bus, SETTINGS_SERVICE, path, BUSITEM, "SetValue",
            signature="v", body=[variant_of(value)], timeout_s=REQUEST_TIMEOUT_S,
        )  # fmt: skip
        return int(code) == 0

    async def controller_request(self, member: str, who: str) -> RequestOutcome:
        (payload,) = await call(
            self.bus, names.CONTROLLER_BUS_NAME, names.CONTROLLER_PATH,
            names.CONTROLLER_INTERFACE, member, signature="s", body=[who],
            timeout_s=REQUEST_TIMEOUT_S,
        )  # fmt: skip
        return RequestOutcome.model_validate_json(payload)

    async def remote_on_off(self, on: bool) -> str:
        (answer,) = await call(
            self.bus, names.GATEWAY_BUS_NAME, names.GATEWAY_PATH, names.GATEWAY_INTERFACE,
            names.REMOTE_ON_OFF_METHOD, signature="s", body=["on" if on else "off"],
            timeout_s=REQUEST_TIMEOUT_S,
        )  # fmt: skip
        return str(answer)
