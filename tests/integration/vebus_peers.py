"""What the vebus-publisher talks to, in miniature: the gateway's real D-Bus endpoint fed by
the test, a Venus-style client, and the publisher itself running in this process."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from dbus_fast import Message, MessageType, Variant
from dbus_fast.aio import MessageBus

from smavenus.apps.vebus_publisher import run_publisher
from smavenus.config import AppConfig
from smavenus.io.dbus import call, connect_system_bus
from smavenus.io.gateway.endpoint import GatewayDbus, GatewayHandlers
from smavenus.ipc.messages import GatewayHealth, SiSnapshot
from tests.unit.vebus.si import gateway_health

BUSITEM = "com.victronenergy.BusItem"
SERVICE = "com.victronenergy.vebus.sma_can0"
DBUS = ("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus")


class GatewayPeer:
    """The can-gateway's own D-Bus endpoint (``GatewayDbus``), with the test as its CAN side."""

    def __init__(self, *, remote_on_off: bool = True) -> None:
        self.snapshot = SiSnapshot(seq=0, sent_monotonic=0.0, sent_unix=0.0, si_present=False)
        self.health: GatewayHealth = gateway_health(sent=time.monotonic())
        self.on_off: list[bool] = []
        self._stop = asyncio.Event()
        self.endpoint = GatewayDbus(
            GatewayHandlers(
                snapshot=lambda: self.snapshot,
                health=lambda: self.health,
                command=lambda _command: None,
                refused=lambda _kind, _why: None,
                remote_on_off=self.on_off.append if remote_on_off else None,
            )
        )
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> GatewayPeer:
        self._stop = asyncio.Event()
        self._task = asyncio.create_task(self.endpoint.run(self._stop))
        await asyncio.wait_for(self.endpoint.connected.wait(), 30)
        return self

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            await self._task

    def send(self, snapshot: SiSnapshot) -> None:
        self.snapshot = snapshot
        self.endpoint.publish_snapshot(snapshot)

    def send_health(self, health: GatewayHealth) -> None:
        self.health = health
        self.endpoint.publish_health(health)


class Publisher:
    """``run_publisher`` (the app's own wiring) as a task on this loop."""

    def __init__(self, cfg: AppConfig) -> None:
        self.stop_event = asyncio.Event()
        self.task = asyncio.create_task(run_publisher(cfg, self.stop_event))

    async def stop(self) -> int:
        self.stop_event.set()
        return await asyncio.wait_for(self.task, 30)


class Client:
    """A Venus consumer: GetItems, GetValue, SetValue, and the signals it would see."""

    def __init__(self, bus: MessageBus, service: str = SERVICE) -> None:
        self.bus = bus
        self.service = service
        self.signals: list[Message] = []
        self.owner_changes: list[tuple[str, str]] = []
        bus.add_message_handler(self._on)

    async def watch(self) -> Client:
        for rule in (
            f"type='signal',interface='{BUSITEM}'",
            f"type='signal',member='NameOwnerChanged',arg0='{self.service}'",
        ):
            await call(self.bus, *DBUS, "AddMatch", signature="s", body=[rule])
        return self

    def _on(self, msg: Message) -> None:
        if msg.message_type is not MessageType.SIGNAL:
            return
        if msg.interface == BUSITEM:
            self.signals.append(msg)
        elif msg.member == "NameOwnerChanged" and msg.body[0] == self.service:
            self.owner_changes.append((msg.body[1], msg.body[2]))

    def items_changed(self) -> list[dict[str, Any]]:
        return [m.body[0] for m in self.signals if m.member == "ItemsChanged"]

    async def items(self) -> dict[str, dict[str, Variant]]:
        (items,) = await call(self.bus, self.service, "/", BUSITEM, "GetItems")
        return dict(items)

    async def value(self, path: str) -> Any:
        (variant,) = await call(self.bus, self.service, path, BUSITEM, "GetValue")
        return None if variant.signature.startswith("a") and not variant.value else variant.value

    async def variant(self, path: str) -> Variant:
        (variant,) = await call(self.bus, self.service, path, BUSITEM, "GetValue")
        return variant  # type: ignore[no-any-return]

    async def text(self, path: str) -> str:
        (text,) = await call(self.bus, self.service, path, BUSITEM, "GetText")
        return str(text)

    async def set(self, path: str, variant: Variant) -> int:
        (code,) = await call(
            self.bus, self.service, path, BUSITEM, "SetValue", signature="v", body=[variant]
        )
        return int(code)

    async def owner(self) -> str | None:
        (has,) = await call(self.bus, *DBUS, "NameHasOwner", signature="s", body=[self.service])
        if not has:
            return None
        (owner,) = await call(self.bus, *DBUS, "GetNameOwner", signature="s", body=[self.service])
        return str(owner)


async def flushed(client: Client) -> None:
    """Every signal the publisher sent before now has reached ``client``: a method reply from
    the publisher's connection comes after them (one sender, one receiver: in order)."""
    await client.value("/DeviceInstance")


async def routed(bus: MessageBus) -> None:
    """Every message ``bus`` sent before now has been routed by the bus daemon (which takes
    one connection's messages in order): a round trip to the daemon itself."""
    await call(bus, *DBUS, "GetId")


async def client_bus() -> MessageBus:
    return await connect_system_bus()
