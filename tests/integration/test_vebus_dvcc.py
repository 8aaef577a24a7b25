"""DVCC writing into the running vebus-publisher, and the controller's view of those writes.

A Venus-style client writes the battery operational limits with ``SetValue`` the way
systemcalc does (Int32 when integral, Double otherwise, the empty ``ai`` for "none"); a
subscriber follows ``io.smavenus.VebusPublisher`` with the same :class:`PeerFeed` the
controller uses. Everything runs on a private dbus-daemon; the publisher is the app's own
wiring (``run_publisher``), with the can-gateway's real endpoint as its peer.
"""

from __future__ import annotations

import functools
import itertools
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from dbus_fast import Variant
from dbus_fast.aio import MessageBus
from dbus_fast.errors import DBusError

from smavenus.config import AppConfig, parse_config
from smavenus.io.controller.service import ControllerService
from smavenus.io.dbus import call, connect_system_bus
from smavenus.io.dbus.peer_feed import PeerFeed
from smavenus.io.publisher.endpoint import PublisherEndpoint
from smavenus.ipc import feeds, names
from smavenus.ipc.messages import DVCC_WRITE_PATHS, BmsCommand, DvccWrites, WrittenValue
from smavenus.testing.dbus_daemon import PrivateDbusDaemon
from smavenus.testing.waiting import eventually
from tests.integration.vebus_peers import DBUS, Client, GatewayPeer, Publisher
from tests.unit.vebus.si import controller_status, gateway_health, scene, snapshot

MCV = "/BatteryOperationalLimits/MaxChargeVoltage"
MCC = "/BatteryOperationalLimits/MaxChargeCurrent"
MDC = "/BatteryOperationalLimits/MaxDischargeCurrent"
BLV = "/BatteryOperationalLimits/BatteryLowVoltage"
DC_MCC = "/Dc/0/MaxChargeCurrent"


def config(tmp_path: Path) -> AppConfig:
    return parse_config({"paths": {"state_dir": str(tmp_path)}})


@pytest.fixture
async def gateway(dbus_daemon: PrivateDbusDaemon) -> AsyncIterator[GatewayPeer]:
    peer = await GatewayPeer().start()
    yield peer
    await peer.stop()


@pytest.fixture
async def client(system_bus: MessageBus) -> Client:
    return await Client(system_bus).watch()


class Controller:
    """The controller's end of the feed: a PeerFeed on its own connection."""

    def __init__(self, bus: MessageBus) -> None:
        self.bus = bus
        self.messages: list[DvccWrites] = []
        self.feed = PeerFeed(bus, feeds.DVCC_WRITES, self.messages.append)

    def latest(self, wanted: Callable[[DvccWrites], bool]) -> DvccWrites | None:
        """The newest message if it is the one ``wanted`` (for ``eventually``)."""
        return self.messages[-1] if self.messages and wanted(self.messages[-1]) else None


@pytest.fixture
async def controller(dbus_daemon: PrivateDbusDaemon) -> AsyncIterator[Controller]:
    bus = await connect_system_bus()
    follower = Controller(bus)
    await follower.feed.start()
    yield follower
    await follower.feed.stop()
    bus.disconnect()


async def owned(bus: MessageBus, name: str) -> bool:
    (has,) = await call(bus, *DBUS, "NameHasOwner", signature="s", body=[name])
    return bool(has)


async def running(cfg: AppConfig, client: Client) -> Publisher:
    """The publisher with both its names: the vebus service and our endpoint."""
    publisher = Publisher(cfg)
    await eventually(lambda: owned(client.bus, names.PUBLISHER_BUS_NAME), what="the endpoint")
    return publisher


async def get_dvcc_writes(bus: MessageBus) -> DvccWrites:
    (payload,) = await call(
        bus,
        names.PUBLISHER_BUS_NAME,
        names.PUBLISHER_PATH,
        names.PUBLISHER_INTERFACE,
        names.GET_DVCC_WRITES_METHOD,
    )
    return DvccWrites.model_validate_json(payload)


def stamp_between(written: WrittenValue | None, before: float, after: float) -> float:
    assert written is not None
    assert before <= written.written_monotonic <= after
    return written.written_monotonic


async def test_dvcc_writes_are_echoed_stamped_and_forwarded(
    tmp_path: Path, gateway: GatewayPeer, client: Client, controller: Controller
) -> None:
    publisher = await running(config(tmp_path), client)
    with pytest.raises(DBusError, match="no DVCC write yet"):
        await get_dvcc_writes(client.bus)
    before = time.monotonic()
    # systemcalc's round: Int32 when the value is integral, Double otherwise, [] for None
    assert await client.set(MCV, Variant("d", 55.2)) == 0
    assert await client.set(MCC, Variant("i", 40)) == 0
    assert await client.set(MDC, Variant("d", 120.5)) == 0
    assert await client.set(BLV, Variant("ai", [])) == 0
    assert await client.set(DC_MCC, Variant("i", 35)) == 0
    after = time.monotonic()
    latest = await eventually(
        lambda: controller.latest(lambda m: m.dc_max_charge_current_a is not None),
        what="a DvccWrites with every path",
    )
    values = {name: getattr(latest, name).value for name in DVCC_WRITE_PATHS.values()}
    assert values == {
        "max_charge_voltage_v": 55.2,
        "max_charge_current_a": 40.0,
        "max_discharge_current_a": 120.5,
        "battery_low_voltage_v": None,  # the invalid marker
        "dc_max_charge_current_a": 35.0,
    }
    stamps = [
        stamp_between(getattr(latest, name), before, after) for name in DVCC_WRITE_PATHS.values()
    ]
    assert stamps == sorted(stamps)  # in the order written
    assert before <= latest.sent_monotonic <= time.monotonic()
    # DVCC reads its values back: each path echoes what was written, as its declared type
    assert await client.variant(MCV) == Variant("d", 55.2)
    assert await client.variant(MCC) == Variant("d", 40.0)
    assert await client.value(BLV) is None
    assert await client.variant(DC_MCC) == Variant("d", 35.0)
    assert await get_dvcc_writes(client.bus) == latest  # a restarted controller catches up
    assert await publisher.stop() == 0
    assert not await owned(client.bus, names.PUBLISHER_BUS_NAME)


def written_since(since: float) -> Callable[[DvccWrites], bool]:
    def wanted(message: DvccWrites) -> bool:
        written = message.max_charge_voltage_v
        return written is not None and written.written_monotonic >= since

    return wanted


async def test_the_same_value_written_twice_is_two_stamps(
    tmp_path: Path, gateway: GatewayPeer, client: Client, controller: Controller
) -> None:
    """DVCC's keep-alive: an unchanged write emits no PropertiesChanged, yet is forwarded."""
    publisher = await running(config(tmp_path), client)
    stamps: list[float] = []
    for _ in range(2):
        before = time.monotonic()
        assert await client.set(MCV, Variant("d", 55.2)) == 0
        after = time.monotonic()
        latest = await eventually(
            functools.partial(controller.latest, written_since(before)), what="the stamp"
        )
        assert latest.max_charge_voltage_v is not None
        assert latest.max_charge_voltage_v.value == 55.2
        stamps.append(stamp_between(latest.max_charge_voltage_v, before, after))
    assert stamps[1] > stamps[0]
    assert [m.seq for m in controller.messages] == [1, 2]
    await publisher.stop()


async def test_refused_writes_change_nothing_and_record_nothing(
    tmp_path: Path, gateway: GatewayPeer, client: Client, controller: Controller
) -> None:
    publisher = await running(config(tmp_path), client)
    assert await client.set(MCV, Variant("d", 55.2)) == 0
    first = await eventually(lambda: controller.latest(lambda m: True), what="the first write")
    assert await client.set(MCV, Variant("s", "56.0")) == 1  # wrong type
    assert await client.set(MCV, Variant("ai", [56])) == 1  # an array that is not the marker
    assert await client.set(DC_MCC, Variant("ai", [])) == 2  # must stay valid (DVCC needs it)
    assert await client.set(DC_MCC, Variant("d", math.nan)) == 2  # NaN is invalid too
    assert await client.variant(MCV) == Variant("d", 55.2)
    assert await client.variant(DC_MCC) == Variant("d", 140.0)  # [battery] default, untouched
    # The next accepted write shows nothing happened in between: the refused writes sent no
    # message (seq is consecutive) and left no stamp.
    assert await client.set(MDC, Variant("d", math.nan)) == 0  # accepted: recorded as None
    second = await eventually(
        lambda: controller.latest(lambda m: m.max_discharge_current_a is not None),
        what="the write after the refused ones",
    )
    assert second.seq == first.seq + 1
    assert len(controller.messages) == 2
    assert second.max_charge_voltage_v == first.max_charge_voltage_v
    assert second.dc_max_charge_current_a is None
    assert second.max_discharge_current_a is not None
    assert second.max_discharge_current_a.value is None
    assert await client.value(MDC) is None
    await publisher.stop()


async def test_writes_in_one_loop_iteration_leave_as_one_message(
    system_bus: MessageBus, controller: Controller
) -> None:
    """DVCC writes four or five paths back to back: one message for all, not one each."""
    bus = await connect_system_bus()
    endpoint = PublisherEndpoint(bus)
    await endpoint.start()
    with pytest.raises(DBusError, match="no DVCC write yet"):
        await get_dvcc_writes(system_bus)
    for n, path in enumerate(DVCC_WRITE_PATHS):  # what the BusItem hook does per write
        endpoint.written(path, 50.0 + n)
    endpoint.written("/CustomName", "not DVCC's")  # ignored
    first = await eventually(lambda: controller.latest(lambda m: True), what="one message")
    assert all(getattr(first, name) is not None for name in DVCC_WRITE_PATHS.values())
    endpoint.written(MCV, 55.0)
    second = await eventually(lambda: controller.latest(lambda m: m.seq > first.seq))
    assert [m.seq for m in controller.messages] == [1, 2]
    assert endpoint.sent == 2
    assert second.max_charge_voltage_v is not None
    assert second.max_charge_voltage_v.value == 55.0
    assert await get_dvcc_writes(system_bus) == second
    await endpoint.stop()
    bus.disconnect()


async def test_the_si_looks_like_a_charger_dvcc_controls(
    tmp_path: Path, gateway: GatewayPeer, client: Client
) -> None:
    publisher = await running(config(tmp_path), client)
    assert await client.value("/FirmwareFeatures/BolFrame") == 1
    assert await client.value("/FirmwareVersion") >= 0x422
    assert await client.value(DC_MCC) == 140.0  # valid before DVCC's first write
    # the controller (its real endpoint) is heard by the gateway, but has lost its BMS
    bus = await connect_system_bus()
    controller = ControllerService(bus)
    await controller.start()
    gateway.send_health(gateway_health("controller", sent=time.monotonic()))
    commands, cycles = itertools.count(1), itertools.count(1)

    def emit(*, bms_connection_lost: bool) -> None:
        now = time.monotonic()
        command = BmsCommand(
            seq=next(commands), sent_monotonic=now, sent_unix=time.time(), charge_voltage_v=56.0,
            charge_current_a=0.0, discharge_current_a=200.0, discharge_voltage_v=44.8,
            soc_pct=80.0,
        )  # fmt: skip
        status = controller_status(sent=now, bms_connection_lost=bms_connection_lost)
        status = status.model_copy(update={"seq": command.seq})  # readers drop a repeated seq
        controller.emit(command.model_dump_json(), status.model_dump_json())

    async def alarm_after_a_cycle() -> object:
        # The status is cached and shown with the next SI cycle: send cycles until it shows.
        gateway.send(snapshot(scene(), time.monotonic(), seq=next(cycles)))
        return await client.value("/Alarms/BmsConnectionLost")

    emit(bms_connection_lost=True)
    await eventually(lambda: _is(alarm_after_a_cycle(), 2), what="BmsConnectionLost 2")
    emit(bms_connection_lost=False)
    await eventually(lambda: _is(alarm_after_a_cycle(), 0), what="BmsConnectionLost 0")
    await controller.stop()
    bus.disconnect()
    await publisher.stop()


async def _is(value: Awaitable[object], expected: object) -> bool:
    return await value == expected
