"""The simulated SI on a kernel CAN interface (the docker-compose bench's vcan0).

Skipped where the kernel has no CAN support (this machine): the same runner is tested over
slcan and python-can's virtual bus elsewhere.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import can
import pytest

from smavenus.io.sim import PythonCanLink, SimRunner
from smavenus.protocol.specs import SI_STATUS_IDS
from smavenus.sim import Simulation, parse_scenario
from tests.unit.sim.support import bms_set

pytestmark = pytest.mark.skipif(
    not Path("/sys/class/net/vcan0").exists(), reason="no vcan0 (the kernel has no CAN support)"
)


async def test_status_frames_and_bms_frames_on_vcan0() -> None:
    sim = Simulation(parse_scenario({"si": {"noise": 0}}), seed=1)
    async with SimRunner(sim, PythonCanLink("socketcan", "vcan0"), speed=10.0) as runner:
        host = can.Bus(interface="socketcan", channel="vcan0")
        try:
            for can_id, data in bms_set(soc=57.3):
                host.send(can.Message(arbitration_id=can_id, data=data, is_extended_id=False))
            await runner.wait_until(3)
            seen = set()
            while (msg := await asyncio.to_thread(host.recv, 0.5)) is not None:
                seen.add(msg.arbitration_id)
            assert set(SI_STATUS_IDS) <= seen
            assert sim.frames_received == 7
            assert sim.si.soc_in_use_pct == 57.3
        finally:
            host.shutdown()
