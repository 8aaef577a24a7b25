"""The vebus-publisher seen by a Venus client over a private dbus-daemon (BusItem conformance).

The publisher runs with its real wiring (``run_publisher``); its peer is the can-gateway's
real D-Bus endpoint, fed with snapshots built here; localsettings is the stand-in.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from dbus_fast import NameFlag, RequestNameReply, Variant
from dbus_fast.aio import MessageBus
from structlog.testing import capture_logs

from smavenus.config import AppConfig, parse_config
from smavenus.io.dbus import call, connect_system_bus, new_signal
from smavenus.ipc import names
from smavenus.testing.dbus_daemon import PrivateDbusDaemon
from smavenus.testing.localsettings import LocalSettingsStandIn
from smavenus.testing.waiting import eventually
from smavenus.vebus.paths import vebus_paths
from smavenus.victron.items import ItemType
from tests.integration.vebus_peers import (
    SERVICE,
    Client,
    GatewayPeer,
    Publisher,
    flushed,
    routed,
)
from tests.unit.vebus.si import gateway_health, scene, snapshot

INSTANCE_SETTING = "/Settings/Devices/smavenus_sma_can0/ClassAndVrmInstance"
NAME_SETTING = "/Settings/Devices/smavenus_sma_can0/CustomName"


def config(tmp_path: Path, **vebus: Any) -> AppConfig:
    return parse_config(
        {
            "paths": {"state_dir": str(tmp_path)},
            "gateway": {"enable_remote_on_off": True},
            "vebus": {"allow_mode_control": True, **vebus},
        }
    )


@pytest.fixture
async def gateway(dbus_daemon: PrivateDbusDaemon) -> AsyncIterator[GatewayPeer]:
    peer = await GatewayPeer().start()
    yield peer
    await peer.stop()


@pytest.fixture
async def settings(dbus_daemon: PrivateDbusDaemon) -> AsyncIterator[LocalSettingsStandIn]:
    bus = await connect_system_bus()
    standin = LocalSettingsStandIn(bus)
    await standin.start()
    yield standin
    bus.disconnect()


@pytest.fixture
async def client(system_bus: MessageBus) -> Client:
    return await Client(system_bus).watch()


async def running(cfg: AppConfig, client: Client) -> Publisher:
    publisher = Publisher(cfg)
    await eventually(client.owner, 30, "the publisher on the bus")
    return publisher


def cycle(gateway: GatewayPeer, seq: int, **kwargs: Any) -> None:
    gateway.send(snapshot(scene(**kwargs), time.monotonic(), seq=seq))


async def test_get_items_returns_every_path_with_value_and_text(
    tmp_path: Path, gateway: GatewayPeer, client: Client
) -> None:
    publisher = await running(config(tmp_path), client)
    cycle(gateway, 1)
    await eventually(client.items_changed)
    items = await client.items()
    table = vebus_paths(mode_control=True)
    assert set(items) == {p.path for p in table}
    for entry in table:
        item = items[entry.path]
        assert set(item) == {"Value", "Text"}, entry.path
        assert item["Text"].signature == "s", entry.path
        value = item["Value"]
        expected = {ItemType.INT: "i", ItemType.DOUBLE: "d", ItemType.STRING: "s"}[entry.spec.type]
        assert value.signature in (expected, "ai"), entry.path  # "ai" [] = invalid
    assert items["/Connected"]["Value"] == Variant("i", 1)
    assert items["/Dc/0/Voltage"]["Text"] == Variant("s", "52.80 V")
    assert items["/FirmwareVersion"]["Value"].value >= 0x422
    await publisher.stop()


async def test_get_value_and_get_text_per_path_agree_with_get_items(
    tmp_path: Path, gateway: GatewayPeer, client: Client
) -> None:
    publisher = await running(config(tmp_path), client)
    cycle(gateway, 1, ext_w=(1500,), inv_w=(-500,), battery_a_sma=-10.0)
    await eventually(client.items_changed)
    items = await client.items()
    for path, item in items.items():
        assert await client.variant(path) == item["Value"], path
        assert await client.text(path) == item["Text"].value, path
    (legacy,) = await call(client.bus, SERVICE, "/", "com.victronenergy.BusItem", "GetValue")
    assert legacy.value["Dc/0/Current"] == Variant("d", 10.0)  # relative keys
    await publisher.stop()


async def test_one_items_changed_per_si_cycle_with_only_what_changed(
    tmp_path: Path, gateway: GatewayPeer, client: Client
) -> None:
    publisher = await running(config(tmp_path), client)
    gateway.send_health(gateway_health(sent=time.monotonic()))
    cycle(gateway, 1, battery_a_sma=-10.0)
    await eventually(client.items_changed)
    await flushed(client)
    client.signals.clear()
    # The gateway's messages reach the publisher in the order sent, and the publisher sends
    # one ItemsChanged per snapshot that changed something: what arrives up to the reply
    # after a snapshot's own signal is all that the messages before it cost.
    gateway.send_health(gateway_health(sent=time.monotonic()))  # cached: costs no message
    cycle(gateway, 2, battery_a_sma=-20.0)  # only the battery current differs
    await eventually(client.items_changed, what="cycle 2's ItemsChanged")
    await flushed(client)
    assert [(m.member, m.path) for m in client.signals] == [("ItemsChanged", "/")]
    (changed,) = client.items_changed()
    assert set(changed) == {"/Dc/0/Current", "/Dc/0/Power"}
    assert changed["/Dc/0/Current"] == {"Value": Variant("d", 20.0), "Text": Variant("s", "20.0 A")}
    client.signals.clear()
    cycle(gateway, 3, battery_a_sma=-20.0)  # nothing changes: nothing is sent
    cycle(gateway, 4, battery_a_sma=-30.0)  # the marker: this one changes the current
    await eventually(client.items_changed, what="cycle 4's ItemsChanged")
    await flushed(client)
    (changed,) = client.items_changed()  # cycle 4's alone: cycle 3 sent nothing
    assert changed["/Dc/0/Current"]["Value"] == Variant("d", 30.0)
    await publisher.stop()


async def test_saving_the_counters_sends_nothing_on_the_bus(
    tmp_path: Path, gateway: GatewayPeer, client: Client
) -> None:
    # The snapshot stays fresh however long a loaded machine takes to save (60 s).
    cfg = config(tmp_path, state_save_interval_s=1.0, snapshot_max_age_s=60.0)
    publisher = await running(cfg, client)
    state_file = tmp_path / "vebus-sma_can0.json"
    cycle(gateway, 1, inv_w=(3000,), ext_w=(0,), ext_v=(0,))
    await eventually(client.items_changed)
    cycle(gateway, 2, inv_w=(3000,), ext_w=(0,), ext_v=(0,), battery_v=52.9)
    await eventually(lambda: _equals(client.value("/Dc/0/Voltage"), 52.9), what="cycle 2")
    await flushed(client)
    client.signals.clear()
    saved_before = state_file.stat().st_mtime_ns if state_file.exists() else 0

    def saved() -> bool:
        return state_file.exists() and state_file.stat().st_mtime_ns > saved_before

    await eventually(saved, 30, "a save falling due")
    await flushed(client)  # anything the save had sent would be here now
    assert client.signals == []
    await publisher.stop()


async def test_set_value_codes_and_dvcc_writes(
    tmp_path: Path, gateway: GatewayPeer, client: Client
) -> None:
    publisher = await running(config(tmp_path), client)
    cycle(gateway, 1)
    await eventually(client.items_changed)
    read_only = [p.path for p in vebus_paths(mode_control=True) if not p.spec.writable]
    assert "/Ac/In/1/CurrentLimitIsAdjustable" in read_only
    for path in read_only:
        assert await client.set(path, Variant("i", 1)) == 1, path
    assert await client.value("/State") is not None
    # DVCC writes an Int32 when the value happens to be integral, a Double otherwise
    assert await client.set("/Dc/0/MaxChargeCurrent", Variant("i", 100)) == 0
    assert await client.variant("/Dc/0/MaxChargeCurrent") == Variant("d", 100.0)
    assert await client.set("/BatteryOperationalLimits/MaxChargeVoltage", Variant("d", 55.2)) == 0
    assert await client.set("/BatteryOperationalLimits/BatteryLowVoltage", Variant("ai", [])) == 0
    assert await client.value("/BatteryOperationalLimits/BatteryLowVoltage") is None
    # bad types are refused with the "cannot be coerced" code
    assert await client.set("/Dc/0/MaxChargeCurrent", Variant("s", "lots")) == 1
    assert await client.set("/Mode", Variant("d", 3.5)) == 1
    assert await client.set("/CustomName", Variant("i", 5)) == 1
    assert await client.set("/CustomName", Variant("s", "x" * 129)) == 2  # a name, not storage
    # modes the SI cannot do are refused by us (code 2)
    assert await client.set("/Mode", Variant("i", 1)) == 2
    assert await client.set("/Mode", Variant("i", 9)) == 2
    assert await client.value("/Mode") == 3
    await publisher.stop()


async def test_the_gui_buttons_are_answered_and_unsupported_modes_logged(
    tmp_path: Path, gateway: GatewayPeer, client: Client
) -> None:
    publisher = await running(config(tmp_path, phases=3), client)
    cycle(gateway, 1, out_v=(230.0,))
    await eventually(lambda: client.value("/Ac/NumberOfPhases"), what="phases")
    assert await client.value("/Ac/NumberOfPhases") == 1  # the SI shows one line
    with capture_logs() as logs:
        # "Charger only" / "Inverter only": gui-v2 offers them, the SI has neither
        assert await client.set("/Mode", Variant("i", 2)) == 2
        # "Restart VE.Bus system" would drop the SI's loads: refused, logged
        assert await client.set("/SystemReset", Variant("i", 1)) == 2
        # "Redetect VE.Bus system": forget the lines; back to 0 when done
        assert await client.set("/RedetectSystem", Variant("i", 1)) == 0
        await eventually(
            lambda: any(c.get("/RedetectSystem", {}).get("Value") == Variant("i", 0)
                        for c in client.items_changed()),
            what="/RedetectSystem back to 0",
        )  # fmt: skip
    events = {entry["event"]: entry for entry in logs}
    assert events["mode_write_refused"]["mode"] == 2
    assert "load" in events["system_reset_refused"]["reason"]
    assert await client.value("/SystemReset") == 0
    assert await client.value("/Ac/NumberOfPhases") == 3  # the configured count until seen
    cycle(gateway, 2, out_v=(230.0,))
    await eventually(
        lambda: any(c.get("/Ac/NumberOfPhases", {}).get("Value") == Variant("i", 1)
                    for c in client.items_changed()),
        what="the lines learnt again",
    )  # fmt: skip
    await publisher.stop()


async def test_the_name_appears_only_after_the_paths_answer(
    tmp_path: Path, gateway: GatewayPeer, client: Client
) -> None:
    cycle(gateway, 1)
    seen: list[Any] = []

    async def scan_on_appearance() -> None:
        await eventually(lambda: client.owner_changes, timeout_s=30)
        seen.append(await client.items())  # what dbusmonitor does on NameOwnerChanged

    scanning = asyncio.create_task(scan_on_appearance())
    publisher = Publisher(config(tmp_path))
    await asyncio.wait_for(scanning, 30)
    (items,) = seen
    assert items["/DeviceInstance"]["Value"] == Variant("i", 276)
    # the gateway's latest snapshot was fetched before the name was taken
    assert items["/Connected"]["Value"] == Variant("i", 1)
    assert items["/Dc/0/Voltage"]["Value"] == Variant("d", 52.8)
    await publisher.stop()


async def test_stale_snapshot_makes_values_invalid_and_disconnects(
    tmp_path: Path, gateway: GatewayPeer, client: Client
) -> None:
    publisher = await running(config(tmp_path, snapshot_max_age_s=0.5), client)
    cycle(gateway, 1)
    await eventually(client.items_changed)
    await flushed(client)
    client.signals.clear()
    # The gateway says nothing more: the snapshot ages past 0.5 s on the publisher's clock.
    await eventually(lambda: _equals(client.value("/Connected"), 0), what="the stale snapshot")
    assert await client.value("/Dc/0/Voltage") is None
    assert await client.text("/Dc/0/Voltage") == "---"
    (changed,) = client.items_changed()  # the timer published the change by itself
    assert changed["/Connected"]["Value"] == Variant("i", 0)
    assert changed["/Ac/Out/L1/P"]["Value"] == Variant("ai", [])
    cycle(gateway, 2)  # the SI is back
    await eventually(lambda: client.value("/Connected"))
    await publisher.stop()


async def test_mode_on_off_is_sent_to_the_si_through_the_gateway(
    tmp_path: Path, gateway: GatewayPeer, client: Client
) -> None:
    publisher = await running(config(tmp_path), client)
    cycle(gateway, 1)
    assert await client.set("/Mode", Variant("i", 4)) == 0
    await eventually(lambda: gateway.on_off == [False])
    assert await client.value("/Mode") == 4
    assert await client.set("/Mode", Variant("d", 3.0)) == 0  # coerced to an integer
    await eventually(lambda: gateway.on_off == [False, True])
    assert await publisher.stop() == 0
    state = json.loads((tmp_path / "vebus-sma_can0.json").read_text())
    assert state["mode"] == 3


async def test_mode_write_is_taken_back_when_the_gateway_refuses(
    tmp_path: Path, dbus_daemon: PrivateDbusDaemon, client: Client
) -> None:
    refusing = await GatewayPeer(remote_on_off=False).start()  # its own config disables it
    publisher = await running(config(tmp_path), client)
    assert await client.set("/Mode", Variant("i", 4)) == 0
    await eventually(lambda: [c for c in client.items_changed() if "/Mode" in c])
    assert await client.value("/Mode") == 3
    await publisher.stop()
    await refusing.stop()


async def test_mode_is_read_only_without_mode_control(
    tmp_path: Path, gateway: GatewayPeer, client: Client
) -> None:
    cfg = parse_config({"paths": {"state_dir": str(tmp_path)}})
    publisher = await running(cfg, client)
    assert await client.set("/Mode", Variant("i", 4)) == 1
    assert await client.value("/ModeIsAdjustable") == 0
    assert gateway.on_off == []
    await publisher.stop()


async def test_device_instance_from_localsettings_and_reregistration_on_change(
    tmp_path: Path, gateway: GatewayPeer, settings: LocalSettingsStandIn, client: Client
) -> None:
    publisher = await running(config(tmp_path), client)
    assert await client.value("/DeviceInstance") == 276
    assert settings.value(INSTANCE_SETTING) == "vebus:276"
    first_owner = await client.owner()
    client.owner_changes.clear()
    settings.set_local(INSTANCE_SETTING, "vebus:280")  # the user changes it in the GUI
    await eventually(lambda: len(client.owner_changes) >= 2)
    # the name was dropped and taken again, so every consumer rescans the new instance
    assert client.owner_changes[:2] == [(first_owner, ""), ("", first_owner)]
    assert await client.value("/DeviceInstance") == 280
    await publisher.stop()


async def test_a_name_taken_during_reregistration_makes_the_publisher_exit(
    tmp_path: Path, gateway: GatewayPeer, settings: LocalSettingsStandIn, client: Client
) -> None:
    publisher = await running(config(tmp_path), client)
    queued = await connect_system_bus()
    reply = await queued.request_name(SERVICE, NameFlag(0))  # waits in the daemon's queue
    assert reply is RequestNameReply.IN_QUEUE
    settings.set_local(INSTANCE_SETTING, "vebus:281")  # release hands the name to the queue
    assert await asyncio.wait_for(publisher.task, 30) == 1  # off the bus: let it restart us
    queued.disconnect()


async def test_a_taken_instance_is_bumped_by_localsettings(
    tmp_path: Path, gateway: GatewayPeer, settings: LocalSettingsStandIn, client: Client
) -> None:
    other = await connect_system_bus()  # an idle mk2-dbus claimed 276 first
    await call(
        other,
        "com.victronenergy.settings",
        "/",
        "com.victronenergy.Settings",
        "AddSettings",
        signature="aa{sv}",
        body=[
            [
                {
                    "path": Variant("s", "/Settings/Devices/mk2_ttyS4/ClassAndVrmInstance"),
                    "default": Variant("s", "vebus:276"),
                }
            ]
        ],
    )
    publisher = await running(config(tmp_path), client)
    assert await client.value("/DeviceInstance") == 277
    await publisher.stop()
    other.disconnect()


async def test_custom_name_is_kept_in_localsettings(
    tmp_path: Path, gateway: GatewayPeer, settings: LocalSettingsStandIn, client: Client
) -> None:
    publisher = await running(config(tmp_path), client)
    assert await client.set("/CustomName", Variant("s", "Shed SI")) == 0
    await eventually(lambda: settings.value(NAME_SETTING) == "Shed SI")
    await publisher.stop()
    settings.set_local(NAME_SETTING, "Barn SI")  # changed while we were away
    publisher = await running(config(tmp_path), client)
    assert await client.value("/CustomName") == "Barn SI"
    settings.set_local(NAME_SETTING, "Cellar SI")  # changed in the GUI's settings
    await eventually(lambda: _equals(client.value("/CustomName"), "Cellar SI"))
    await publisher.stop()


async def _equals(value: Any, expected: Any) -> bool:
    return bool(await value == expected)


async def test_custom_name_survives_a_restart_without_localsettings(
    tmp_path: Path, gateway: GatewayPeer, client: Client
) -> None:
    publisher = await running(config(tmp_path), client)
    assert await client.set("/CustomName", Variant("s", "Shed SI")) == 0
    assert await publisher.stop() == 0
    publisher = await running(config(tmp_path), client)
    assert await client.value("/CustomName") == "Shed SI"
    await publisher.stop()


async def test_only_the_gateway_is_believed(
    tmp_path: Path, gateway: GatewayPeer, client: Client, dbus_daemon: PrivateDbusDaemon
) -> None:
    publisher = await running(config(tmp_path), client)
    cycle(gateway, 1, battery_v=52.8)
    await eventually(client.items_changed)
    impostor = await connect_system_bus()
    forged = snapshot(scene(battery_v=60.0), time.monotonic(), seq=99)
    impostor.send(
        new_signal(
            names.GATEWAY_PATH,
            names.GATEWAY_INTERFACE,
            names.SNAPSHOT_SIGNAL,
            "s",
            [forged.model_dump_json()],
        )
    )
    gateway.endpoint._emit(names.SNAPSHOT_SIGNAL, '{"seq": "not a snapshot"}')
    # Both were routed before the real gateway's next snapshot, so the publisher had them
    # first: once that one shows, the forgery and the garbage have had their chance.
    assert gateway.endpoint._bus is not None  # private, but the test is the gateway
    await routed(impostor)
    await routed(gateway.endpoint._bus)
    cycle(gateway, 2, battery_v=53.1)  # the real gateway is still heard
    await eventually(lambda: _equals(client.value("/Dc/0/Voltage"), 53.1))
    await flushed(client)
    shown = [c["/Dc/0/Voltage"]["Value"] for c in client.items_changed() if "/Dc/0/Voltage" in c]
    assert Variant("d", 60.0) not in shown  # the forged 60 V never reached the paths
    await publisher.stop()
    impostor.disconnect()


async def test_a_restarted_gateway_is_asked_for_its_latest_snapshot(
    tmp_path: Path, dbus_daemon: PrivateDbusDaemon, client: Client
) -> None:
    publisher = await running(config(tmp_path), client)
    assert await client.value("/Connected") == 0  # no gateway yet
    gateway = GatewayPeer()
    gateway.snapshot = snapshot(scene(battery_v=51.7), time.monotonic(), seq=1)
    await gateway.start()  # it publishes nothing: its GetSnapshot answers
    await eventually(lambda: _equals(client.value("/Dc/0/Voltage"), 51.7))
    await gateway.stop()
    await publisher.stop()


async def test_the_publisher_exits_non_zero_when_the_bus_goes(
    tmp_path: Path, dbus_daemon: PrivateDbusDaemon
) -> None:
    bus = await connect_system_bus()
    publisher = await running(config(tmp_path), Client(bus))
    dbus_daemon.stop()  # the supervisor must restart us: exit status 1
    assert await asyncio.wait_for(publisher.task, 30) == 1
    assert (tmp_path / "vebus-sma_can0.json").exists()  # the state was saved on the way out


async def test_a_second_publisher_for_the_same_si_refuses_to_start(
    tmp_path: Path, gateway: GatewayPeer, client: Client
) -> None:
    publisher = await running(config(tmp_path), client)
    second = Publisher(config(tmp_path / "other"))
    with pytest.raises(RuntimeError, match="already owned"):
        await asyncio.wait_for(second.task, 30)
    await publisher.stop()
