"""The BusItem exporter seen from the client side, over a private dbus-daemon."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from dbus_fast import Message, MessageType, Variant
from dbus_fast.aio import MessageBus

from smavenus.io.dbus import call, connect_system_bus
from smavenus.io.dbus.busitem import BusItemService
from smavenus.testing.waiting import eventually
from smavenus.victron.items import ItemSpec, ItemStore, ItemType

NAME = "com.victronenergy.test.busitem"
SPECS = [
    ItemSpec("/DeviceInstance", ItemType.INT),
    ItemSpec("/ProductName", ItemType.STRING),
    ItemSpec("/Dc/0/Voltage", ItemType.DOUBLE, "V", decimals=2),
    ItemSpec("/State", ItemType.INT),
    ItemSpec("/Mode", ItemType.INT, writable=True, minimum=1, maximum=4),
]


async def served(writes: list[tuple[str, Any]] | None = None) -> BusItemService:
    bus = await connect_system_bus()
    store = ItemStore(SPECS)
    service = BusItemService(
        bus,
        NAME,
        store,
        on_change=(lambda p, v: writes.append((p, v))) if writes is not None else None,
    )
    service.publish(
        {"/DeviceInstance": 276, "/ProductName": "SMA Sunny Island", "/State": 9, "/Mode": 3}
    )
    try:
        await service.register()
    except RuntimeError:
        await close(bus)
        raise
    return service


async def close(bus: MessageBus) -> None:
    bus.disconnect()
    await bus.wait_for_disconnect()


class Recorder:
    def __init__(self, bus: MessageBus) -> None:
        self.signals: list[Message] = []
        bus.add_message_handler(self._on)

    def _on(self, msg: Message) -> None:
        if msg.message_type is MessageType.SIGNAL and msg.interface == "com.victronenergy.BusItem":
            self.signals.append(msg)


async def add_match(bus: MessageBus) -> None:
    await call(
        bus,
        "org.freedesktop.DBus",
        "/org/freedesktop/DBus",
        "org.freedesktop.DBus",
        "AddMatch",
        signature="s",
        body=["type='signal',interface='com.victronenergy.BusItem'"],
    )


async def test_get_items_returns_every_path_with_value_and_text(system_bus: MessageBus) -> None:
    service = await served()
    (items,) = await call(system_bus, NAME, "/", "com.victronenergy.BusItem", "GetItems")
    assert set(items) == {s.path for s in SPECS}
    assert items["/DeviceInstance"]["Value"] == Variant("i", 276)
    assert items["/ProductName"]["Text"] == Variant("s", "SMA Sunny Island")
    assert items["/Dc/0/Voltage"]["Value"] == Variant("ai", [])  # invalid = empty array
    assert items["/Dc/0/Voltage"]["Text"] == Variant("s", "---")
    await close(service.bus)


async def test_per_path_get_value_and_get_text(system_bus: MessageBus) -> None:
    service = await served()
    assert await call(system_bus, NAME, "/State", "com.victronenergy.BusItem", "GetValue") == [
        Variant("i", 9)
    ]
    assert await call(system_bus, NAME, "/State", "com.victronenergy.BusItem", "GetText") == ["9"]
    (legacy,) = await call(system_bus, NAME, "/", "com.victronenergy.BusItem", "GetValue")
    assert legacy.value["State"] == Variant("i", 9)  # relative keys, no leading slash
    await close(service.bus)


async def test_one_items_changed_with_only_the_changed_paths(system_bus: MessageBus) -> None:
    service = await served()
    recorder = Recorder(system_bus)
    await add_match(system_bus)
    service.publish({"/Dc/0/Voltage": 52.8, "/State": 9, "/Mode": 3})  # only the voltage changes
    service.publish({"/Dc/0/Voltage": 52.8, "/State": 9})  # nothing changes: no signal
    service.publish({"/State": 10})  # the marker: one connection's signals arrive in order
    await eventually(lambda: len(recorder.signals) >= 2, 10.0, "the marker's ItemsChanged")
    assert [m.member for m in recorder.signals] == ["ItemsChanged", "ItemsChanged"]
    (changed,) = recorder.signals[0].body
    assert changed == {
        "/Dc/0/Voltage": {"Value": Variant("d", 52.8), "Text": Variant("s", "52.80 V")}
    }
    assert recorder.signals[0].path == "/"
    assert set(recorder.signals[1].body[0]) == {"/State"}  # so nothing came in between
    await close(service.bus)


async def test_set_value_codes_and_properties_changed(system_bus: MessageBus) -> None:
    writes: list[tuple[str, Any]] = []
    service = await served(writes)
    recorder = Recorder(system_bus)
    await add_match(system_bus)

    async def set_value(path: str, variant: Variant) -> int:
        (code,) = await call(
            system_bus,
            NAME,
            path,
            "com.victronenergy.BusItem",
            "SetValue",
            signature="v",
            body=[variant],
        )
        return int(code)

    assert await set_value("/State", Variant("i", 2)) == 1  # read-only
    assert await set_value("/Mode", Variant("s", "on")) == 1  # bad type
    assert await set_value("/Mode", Variant("i", 9)) == 2  # out of range
    assert await set_value("/Mode", Variant("d", 4.0)) == 0  # coerced to an integer
    assert writes == [("/Mode", 4)]  # told before SetValue answered
    assert await call(system_bus, NAME, "/Mode", "com.victronenergy.BusItem", "GetValue") == [
        Variant("i", 4)
    ]
    # That reply came from the service's connection after every signal it sent before: the
    # accepted write's PropertiesChanged is here, and the refused writes sent none.
    assert [(m.member, m.path) for m in recorder.signals] == [("PropertiesChanged", "/Mode")]
    await close(service.bus)


async def test_every_accepted_write_is_reported_also_an_unchanged_one(
    system_bus: MessageBus,
) -> None:
    """A writer that repeats a value (DVCC's keep-alive) changes nothing anyone could see:
    only ``on_accepted`` tells the owner; ``on_change`` and PropertiesChanged stay quiet."""
    changes: list[tuple[str, Any]] = []
    accepted: list[tuple[str, Any]] = []
    bus = await connect_system_bus()
    service = BusItemService(
        bus,
        NAME,
        ItemStore(SPECS),
        on_change=lambda p, v: changes.append((p, v)),
        on_accepted=lambda p, v: accepted.append((p, v)),
    )
    service.publish({"/Mode": 3})
    await service.register()
    recorder = Recorder(system_bus)
    await add_match(system_bus)

    async def set_value(path: str, variant: Variant) -> int:
        (code,) = await call(
            system_bus, NAME, path, "com.victronenergy.BusItem", "SetValue", signature="v",
            body=[variant],
        )  # fmt: skip
        return int(code)

    assert await set_value("/Mode", Variant("i", 4)) == 0
    assert await set_value("/Mode", Variant("i", 4)) == 0  # unchanged: still accepted
    assert await set_value("/Mode", Variant("s", "on")) == 1  # refused: not reported
    assert await set_value("/Mode", Variant("i", 9)) == 2
    assert await set_value("/State", Variant("i", 2)) == 1
    assert accepted == [("/Mode", 4), ("/Mode", 4)]  # reported before SetValue answers
    assert changes == [("/Mode", 4)]
    await eventually(lambda: recorder.signals, 10.0, "PropertiesChanged")
    assert await set_value("/Mode", Variant("i", 3)) == 0
    await eventually(lambda: len(recorder.signals) == 2, 10.0, "the second PropertiesChanged")
    # one PropertiesChanged per change, none for the repetition (it would precede the second)
    assert [m.body[0]["Value"] for m in recorder.signals] == [Variant("i", 4), Variant("i", 3)]
    await close(bus)


async def test_paths_answer_before_the_name_appears(system_bus: MessageBus) -> None:
    """A consumer scanning on NameOwnerChanged must find /DeviceInstance at once."""
    seen: list[Any] = []
    done = asyncio.Event()

    async def on_owner(msg: Message) -> None:
        if msg.member == "NameOwnerChanged" and msg.body[0] == NAME and msg.body[2]:
            seen.append(
                await call(
                    system_bus, NAME, "/DeviceInstance", "com.victronenergy.BusItem", "GetValue"
                )
            )
            done.set()

    tasks: set[asyncio.Task[None]] = set()

    def handler(msg: Message) -> None:
        task = asyncio.ensure_future(on_owner(msg))
        tasks.add(task)

    system_bus.add_message_handler(handler)
    await call(
        system_bus,
        "org.freedesktop.DBus",
        "/org/freedesktop/DBus",
        "org.freedesktop.DBus",
        "AddMatch",
        signature="s",
        body=["type='signal',member='NameOwnerChanged'"],
    )
    service = await served()
    await asyncio.wait_for(done.wait(), 30)
    assert seen == [[Variant("i", 276)]]
    await close(service.bus)


async def test_second_owner_of_the_name_is_refused(dbus_daemon: object) -> None:
    first = await served()
    with pytest.raises(RuntimeError, match="already owned"):
        await served()
    await close(first.bus)
