"""The simulated Sunny Island through python-can's slcan interface on its pseudo-terminal.

The test process is the host (the gateway's side): it opens the adapter exactly as it would a
CANable, sends BMS frames and reads the SI's status frames. Simulated time runs faster than
real time; the BMS stand-in paces itself on simulated time.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import can
import pytest
import serial

from smavenus.io.sim import SimRunner, SlcanLink
from smavenus.protocol import (
    AlarmCondition,
    FunctionBits1,
    OnOffCommand,
    OperatingState,
    QuickStop,
    RemoteOnOff,
    decode,
    encode,
)
from smavenus.protocol.specs import SI_STATUS_IDS
from smavenus.sim import EventKind, Simulation, parse_scenario
from smavenus.slcan.device import ChannelState
from smavenus.testing.waiting import eventually
from tests.unit.sim.support import bms_set

ON_GRID = {"grid": {"request": "always", "valid_time_s": 0}, "si": {"noise": 0}}


@dataclass
class Bench:
    runner: SimRunner
    host: can.BusABC
    received: list[can.Message] = field(default_factory=list)

    @property
    def sim(self) -> Simulation:
        return self.runner.sim

    def send(self, can_id: int, data: bytes) -> None:
        self.host.send(can.Message(arbitration_id=can_id, data=data, is_extended_id=False))

    async def bms(self, until_s: float, period_s: float = 1.0, **values: Any) -> None:
        """The gateway's frame set every ``period_s`` of simulated time, until ``until_s``."""
        t = self.sim.now_s
        while t < until_s:
            await self.runner.wait_until(t)
            for can_id, data in bms_set(**values):
                self.send(can_id, data)
            t += period_s
        await self.runner.wait_until(until_s)

    def decoded(self, can_id: int) -> list[Any]:
        return [
            decode(m.arbitration_id, bytes(m.data))
            for m in self.received
            if m.arbitration_id == can_id
        ]

    async def settle(self) -> None:
        """Wait until the frames the simulator has put on the pty so far reached the host."""
        delivered = self.runner.frames_delivered
        await eventually(
            lambda: len(self.received) >= delivered, 30, f"{delivered} frames at the host"
        )


async def channel_opened(pty: Any) -> None:
    await eventually(lambda: pty.device.is_open, 30, "the host to open the channel")


async def open_host(path: str, **kwargs: Any) -> can.BusABC:
    return await asyncio.to_thread(
        can.Bus, interface="slcan", channel=path, bitrate=500_000, sleep_after_open=0, **kwargs
    )


@asynccontextmanager
async def bench(
    tmp_path: Path, scenario: dict[str, Any] | None = None, *, speed: float = 20.0, seed: int = 1
) -> AsyncIterator[Bench]:
    sim = Simulation(parse_scenario(scenario or {}), seed=seed)
    runner = SimRunner(sim, SlcanLink(tmp_path / "ttyACM-sim"), speed=speed, start_on_open=True)
    await runner.start()
    host = await open_host(str(tmp_path / "ttyACM-sim"))
    state = Bench(runner, host)
    notifier = can.Notifier(host, [state.received.append], loop=asyncio.get_running_loop())
    try:
        yield state
    finally:
        notifier.stop()
        host.shutdown()
        await runner.stop()


async def test_answers_the_open_sequence_and_queries_like_a_canable(tmp_path: Path) -> None:
    link = SlcanLink(tmp_path / "ttyACM-sim")
    runner = SimRunner(Simulation(parse_scenario({})), link, speed=10.0, start_on_open=True)
    await runner.start()
    assert not runner.clock.running  # waits for the host
    host = await open_host(link.path)  # C, S6, O
    try:
        assert link.pty is not None
        await asyncio.wait_for(runner.clock_started.wait(), 30)  # started by the host's "O"
        assert (link.pty.device.state, link.pty.device.bitrate) == (ChannelState.OPEN, 500_000)
        assert await asyncio.to_thread(host.get_version, 2.0) == (10, 13)
        assert await asyncio.to_thread(host.get_serial_number, 2.0) == "SV01"
    finally:
        host.shutdown()
    with serial.Serial(link.path, timeout=1) as raw:  # a command the adapter does not know
        raw.write(b"X\r")
        reply = await asyncio.to_thread(raw.read_until, b"\a", 4)
        assert reply in (b"\a", b"\r\a")  # (the OK to the host's closing "C" may come first)
    await runner.stop()


async def test_a_host_at_the_wrong_bitrate_hears_nothing(tmp_path: Path) -> None:
    link = SlcanLink(tmp_path / "ttyACM-sim")
    async with SimRunner(Simulation(parse_scenario({})), link, speed=20.0) as runner:
        host = await asyncio.to_thread(
            can.Bus, interface="slcan", channel=link.path, bitrate=250_000, sleep_after_open=0
        )
        try:
            assert link.pty is not None
            pty = link.pty
            await channel_opened(pty)
            undelivered = runner.frames_undelivered
            # Three seconds of status cycles after the host opened the channel at its bitrate:
            # the simulator had frames to send and put none of them on the line.
            await runner.wait_until(runner.sim.now_s + 3)
            assert runner.frames_undelivered >= undelivered + 11
            assert runner.frames_delivered == 0
            assert await asyncio.to_thread(host.recv, 0) is None
        finally:
            host.shutdown()


async def test_status_frames_carry_the_configured_values_at_si_resolution(tmp_path: Path) -> None:
    scenario = {"grid": {"present": False}, "loads": {"power_w": [1234]}, "si": {"noise": 0}}
    async with bench(tmp_path, scenario) as b:
        await b.bms(until_s=8, soc=57.3, cvl=55.5)
        await b.settle()
        ids = [m.arbitration_id for m in b.received]
        assert ids[: len(SI_STATUS_IDS)] == list(SI_STATUS_IDS)  # a whole cycle, in order
        assert all(len(m.data) == 8 and not m.is_extended_id for m in b.received)
        assert b.decoded(0x301)[-1].l1_w == 1200  # 1234 W at 100 W resolution
        assert b.decoded(0x308)[-1].total_load_w == 1200
        output = b.decoded(0x304)[-1]
        assert output.frequency_hz == 50.0
        assert output.l1_v == round(output.l1_v, 1)
        assert b.decoded(0x305)[-1].soc_pct == 57.3  # the SoC echo, 0.1 %
        assert b.decoded(0x306)[-1].charge_voltage_setpoint_v == 55.5
        assert b.decoded(0x309)[-1].l1_v == 0.0  # nothing on AC2
        assert b.decoded(0x307)[-1].functions1 == FunctionBits1.RUN


async def test_applies_ccl(tmp_path: Path) -> None:
    async with bench(tmp_path, ON_GRID) as b:
        await b.bms(until_s=20, ccl=30.0)
        await b.settle()
        currents = [f.current_a for f in b.decoded(0x305)]
        assert currents[-1] == pytest.approx(-30.0, abs=0.15)  # charging: negative on the SI
        assert min(currents) >= -30.1  # never above CCL
        seen = len(b.received)
        await b.bms(until_s=45, ccl=12.0)
        await b.settle()
        after = [decode(m.arbitration_id, bytes(m.data)) for m in b.received[seen:]]
        currents = [f.current_a for f in after if type(f).__name__ == "BatteryStatus"]
        assert currents[-1] == pytest.approx(-12.0, abs=0.15)


async def test_f952_exactly_60_s_after_the_bms_frames_stop(tmp_path: Path) -> None:
    async with bench(tmp_path, ON_GRID, speed=40.0) as b:
        await b.bms(until_s=5)
        await b.runner.wait_until(5 + 55)  # a 55 s gap: no fault
        await b.bms(until_s=70)
        assert b.sim.recorder.first(EventKind.F952_RAISED) is None
        f952 = await asyncio.wait_for(b.runner.wait_for(EventKind.F952_RAISED), 60)
        last_soc_frame = max(t for t, cid in b.sim.recorder.bms_arrivals if cid == 0x355)
        assert f952.time_s == last_soc_frame + 60.0
        assert b.sim.recorder.longest_bms_gap_s(
            since_s=1.0, until_s=f952.time_s, can_id=0x355
        ) == pytest.approx(60.0)
        await b.runner.wait_until(f952.time_s + 2)
        await b.settle()
        states = [(s.operating_state, s.error_number) for s in b.decoded(0x306)]
        assert (OperatingState.OPERATING, 0) in states
        assert states[-1] == (OperatingState.FAILURE, 952)
        assert states.index((OperatingState.FAILURE, 952)) > states.index(
            (OperatingState.OPERATING, 0)
        )


async def test_follows_alarms_and_quick_stop(tmp_path: Path) -> None:
    scenario = {**ON_GRID, "si": {"noise": 0, "alarm_reaction_s": 1.0}}
    async with bench(tmp_path, scenario) as b:
        await b.bms(until_s=5)
        await b.bms(until_s=10, alarms={AlarmCondition.HIGH_VOLTAGE})
        await b.settle()
        assert not b.sim.si.operating
        status = b.decoded(0x306)[-1]
        assert (status.operating_state, status.error_number) == (OperatingState.FAILURE, 921)
        assert FunctionBits1.RUN not in b.decoded(0x307)[-1].functions1

        await b.bms(until_s=15)  # the gateway now sends "leave" for every condition
        assert b.sim.si.operating
        assert [e.kind for e in b.sim.recorder.events if e.kind.value.startswith("alarm")] == [
            EventKind.ALARM_RAISED,
            EventKind.ALARM_CLEARED,
        ]

        b.send(*encode(QuickStop()))
        await b.bms(until_s=25)
        assert not b.sim.si.operating  # BMS frames alone do not restart it
        await b.settle()
        assert b.decoded(0x306)[-1].operating_state == OperatingState.NONE
        b.send(*encode(RemoteOnOff(OnOffCommand.ON)))
        await b.bms(until_s=28)
        assert b.sim.si.operating
        kinds = [e.kind.value for e in b.sim.recorder.events]
        assert kinds[kinds.index("remote_on") :][:3] == ["remote_on", "cause_cleared", "started"]
