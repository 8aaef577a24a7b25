"""The gateway in-process on python-can's virtual bus, with a private dbus-daemon.

The virtual bus has no file descriptor, so this exercises the Notifier's thread path (the
pty tests exercise ``add_reader``), and it lets a test stall the very loop the gateway runs
on, to prove the watchdog acts without it.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import can
import pytest
from dbus_fast.aio import MessageBus

from smavenus.apps.can_gateway import run_gateway
from smavenus.config import AppConfig, parse_config
from smavenus.io.gateway.runtime import GatewayRuntime
from smavenus.protocol import BatteryStatus, ChargeLimits, decode
from smavenus.testing.waiting import eventually

from .gateway_harness import Controller, GatewayListener, si_cycle, wait_for_gateway

_channels = itertools.count()


@dataclass
class VirtualSi:
    """The SI on a virtual bus: sends status frames, collects what the gateway sends."""

    bus: can.BusABC
    received: list[tuple[float, can.Message]] = field(default_factory=list)

    def drain(self) -> None:
        while (msg := self.bus.recv(0)) is not None:
            self.received.append((time.monotonic(), msg))

    def limits(self, since: float = 0.0) -> list[ChargeLimits]:
        self.drain()
        return [
            decode(0x351, bytes(m.data))
            for t, m in self.received
            if m.arbitration_id == 0x351 and t >= since
        ]

    def send(self, can_id: int, data: bytes, **flags: Any) -> None:
        self.bus.send(can.Message(arbitration_id=can_id, data=data, is_extended_id=False, **flags))


@dataclass
class RunningGateway:
    task: asyncio.Task[int]
    stop: asyncio.Event
    stalls: list[float]
    stalled: threading.Event  #: set by the watchdog thread once it has acted


def virtual_config(tmp_path: Path, channel: str, **sections: dict[str, Any]) -> AppConfig:
    config: dict[str, dict[str, Any]] = {
        "can": {"interface": "virtual", "channel": channel, "bms_period_s": 0.2},
        "paths": {"state_dir": str(tmp_path / "state")},
    }
    for name, values in sections.items():
        config.setdefault(name, {}).update(values)
    return parse_config(config)


@pytest.fixture
def channel() -> str:
    return f"gateway-test-{next(_channels)}"


@pytest.fixture
async def si(channel: str) -> AsyncIterator[VirtualSi]:
    bus = can.Bus(interface="virtual", channel=channel)
    yield VirtualSi(bus)
    bus.shutdown()


async def start(
    cfg: AppConfig, on_stall: Callable[[GatewayRuntime, float], None] | None = None
) -> RunningGateway:
    stop = asyncio.Event()
    stalls: list[float] = []
    stalled = threading.Event()

    def record_stall(runtime: GatewayRuntime, stalled_for: float) -> None:
        # The real action minus the process exit: safe frames out from the watchdog thread.
        stalls.append(stalled_for)
        runtime.force_safe_frames()
        stalled.set()

    task = asyncio.create_task(run_gateway(cfg, stop, on_stall=on_stall or record_stall))
    return RunningGateway(task, stop, stalls, stalled)


async def finish(gateway: RunningGateway) -> int:
    gateway.stop.set()
    return await asyncio.wait_for(gateway.task, 30.0)


async def test_si_frames_on_the_virtual_bus_become_snapshot_signals(
    tmp_path: Path, channel: str, si: VirtualSi, system_bus: MessageBus
) -> None:
    listener = await GatewayListener(system_bus).start()
    gateway = await start(virtual_config(tmp_path, channel))
    try:
        await wait_for_gateway(listener, 30.0)
        for soc in (50.0, 51.0, 52.0):
            for can_id, data in si_cycle(soc_pct=soc):
                si.send(can_id, data)
                si.send(0x123, bytes(8))  # foreign traffic in between, as on a cluster bus
            await asyncio.sleep(0.1)  # the SI's cadence, sped up: the scenario, not a wait
        await eventually(lambda: len(listener.snapshots) == 3, 30.0, "three snapshots")
        _, latest = listener.snapshots[-1]
        assert latest.battery_status is not None
        assert latest.battery_status.value == BatteryStatus(52.8, -10.0, 23.0, 52.0)
        health = await listener.get_health()
        assert health.frames_received == 33  # the third snapshot closed on the last frame
        assert health.frames_foreign == 33  # filtered in the receive thread, and counted
    finally:
        assert await finish(gateway) == 0


async def test_commands_reach_the_virtual_bus_clamped(
    tmp_path: Path, channel: str, si: VirtualSi, system_bus: MessageBus
) -> None:
    listener = await GatewayListener(system_bus).start()
    gateway = await start(virtual_config(tmp_path, channel))
    controller = await Controller.connect()
    try:
        await wait_for_gateway(listener, 30.0)
        await controller.emit(controller.command(charge_current_a=1000.0, discharge_current_a=-5))
        await eventually(
            lambda: any(lim.charge_current_a == 140.0 for lim in si.limits()), 30.0, "the command"
        )
        assert si.limits()[-1].discharge_current_a == 0.0
    finally:
        await controller.close()
        assert await finish(gateway) == 0


async def test_a_stalled_loop_is_noticed_by_the_watchdog_which_sends_safe_frames(
    tmp_path: Path, channel: str, si: VirtualSi, system_bus: MessageBus
) -> None:
    listener = await GatewayListener(system_bus).start()
    gateway = await start(virtual_config(tmp_path, channel, gateway={"watchdog_stall_s": 0.5}))
    controller = await Controller.connect()
    try:
        await wait_for_gateway(listener, 30.0)
        await controller.emit(controller.command(charge_current_a=100.0))
        await eventually(
            lambda: any(lim.charge_current_a == 100.0 for lim in si.limits()), 30.0, "the command"
        )
        stalled_at = time.monotonic()
        # The loop the gateway runs on is stuck (no timers, no I/O) until the watchdog has
        # acted: it fires once the next frame set is watchdog_stall_s overdue.
        assert gateway.stalled.wait(60.0), "the watchdog never acted"
        assert gateway.stalls and gateway.stalls[0] > 0
        during = si.limits(stalled_at)
        # Only the watchdog thread could send during the stall: the safe set, CCL 0 A.
        assert [lim.charge_current_a for lim in during] == [0.0]
        assert during[0].discharge_current_a == 50.0  # min(commanded, safe_discharge)
        assert len(gateway.stalls) == 1
    finally:
        await controller.close()
        assert await finish(gateway) == 0
