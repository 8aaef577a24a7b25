"""Our localsettings client against the localsettings stand-in, over a private dbus-daemon."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dbus_fast import Variant
from dbus_fast.aio import MessageBus

from smavenus.io.dbus import call, connect_system_bus
from smavenus.io.dbus.localsettings import LocalSettings, SettingSpec
from smavenus.testing.localsettings import LocalSettingsStandIn
from smavenus.testing.waiting import eventually

ABSORPTION = SettingSpec("/Settings/SmaVenus/Controller/AbsorptionVoltage", 56.0, 41.0, 63.0)
INSTANCE = SettingSpec("/Settings/Devices/smavenus_can0/ClassAndVrmInstance", "vebus:276")


async def standin(state: Path | None = None) -> tuple[MessageBus, LocalSettingsStandIn]:
    bus = await connect_system_bus()
    service = LocalSettingsStandIn(bus, state)
    await service.start()
    return bus, service


async def test_settings_are_created_with_defaults_and_followed(system_bus: MessageBus) -> None:
    settings_bus, service = await standin()
    changes: list[tuple[str, Any]] = []
    client = LocalSettings(system_bus, [ABSORPTION], on_change=lambda p, v: changes.append((p, v)))
    await client.start()
    assert client.available
    assert client.values[ABSORPTION.path] == 56.0
    service.set_local(ABSORPTION.path, 55.5)  # the user changes it in the GUI
    await eventually(lambda: client.values[ABSORPTION.path] == 55.5, 30.0)
    assert changes == [(ABSORPTION.path, 56.0), (ABSORPTION.path, 55.5)]
    settings_bus.disconnect()


async def test_existing_values_are_kept_and_out_of_range_writes_refused(
    system_bus: MessageBus,
) -> None:
    settings_bus, _service = await standin()
    first = LocalSettings(system_bus, [ABSORPTION])
    await first.start()
    assert await first.set(ABSORPTION.path, 57.0)
    assert not await first.set(ABSORPTION.path, 70.0)  # above the max: localsettings says -1
    second = LocalSettings(system_bus, [ABSORPTION])
    await second.start()
    assert second.values[ABSORPTION.path] == 57.0  # AddSettings never overwrites
    (minimum,) = await call(
        system_bus,
        "com.victronenergy.settings",
        ABSORPTION.path,
        "com.victronenergy.BusItem",
        "GetMin",
    )
    assert minimum == Variant("d", 41.0)
    settings_bus.disconnect()


async def test_taken_device_instance_is_bumped(system_bus: MessageBus) -> None:
    settings_bus, _service = await standin()
    other = SettingSpec("/Settings/Devices/other_sma/ClassAndVrmInstance", "vebus:276")
    one = LocalSettings(system_bus, [INSTANCE])
    two = LocalSettings(system_bus, [other])
    await one.start()
    await two.start()
    assert one.values[INSTANCE.path] == "vebus:276"
    assert two.values[other.path] == "vebus:277"
    settings_bus.disconnect()


async def test_client_recreates_settings_when_localsettings_restarts(
    system_bus: MessageBus, tmp_path: Path
) -> None:
    state = tmp_path / "settings.json"
    settings_bus, _ = await standin(state)
    available: list[bool] = []
    client = LocalSettings(system_bus, [ABSORPTION], on_available=available.append)
    await client.start()
    await client.set(ABSORPTION.path, 55.0)
    settings_bus.disconnect()
    await eventually(lambda: not client.available, 30.0)
    settings_bus, _ = await standin(state)  # comes back with its persisted values
    await eventually(lambda: client.available, 30.0)
    assert client.values[ABSORPTION.path] == 55.0
    assert available == [True, False, True]
    settings_bus.disconnect()


async def test_without_localsettings_the_client_is_simply_unavailable(
    system_bus: MessageBus,
) -> None:
    client = LocalSettings(system_bus, [ABSORPTION])
    await client.start()
    assert not client.available and client.values == {}
