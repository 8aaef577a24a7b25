"""Fixtures shared by the integration tests: the controller's whole chain, and the kernel CAN
tests' interfaces (marked ``kernel_can``; see ``kernel_can.py``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from dbus_fast.aio import MessageBus

from smavenus.io.dbus import connect_system_bus
from smavenus.testing.dbus_daemon import PrivateDbusDaemon
from smavenus.testing.localsettings import LocalSettingsStandIn
from tests.integration.controller_harness import Chain, Processes

from .kernel_can import Wire, exists, ip, is_up


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


@pytest.fixture
async def vcan0_restored() -> AsyncIterator[None]:
    """Whatever the test does to vcan0, it exists and is up again for the next test."""
    yield
    if not exists("vcan0"):
        await ip("link", "add", "dev", "vcan0", "type", "vcan")
    if not is_up("vcan0"):
        await ip("link", "set", "vcan0", "up")


@pytest.fixture
def wire() -> Iterator[Wire]:
    """The SI's side of vcan0."""
    w = Wire("vcan0")
    yield w
    w.close()
