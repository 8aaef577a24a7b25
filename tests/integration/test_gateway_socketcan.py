"""The gateway on a real SocketCAN interface: kernel filters and the broadcast manager.

Runs only where ``vcan0`` exists (``ip link add dev vcan0 type vcan && ip link set up
vcan0``); the development machine's kernel has no CAN support, so here it is skipped.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from pathlib import Path

import can
import pytest
from dbus_fast.aio import MessageBus

from smavenus.apps.can_gateway import run_gateway
from smavenus.config import parse_config
from smavenus.protocol import ChargeLimits, decode
from smavenus.testing.waiting import eventually

from .gateway_harness import Controller, GatewayListener, si_cycle, wait_for_gateway

pytestmark = pytest.mark.skipif(
    not Path("/sys/class/net/vcan0").exists(), reason="needs a vcan0 interface (Linux vcan)"
)


async def test_socketcan_filters_in_the_kernel_and_sends_with_the_bcm(
    tmp_path: Path, system_bus: MessageBus
) -> None:
    si = can.Bus(interface="socketcan", channel="vcan0")
    received: list[tuple[float, can.Message]] = []

    def drain() -> None:
        while (msg := si.recv(0)) is not None:
            received.append((time.monotonic(), msg))

    def limits(since: float = 0.0) -> list[ChargeLimits]:
        drain()
        return [
            decode(0x351, bytes(m.data))
            for t, m in received
            if m.arbitration_id == 0x351 and t >= since
        ]

    cfg = parse_config(
        {
            "can": {"interface": "socketcan", "channel": "vcan0", "bms_period_s": 0.2},
            "paths": {"state_dir": str(tmp_path / "state")},
        }
    )
    stop = asyncio.Event()
    task = asyncio.create_task(run_gateway(cfg, stop))
    listener = await GatewayListener(system_bus).start()
    controller = await Controller.connect()
    try:
        await eventually(lambda: len(limits()) >= 5, 5.0, "five BCM periods")
        times = [t for t, m in received if m.arbitration_id == 0x351]
        assert all(0.1 < b - a < 0.3 for a, b in itertools.pairwise(times))  # kernel timing
        await wait_for_gateway(listener)
        for _ in range(2):
            for can_id, data in si_cycle():
                si.send(can.Message(arbitration_id=can_id, data=data, is_extended_id=False))
                si.send(can.Message(arbitration_id=0x123, data=bytes(8), is_extended_id=False))
            await asyncio.sleep(0.1)
        await eventually(lambda: listener.snapshots, 5.0, "a snapshot")
        health = await listener.get_health()
        assert health.frames_received == 22
        assert health.frames_foreign == 0  # the kernel dropped them before Python
        since = time.monotonic()
        await controller.emit(controller.command(charge_current_a=60.0))
        await eventually(
            lambda: any(lim.charge_current_a == 60.0 for lim in limits(since)), 5.0, "modify_data"
        )
    finally:
        await controller.close()
        stop.set()
        assert await asyncio.wait_for(task, 10.0) == 0
        si.shutdown()
