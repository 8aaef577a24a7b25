"""python-can's slcan interface against the simulated adapter on a pseudo-terminal."""

from __future__ import annotations

import asyncio
from pathlib import Path

import can
import pytest

from smavenus.io.sim.slcan_pty import SlcanPty
from smavenus.slcan.device import ChannelState, HostFrame
from smavenus.testing.waiting import eventually


async def open_host(path: str, adapter: SlcanPty | None = None) -> can.BusABC:
    """Open python-can's slcan bus; with ``adapter``, until the adapter has processed ``O``."""
    bus = await asyncio.to_thread(
        can.Bus, interface="slcan", channel=path, bitrate=500_000, sleep_after_open=0
    )
    if adapter is not None:
        await eventually(
            lambda: adapter.device.state is ChannelState.OPEN, 10.0, "the channel open"
        )
    return bus


async def test_frames_flow_both_ways(tmp_path: Path) -> None:
    from_host: list[HostFrame] = []
    adapter = SlcanPty(from_host.append, link_path=tmp_path / "ttyACM0")
    adapter.plug()
    host = await open_host(adapter.path, adapter)
    try:
        assert adapter.device.state is ChannelState.OPEN
        assert adapter.device.bitrate == 500_000
        received: list[can.Message] = []
        notifier = can.Notifier(host, [received.append], loop=asyncio.get_running_loop())
        assert adapter.send_frame(0x305, bytes.fromhex("10029CFFE600DE03"))
        host.send(can.Message(arbitration_id=0x351, data=bytes(8), is_extended_id=False))
        await eventually(lambda: received and from_host, 10.0, "a frame each way")
        notifier.stop()
        assert [(m.arbitration_id, bytes(m.data)) for m in received] == [
            (0x305, bytes.fromhex("10029CFFE600DE03"))
        ]
        assert from_host == [HostFrame(0x351, bytes(8))]
    finally:
        host.shutdown()
        adapter.unplug()


async def test_unplug_makes_host_reads_fail_and_replug_restores_the_path(tmp_path: Path) -> None:
    link = tmp_path / "ttyACM0"
    adapter = SlcanPty(lambda _frame: None, link_path=link)
    adapter.plug()
    host = await open_host(adapter.path)
    adapter.unplug()
    assert not link.exists()
    with pytest.raises(can.CanOperationError):
        host.recv(0.1)
    with pytest.raises(can.CanOperationError):
        host.shutdown()
    adapter.plug()
    assert link.is_symlink()
    host = await open_host(adapter.path, adapter)
    assert adapter.device.state is ChannelState.OPEN
    host.shutdown()
    adapter.unplug()


async def test_frames_are_not_sent_before_the_host_opens_the_channel(tmp_path: Path) -> None:
    adapter = SlcanPty(lambda _frame: None, link_path=tmp_path / "ttyACM0")
    adapter.plug()
    assert not adapter.send_frame(0x305, bytes(8))
    assert adapter.frames_to_host == 0
    adapter.unplug()
