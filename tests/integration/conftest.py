"""Fixtures shared by the integration tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from dbus_fast.aio import MessageBus

from smavenus.io.dbus import connect_system_bus
from smavenus.testing.dbus_daemon import PrivateDbusDaemon
from smavenus.testing.localsettings import LocalSettingsStandIn
from tests.integration.controller_harness import Chain, Processes


@pytest.fixture
async def chain(
    tmp_path: Path, dbus_daemon: PrivateDbusDaemon, system_bus: MessageBus
) -> AsyncIterator[Chain]:
    processes = Processes(tmp_path)
    settings_bus = await connect_system_bus()
    standin = LocalSettingsStandIn(settings_bus)
    await standin.start()
    chain = Chain(tmp_path, processes, system_bus)
    chain.localsettings = standin
    yield chain
    processes.stop_all()
    settings_bus.disconnect()
    await settings_bus.wait_for_disconnect()  # type: ignore[no-untyped-call]
