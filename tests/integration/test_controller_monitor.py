"""The controller's battery-monitor follower against real BusItem services on a private bus.

The services are our own BusItem exporter (``smavenus.io.dbus.busitem``) playing a SmartShunt, a
second monitor and systemcalc's ``/ActiveBatteryService``, each on its own connection so it
can vanish and come back with a new unique name, as a restarted Venus service does.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from dbus_fast import Message, MessageType
from dbus_fast.aio import MessageBus

from smavenus.controller.inputs import MonitorSample
from smavenus.io.controller.battery_services import BatteryServices
from smavenus.io.dbus import add_match, match_rule
from smavenus.io.dbus.busitem import BUSITEM
from smavenus.testing.dbus_daemon import PrivateDbusDaemon
from smavenus.testing.waiting import eventually
from tests.integration.controller_harness import BATTERY_SPECS, SYSTEM_SPECS, Service, shunt

#: For what takes a D-Bus round trip or two: generous, so a loaded machine never fails it.
DEADLINE_S = 10.0


def monitor_of(
    bus: MessageBus, configured: str | None, samples: Samples, poll_after_s: float
) -> BatteryServices:
    """The controller's battery services, watched for the monitor alone."""
    return BatteryServices(
        bus,
        monitor_service=configured,
        bms_service=None,
        on_monitor=samples,
        on_bms=lambda _sample: None,
        on_system=lambda _sample: None,
        poll_after_s=poll_after_s,
    )


class Samples:
    def __init__(self) -> None:
        self.all: list[MonitorSample | None] = []

    def __call__(self, sample: MonitorSample | None) -> None:
        self.all.append(sample)

    @property
    def last(self) -> MonitorSample | None:
        return self.all[-1] if self.all else None


class Delivered:
    """Every ItemsChanged of one service that reached ``bus``, the monitor's connection.

    Handlers run in order as each message is read, so once one shows here the monitor's own
    handlers have had it too: the proof that a signal it ignored had its chance."""

    def __init__(self, bus: MessageBus, service: Service) -> None:
        self.bus, self.service = bus, service
        self.bodies: list[dict[str, object]] = []

    async def start(self) -> Delivered:
        self.bus.add_message_handler(self._on)
        rule = match_rule(
            type="signal", sender=self.service.name, interface=BUSITEM, member="ItemsChanged"
        )
        await add_match(self.bus, rule)
        return self

    def _on(self, msg: Message) -> None:
        if (
            msg.message_type is MessageType.SIGNAL
            and msg.member == "ItemsChanged"
            and self.service.bus is not None
            and msg.sender == self.service.bus.unique_name
        ):
            self.bodies.append(msg.body[0])


async def systemcalc_gone(monitor: BatteryServices) -> None:
    await eventually(lambda: not monitor.system.present, DEADLINE_S, "systemcalc gone")


async def resolved(monitor: BatteryServices) -> None:
    """Every choice the monitor's selection set out to make has been made (its tasks done)."""
    await eventually(lambda: not monitor.monitor._tasks, DEADLINE_S, "the choice made")


@pytest.fixture
async def services(dbus_daemon: PrivateDbusDaemon) -> AsyncIterator[list[Service]]:
    started: list[Service] = []
    yield started
    for service in started:
        service.close()


async def start(services: list[Service], *new: Service) -> None:
    for service in new:
        services.append(await service.start())


async def test_follows_the_battery_systemcalc_selected_and_its_updates(
    system_bus: MessageBus, services: list[Service]
) -> None:
    a = Service("com.victronenergy.battery.ttyS5", BATTERY_SPECS, shunt(512, 53.1))
    b = Service("com.victronenergy.battery.ttyS6", BATTERY_SPECS, shunt(513, 52.0))
    system = Service(
        "com.victronenergy.system",
        SYSTEM_SPECS,
        {"/DeviceInstance": 0, "/ActiveBatteryService": "com.victronenergy.battery/512"},
    )
    await start(services, a, b, system)
    samples = Samples()
    monitor = monitor_of(system_bus, None, samples, 30.0)
    await monitor.start()
    assert monitor.monitor.service == "com.victronenergy.battery.ttyS5"
    assert samples.last is not None
    assert (samples.last.voltage_v, samples.last.current_a, samples.last.soc_pct) == (
        53.1,
        -3.2,
        77.0,
    )
    assert (samples.last.min_cell_v, samples.last.max_cell_v, samples.last.temperature_c) == (
        3.30,
        3.33,
        21.5,
    )

    a.publish(voltage=53.4)  # ItemsChanged from the monitor
    await eventually(
        lambda: samples.last is not None and samples.last.voltage_v == 53.4, DEADLINE_S
    )
    a.properties_changed("/Dc/0/Current", 12.5)  # PropertiesChanged from it
    await eventually(
        lambda: samples.last is not None and samples.last.current_a == 12.5, DEADLINE_S
    )

    system.properties_changed("/ActiveBatteryService", "com.victronenergy.battery/513")
    await eventually(
        lambda: monitor.monitor.service == "com.victronenergy.battery.ttyS6", DEADLINE_S
    )
    await eventually(
        lambda: samples.last is not None and samples.last.voltage_v == 52.0, DEADLINE_S
    )
    seen = len(samples.all)
    old = await Delivered(system_bus, a).start()
    a.publish(voltage=57.0)  # the old monitor no longer counts…
    await eventually(lambda: old.bodies, DEADLINE_S, "the old monitor's signal delivered")
    assert samples.all[seen:] == []  # …though its signal reached the monitor's connection
    assert samples.last is not None and samples.last.voltage_v == 52.0
    await monitor.stop()


async def test_a_systemcalc_restart_keeps_the_monitor(
    system_bus: MessageBus, services: list[Service]
) -> None:
    system_values = {"/DeviceInstance": 0, "/ActiveBatteryService": "com.victronenergy.battery/512"}
    battery = Service("com.victronenergy.battery.ttyS5", BATTERY_SPECS, shunt(512))
    system = Service("com.victronenergy.system", SYSTEM_SPECS, system_values)
    await start(services, battery, system)
    samples = Samples()
    monitor = monitor_of(system_bus, None, samples, 30.0)
    await monitor.start()
    await system.vanish()
    await systemcalc_gone(monitor)
    await resolved(monitor)  # what systemcalc's absence made it decide: nothing
    battery.publish(voltage=53.3)
    await eventually(
        lambda: samples.last is not None and samples.last.voltage_v == 53.3, DEADLINE_S
    )
    assert monitor.monitor.service == "com.victronenergy.battery.ttyS5"
    await start(services, Service("com.victronenergy.system", SYSTEM_SPECS, system_values))
    # The new systemcalc scanned, and the choice its values ask for made again.
    await eventually(
        lambda: monitor.system.present and monitor.system.follower.updated_at is not None,
        DEADLINE_S,
        "the new systemcalc scanned",
    )
    await resolved(monitor)
    assert samples.last is not None and monitor.monitor.service == "com.victronenergy.battery.ttyS5"
    await monitor.stop()


async def test_a_vanished_monitor_is_reported_at_once_and_followed_when_it_returns(
    system_bus: MessageBus, services: list[Service]
) -> None:
    name = "com.victronenergy.battery.ttyS5"
    await start(services, Service(name, BATTERY_SPECS, shunt(512)))
    samples = Samples()
    monitor = monitor_of(system_bus, name, samples, 30.0)  # configured
    await monitor.start()
    assert samples.last is not None
    await services[0].vanish()
    await eventually(lambda: samples.last is None, DEADLINE_S)
    replacement = Service(name, BATTERY_SPECS, shunt(512, 51.7))  # a new owner
    await start(services, replacement)
    await eventually(
        lambda: samples.last is not None and samples.last.voltage_v == 51.7, DEADLINE_S
    )
    replacement.publish(voltage=51.9)
    await eventually(
        lambda: samples.last is not None and samples.last.voltage_v == 51.9, DEADLINE_S
    )
    await monitor.stop()


@pytest.mark.parametrize(
    "active",
    ["com.victronenergy.vebus/276", "nobattery", "com.victronenergy.battery/999"],
    ids=["the SI itself", "no battery", "unknown instance"],
)
async def test_no_usable_monitor_means_none(
    system_bus: MessageBus, services: list[Service], active: str
) -> None:
    system = Service(
        "com.victronenergy.system",
        SYSTEM_SPECS,
        {"/DeviceInstance": 0, "/ActiveBatteryService": active},
    )
    await start(
        services, Service("com.victronenergy.battery.ttyS5", BATTERY_SPECS, shunt(512)), system
    )
    samples = Samples()
    monitor = monitor_of(system_bus, None, samples, 30.0)
    await monitor.start()
    assert monitor.monitor.service is None and samples.last is None
    system.properties_changed("/ActiveBatteryService", "com.victronenergy.battery/512")
    await eventually(lambda: samples.last is not None, DEADLINE_S)
    await monitor.stop()


async def test_a_disconnected_monitor_is_no_monitor(
    system_bus: MessageBus, services: list[Service]
) -> None:
    name = "com.victronenergy.battery.ttyS5"
    await start(services, battery := Service(name, BATTERY_SPECS, shunt(512)))
    samples = Samples()
    monitor = monitor_of(system_bus, name, samples, 30.0)
    await monitor.start()
    assert samples.last is not None
    battery.publish(connected=0)
    await eventually(lambda: samples.last is None, DEADLINE_S)
    await monitor.stop()


async def test_a_quiet_monitor_is_polled_so_idle_values_stay_fresh(
    system_bus: MessageBus, services: list[Service]
) -> None:
    name = "com.victronenergy.battery.ttyS5"
    await start(services, Service(name, BATTERY_SPECS, shunt(512)))
    samples = Samples()
    monitor = monitor_of(system_bus, name, samples, 0.2)
    await monitor.start()
    assert samples.last is not None
    first = samples.last.updated_at
    await eventually(
        lambda: samples.last is not None and samples.last.updated_at > first + 0.3, DEADLINE_S
    )
    await services[0].vanish()  # no answer any more: the values age
    await eventually(lambda: samples.last is None, DEADLINE_S)
    await monitor.stop()
