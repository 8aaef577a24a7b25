"""The simulated battery monitor and systemcalc stand-in, seen from a Venus client's side.

A private dbus-daemon; the simulator runs in-process on python-can's virtual bus. The client
calls what dbusmonitor, veutil and the charge controller call: GetItems and GetValue/GetText
on the services, and listens to ItemsChanged.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from dbus_fast import Message, MessageType, Variant
from dbus_fast.aio import MessageBus
from dbus_fast.errors import DBusError

from smavenus.io.dbus import call, match_rule
from smavenus.io.sim import PythonCanLink, SimRunner
from smavenus.sim import Simulation, parse_scenario
from smavenus.sim.monitor import MEASURED_PATHS, MONITOR_SPECS
from smavenus.sim.scenario import MonitorEvent, SystemEvent
from smavenus.testing.waiting import eventually

BUSITEM = "com.victronenergy.BusItem"
MONITOR = "com.victronenergy.battery.sim"
SYSTEM = "com.victronenergy.system"
INVALID = Variant("ai", [])


@asynccontextmanager
async def simulator(scenario: dict[str, Any] | None = None) -> AsyncIterator[SimRunner]:
    sim = Simulation(parse_scenario(scenario or {}), seed=1)
    link = PythonCanLink("virtual", f"sim-{uuid.uuid4()}")
    async with SimRunner(sim, link, speed=20.0, battery_monitor="sim") as runner:
        yield runner


async def get_value(bus: MessageBus, service: str, path: str) -> Any:
    (value,) = await call(bus, service, path, BUSITEM, "GetValue")
    return value


async def get_items(bus: MessageBus, service: str) -> dict[str, Any]:
    (items,) = await call(bus, service, "/", BUSITEM, "GetItems")
    return dict(items)


class ItemsChanged:
    """Every ItemsChanged signal a service sends (matched as dbusmonitor does: path '/')."""

    def __init__(self, bus: MessageBus, service: str) -> None:
        self.bus, self.service = bus, service
        self.bodies: list[dict[str, Any]] = []
        self.other_signals = 0

    async def start(self) -> ItemsChanged:
        (self.owner,) = await call(
            self.bus,
            "org.freedesktop.DBus",
            "/org/freedesktop/DBus",
            "org.freedesktop.DBus",
            "GetNameOwner",
            signature="s",
            body=[self.service],
        )
        self.bus.add_message_handler(self._on)
        await call(
            self.bus,
            "org.freedesktop.DBus",
            "/org/freedesktop/DBus",
            "org.freedesktop.DBus",
            "AddMatch",
            signature="s",
            body=[match_rule(type="signal", interface=BUSITEM, sender=self.service)],
        )
        return self

    def _on(self, msg: Message) -> None:
        if msg.message_type is not MessageType.SIGNAL or msg.sender != self.owner:
            return
        if msg.member == "ItemsChanged" and msg.path == "/":
            self.bodies.append(msg.body[0])
        else:
            self.other_signals += 1


async def test_get_items_get_value_and_get_text_like_a_smartshunt(system_bus: MessageBus) -> None:
    async with simulator({"monitor": {"cell_voltages": False}}) as runner:
        await runner.wait_until(3)
        items = await get_items(system_bus, MONITOR)
        assert set(items) == {spec.path for spec in MONITOR_SPECS}
        assert all(set(entry) == {"Value", "Text"} for entry in items.values())
        assert items["/DeviceInstance"]["Value"] == Variant("i", 512)
        assert items["/Connected"]["Value"] == Variant("i", 1)
        assert items["/ProductId"]["Value"] == Variant("i", 0xA389)
        assert items["/Mgmt/ProcessName"]["Value"] == Variant("s", "smavenus-sim")
        assert items["/Mgmt/Connection"]["Value"].signature == "s"
        # invalid values are empty arrays, with '---' as their text
        assert items["/System/MinCellVoltage"] == {"Value": INVALID, "Text": Variant("s", "---")}

        soc = await get_value(system_bus, MONITOR, "/Soc")
        assert soc.signature == "d"
        assert soc.value == pytest.approx(60.0, abs=0.1)
        (text,) = await call(system_bus, MONITOR, "/Soc", BUSITEM, "GetText")
        assert text == f"{soc.value:.1f} %"
        voltage = await get_value(system_bus, MONITOR, "/Dc/0/Voltage")
        assert 50.0 < voltage.value < 56.0
        current = await get_value(system_bus, MONITOR, "/Dc/0/Current")
        assert current.value < 0  # off grid with a load: discharging, Victron sign
        consumed = await get_value(system_bus, MONITOR, "/ConsumedAmphours")
        assert consumed.value == pytest.approx(-0.4 * 280, abs=1.0)
        time_to_go = await get_value(system_bus, MONITOR, "/TimeToGo")
        assert time_to_go.signature == "d" and time_to_go.value > 3600

        async def set_value(path: str, value: Variant) -> int:
            (code,) = await call(
                system_bus, MONITOR, path, BUSITEM, "SetValue", signature="v", body=[value]
            )
            return int(code)

        assert await set_value("/CustomName", Variant("s", "House bank")) == 0
        assert await set_value("/Soc", Variant("d", 99.0)) == 1  # measurements are read-only
        assert await get_value(system_bus, MONITOR, "/CustomName") == Variant("s", "House bank")


async def test_one_items_changed_per_update_carrying_only_what_changed(
    system_bus: MessageBus,
) -> None:
    async with simulator() as runner:
        assert runner.monitor is not None
        monitor = runner.monitor
        await runner.wait_until(1)
        signals = await ItemsChanged(system_bus, MONITOR).start()
        # Every update from here on was published after the match rule was in place (one
        # more, published while its reply was on the way, may be received uncounted).
        start_updates = monitor.updates
        await runner.wait_until(6)
        updates = monitor.updates - start_updates
        assert updates >= 4
        # Each of those updates' signal arrives (the monitor's values change every second)…
        await eventually(lambda: len(signals.bodies) >= updates, 10.0, "their signals")
        # …and a reply from the monitor's connection comes after every signal it sent before:
        # never more than one signal per update, whatever is still on the way.
        await get_value(system_bus, MONITOR, "/Soc")
        assert len(signals.bodies) <= monitor.updates - start_updates + 1
        assert signals.other_signals == 0  # no PropertiesChanged storm
        for body in signals.bodies:
            assert set(body) <= set(MEASURED_PATHS)
            assert "/Dc/0/Voltage" in body  # it changes every second (noise)
            for entry in body.values():
                assert set(entry) == {"Value", "Text"}


async def test_freeze_vanish_and_restore_with_systemcalc_following(system_bus: MessageBus) -> None:
    async with simulator() as runner:
        await runner.wait_until(2)
        assert await get_value(system_bus, SYSTEM, "/ActiveBatteryService") == Variant(
            "s", "com.victronenergy.battery/512"
        )
        monitor_soc = await get_value(system_bus, MONITOR, "/Soc")
        assert await get_value(system_bus, SYSTEM, "/Dc/Battery/Soc") == monitor_soc

        await runner.apply(MonitorEvent(action="monitor", state="freeze"))
        signals = await ItemsChanged(system_bus, MONITOR).start()
        frozen_voltage = await get_value(system_bus, MONITOR, "/Dc/0/Voltage")
        await runner.wait_until(runner.sim.now_s + 4)  # four readings that would have moved it
        # This reply comes from the monitor's connection after anything it sent meanwhile.
        assert await get_value(system_bus, MONITOR, "/Dc/0/Voltage") == frozen_voltage
        assert signals.bodies == []  # frozen: on the bus, answering, never changing
        assert await get_value(system_bus, SYSTEM, "/Dc/Battery/Voltage") == frozen_voltage

        await runner.apply(MonitorEvent(action="monitor", state="vanish"))
        with pytest.raises(DBusError):
            await get_items(system_bus, MONITOR)
        assert await get_value(system_bus, SYSTEM, "/ActiveBatteryService") == INVALID
        assert await get_value(system_bus, SYSTEM, "/Dc/Battery/Soc") == INVALID

        await runner.apply(MonitorEvent(action="monitor", state="restore"))
        items = await get_items(system_bus, MONITOR)
        assert items["/Connected"]["Value"] == Variant("i", 1)
        assert await get_value(system_bus, SYSTEM, "/ActiveBatteryService") == Variant(
            "s", "com.victronenergy.battery/512"
        )
        await runner.wait_until(runner.sim.now_s + 2)
        assert await get_value(system_bus, SYSTEM, "/Dc/Battery/Soc") == await get_value(
            system_bus, MONITOR, "/Soc"
        )


async def test_disconnected_monitor_and_no_battery_selection(system_bus: MessageBus) -> None:
    async with simulator() as runner:
        await runner.wait_until(2)
        await runner.apply(MonitorEvent(action="monitor", state="disconnect"))
        assert await get_value(system_bus, MONITOR, "/Connected") == Variant("i", 0)
        assert await get_value(system_bus, MONITOR, "/Dc/0/Voltage") == INVALID
        assert await get_value(system_bus, SYSTEM, "/ActiveBatteryService") == INVALID
        await runner.apply(MonitorEvent(action="monitor", state="restore"))
        await runner.apply(SystemEvent(action="system", state="no_battery"))
        assert await get_value(system_bus, MONITOR, "/Connected") == Variant("i", 1)
        assert await get_value(system_bus, SYSTEM, "/ActiveBatteryService") == INVALID
        await runner.apply(SystemEvent(action="system", state="normal"))
        assert await get_value(system_bus, SYSTEM, "/ActiveBatteryService") == Variant(
            "s", "com.victronenergy.battery/512"
        )
        await runner.apply(SystemEvent(action="system", state="vanish"))
        with pytest.raises(DBusError):
            await get_items(system_bus, SYSTEM)
