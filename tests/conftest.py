"""Shared fixtures: real components in miniature (a private dbus-daemon), never mocks."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from dbus_fast.aio import MessageBus

from smavenus.io.dbus import connect_system_bus
from smavenus.testing.dbus_daemon import PrivateDbusDaemon


@pytest.fixture
def dbus_daemon(monkeypatch: pytest.MonkeyPatch) -> Iterator[PrivateDbusDaemon]:
    """A private system bus for this test; ``DBUS_SYSTEM_BUS_ADDRESS`` points at it."""
    with PrivateDbusDaemon() as daemon:
        monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", daemon.address)
        yield daemon


@pytest.fixture
async def system_bus(dbus_daemon: PrivateDbusDaemon) -> AsyncIterator[MessageBus]:
    """A client connection to the private system bus (as a Venus consumer would be)."""
    bus = await connect_system_bus()
    yield bus
    bus.disconnect()
    await bus.wait_for_disconnect()
