"""Fixtures of the kernel CAN tests (marked ``kernel_can``; see ``kernel_can.py``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from .kernel_can import Wire, exists, ip, is_up


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
