"""One can-gateway per CAN channel: a second one exits 1 with a line naming the first's pid.

The first gateway runs in this process (its pid is ours), the second as the installed console
script. On slcan the tty itself is locked as well, so a gateway with another state directory
(hence another lock file) still cannot share the adapter.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import can
import pytest

from smavenus.apps.can_gateway import run_gateway
from smavenus.config import parse_config
from smavenus.testing.waiting import eventually

from .gateway_harness import FakeSi, GatewayProcess, slcan_config, write_config
from .kernel_can import GUEST_SLOW_S, Wire


async def assert_refused_naming(config: Path, holder_pid: int) -> None:
    second = await GatewayProcess(config).start()
    assert await second.wait(GUEST_SLOW_S) == 1, second.log_text()
    (line,) = second.events("can_channel_in_use")
    assert f"holder_pid={holder_pid}" in line, second.log_text()
    errors = [line for line in second.lines if line.startswith("level=error")]
    assert errors == [line], second.log_text()  # the one line saying why
    assert second.events("can_bus_opened") == []


async def first_in_process_then_second(
    tmp_path: Path, can: dict[str, Any], first_running: Any
) -> None:
    sections: dict[str, dict[str, Any]] = {
        "can": {**can, "bms_period_s": 0.2},
        "paths": {"state_dir": str(tmp_path / "state")},
        "logging": {"format": "plain"},
    }
    stop = asyncio.Event()
    first = asyncio.create_task(run_gateway(parse_config(sections), stop))
    try:
        await eventually(first_running, GUEST_SLOW_S, "the first gateway sending")
        await assert_refused_naming(write_config(tmp_path, sections), os.getpid())
        assert not first.done()
        still = time.time()
        await eventually(lambda: first_running(still), GUEST_SLOW_S, "the first still sending")
    finally:
        stop.set()
        assert await asyncio.wait_for(first, 30.0) == 0


@pytest.mark.kernel_can
@pytest.mark.usefixtures("dbus_daemon")
async def test_a_second_gateway_on_vcan0_exits_1_naming_the_first(
    tmp_path: Path, wire: Wire
) -> None:
    await first_in_process_then_second(
        tmp_path,
        {"interface": "socketcan", "channel": "vcan0"},
        lambda since=0.0: wire.of(0x351, since),
    )


@pytest.mark.usefixtures("dbus_daemon")
async def test_a_second_gateway_on_a_virtual_channel_exits_1_naming_the_first(
    tmp_path: Path,
) -> None:
    # python-can's virtual bus lives in one process, so the second gateway could not even
    # reach the first one's bus: the lock file is all that refuses it.
    wire = can.Bus(interface="virtual", channel="lock-test")
    sent: list[float] = []

    def first_running(since: float = 0.0) -> list[float]:
        while (msg := wire.recv(0)) is not None:
            if msg.arbitration_id == 0x351:
                sent.append(msg.timestamp)
        return [t for t in sent if t >= since]

    try:
        await first_in_process_then_second(
            tmp_path, {"interface": "virtual", "channel": "lock-test"}, first_running
        )
    finally:
        wire.shutdown()


@pytest.fixture
async def si(tmp_path: Path) -> AsyncIterator[FakeSi]:
    fake = FakeSi(tmp_path / "ttyACM0")
    fake.plug()
    yield fake
    fake.unplug()


@pytest.mark.usefixtures("dbus_daemon")
async def test_an_slcan_adapter_is_locked_by_its_device_and_by_its_tty(
    tmp_path: Path, si: FakeSi
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    first = await GatewayProcess(write_config(shared, slcan_config(shared, si.path))).start()
    other = tmp_path / "other"
    other.mkdir()
    third: GatewayProcess | None = None
    try:
        await eventually(si.limits, GUEST_SLOW_S, "BMS frames", first.log_text)
        # The same adapter by its pty's own name rather than the link: the same lock file.
        assert si.adapter.slave_name is not None
        by_tty = shared / "by-tty"
        by_tty.mkdir()
        config = write_config(by_tty, slcan_config(shared, si.adapter.slave_name))
        await assert_refused_naming(config, first.pid)
        # Another state directory, so another lock file: the tty's own lock refuses it.
        third = await GatewayProcess(write_config(other, slcan_config(other, si.path))).start()
        (line,) = await eventually(
            lambda: third.events("can_bus_open_failed") if third else [], GUEST_SLOW_S, "refused"
        )
        assert "is locked by another process" in line, third.log_text()
        first_limits = len(si.limits())
        await eventually(lambda: len(si.limits()) > first_limits, GUEST_SLOW_S, "still fed")
        # The first one gone, the tty is free: the third takes over at its next re-open.
        assert await first.stop() == 0
        await eventually(
            lambda: third.events("can_bus_opened") if third else [], GUEST_SLOW_S, "taken over"
        )
    finally:
        await first.stop()
        if third is not None:
            assert await third.stop() == 0
    first.assert_clean_log()
