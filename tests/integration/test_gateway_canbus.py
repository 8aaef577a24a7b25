"""The gateway's slcan bus on a simulated CANable: chunked reads, early filtering, no blocking."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

import can
import pytest

from smavenus.io.can.errors import BusDeadError, is_fatal
from smavenus.io.can.notifier import DrainingNotifier
from smavenus.io.can.slcan import ChunkedSlcanBus
from smavenus.io.sim.slcan_pty import SlcanPty
from smavenus.slcan.device import HostFrame
from smavenus.testing.waiting import eventually

SI_IDS = frozenset(range(0x300, 0x30B))


@pytest.fixture
def from_host() -> list[HostFrame]:
    return []


@pytest.fixture
async def adapter(tmp_path: Path, from_host: list[HostFrame]) -> AsyncIterator[SlcanPty]:
    pty = SlcanPty(from_host.append, link_path=tmp_path / "ttyACM0")
    pty.plug()
    yield pty
    pty.unplug()


async def open_bus(adapter: SlcanPty) -> ChunkedSlcanBus:
    bus = await asyncio.to_thread(ChunkedSlcanBus, adapter.path, accept_ids=SI_IDS)
    await eventually(lambda: adapter.device.is_open, 10.0, "the channel open")
    return bus


def write(adapter: SlcanPty, payload: bytes) -> None:
    assert adapter._master is not None  # private, but the test is the adapter
    os.write(adapter._master, payload)


async def test_lines_split_across_reads_are_reassembled_and_foreign_ids_skipped(
    adapter: SlcanPty,
) -> None:
    bus = await open_bus(adapter)
    received: list[can.Message] = []
    failures: list[Exception] = []
    notifier = DrainingNotifier(bus, asyncio.get_running_loop(), received.extend, failures.append)
    try:
        write(adapter, b"t4008" + b"00" * 8 + b"\rt30580011")  # a foreign frame, half an SI one
        # The bus has read the first piece (its half line is kept) before the rest is written.
        await eventually(lambda: bus._partial == b"t30580011", 10.0, "the first piece read")
        write(adapter, b"22334455" + b"6677\rT123456780\rt3060\r")
        await eventually(lambda: len(received) == 2, 10.0, "two SI frames")
        assert [(m.arbitration_id, bytes(m.data)) for m in received] == [
            (0x305, bytes.fromhex("0011223344556677")),
            (0x306, b""),
        ]
        assert bus.foreign == 2  # 0x400 and the extended frame, never turned into messages
        assert failures == []
    finally:
        notifier.close()
        bus.shutdown()


async def test_data_arriving_is_never_mistaken_for_a_vanished_adapter(adapter: SlcanPty) -> None:
    bus = await open_bus(adapter)
    try:
        assert bus.recv(0) is None  # nothing there: an empty read, not a dead device
        write(adapter, b"t30580011223344556677\r")
        # The state right after an empty read when a frame lands: readable, not hung up.
        assert not bus._hung_up()
        # The pty hands the bytes over a moment later: every empty read meanwhile is just
        # that, never a dead device (recv(0) would raise BusDeadError).
        msg = await eventually(lambda: bus.recv(0), 10.0, "the frame through the pty")
        assert msg.arbitration_id == 0x305
        adapter.unplug()
        with pytest.raises(BusDeadError) as dead:
            bus.recv(0)
        assert is_fatal(dead.value)
    finally:
        bus.shutdown()


async def test_sending_never_blocks_on_an_adapter_that_stopped_reading(
    adapter: SlcanPty, from_host: list[HostFrame]
) -> None:
    bus = await open_bus(adapter)
    try:
        msg = can.Message(arbitration_id=0x351, data=bytes(8), is_extended_id=False)
        # Never blocking is the descriptor's own mode; were it blocking, the loop below would
        # hang in write() on the full pty rather than come back with "buffer full".
        assert bus._fd is not None and not os.get_blocking(bus._fd)
        refused = None
        # The adapter reads on this loop, which this loop of sends never yields to: the pty
        # fills, then the gateway's own 4 KB queue, then sends are refused, at once.
        for _ in range(10_000):
            try:
                bus.send(msg, timeout=None)
            except can.CanOperationError as exc:
                refused = exc
                break
        assert refused is not None and "Transmit buffer full" in str(refused)
        assert not is_fatal(refused)  # a dropped frame, not a dead bus
        # Once the adapter reads again, what was queued reaches it whole.
        await eventually(lambda: len(from_host) > 100, 10.0, "the queued frames")
        bus.send(msg)
        assert all(f == HostFrame(0x351, bytes(8)) for f in from_host)
    finally:
        bus.shutdown()
