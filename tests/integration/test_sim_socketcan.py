"""The simulated SI on a kernel CAN interface (the docker-compose bench's vcan0).

Marked ``kernel_can``: where the kernel has no CAN, ``scripts/test`` runs it in a qemu guest.
The same runner is tested over slcan and python-can's virtual bus elsewhere.
"""

from __future__ import annotations

import can
import pytest

from smavenus.io.sim import PythonCanLink, SimRunner
from smavenus.protocol.specs import SI_STATUS_IDS
from smavenus.sim import Simulation, parse_scenario
from smavenus.testing.waiting import eventually
from tests.unit.sim.support import bms_set

pytestmark = pytest.mark.kernel_can


async def test_status_frames_and_bms_frames_on_vcan0() -> None:
    sim = Simulation(parse_scenario({"si": {"noise": 0}}), seed=1)
    async with SimRunner(sim, PythonCanLink("socketcan", "vcan0"), speed=10.0) as runner:
        host = can.Bus(interface="socketcan", channel="vcan0")
        try:
            for can_id, data in bms_set(soc=57.3):
                host.send(can.Message(arbitration_id=can_id, data=data, is_extended_id=False))
            await eventually(lambda: sim.frames_received == 7, 10.0, "the BMS set at the SI")
            # Checked now: at speed 10 the SI times the BMS out (F952) six seconds later and
            # then forgets the SoC it was sent.
            assert sim.si.soc_in_use_pct == 57.3
            await runner.wait_until(3)
            seen: set[int] = set()

            def every_status_id() -> bool:
                # The SI never falls silent (its status cycle repeats every simulated second),
                # so read until each ID has come rather than until a pause.
                while (msg := host.recv(0)) is not None:
                    seen.add(msg.arbitration_id)
                return set(SI_STATUS_IDS) <= seen

            await eventually(every_status_id, 30.0, "every SI status ID on vcan0")
        finally:
            host.shutdown()
