"""The simulator's robustness edges: frames and garbage put on the host's line, bursts, and its
Venus services coming back after the system bus restarted.

The test process is the host (as the gateway would be) on the simulated adapter's pty, through
python-can's slcan interface; the control requests go through the real control socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import tty
from pathlib import Path
from typing import Any

import can
import pytest

from smavenus.io.dbus import DBUS_NAME, DBUS_PATH, call, connect_system_bus
from smavenus.io.sim import SimRunner, SlcanLink
from smavenus.io.sim.control import request
from smavenus.sim import Simulation, parse_scenario
from smavenus.testing.dbus_daemon import PrivateDbusDaemon
from smavenus.testing.waiting import eventually

SIM_SERVICES = ("com.victronenergy.battery.sim", "com.victronenergy.system")


async def control(runner: SimRunner, body: dict[str, Any]) -> dict[str, Any]:
    assert runner.control_path is not None
    return await asyncio.to_thread(request, runner.control_path, body)


def host_bus(path: str) -> can.BusABC:
    return can.Bus(interface="slcan", channel=path, bitrate=500_000, sleep_after_open=0)


async def drain(host: can.BusABC, seconds: float) -> list[can.Message]:
    """Everything the host reads within ``seconds`` (the window is the test's measure)."""

    def read() -> list[can.Message]:
        got = []
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            msg = host.recv(timeout=0.05)
            if msg is not None:
                got.append(msg)
        return got

    return await asyncio.to_thread(read)


class RawHost:
    """The host end of the pty read byte for byte: what the adapter put on the line, exactly."""

    def __init__(self, path: str) -> None:
        self.fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        tty.setraw(self.fd)
        self.seen = b""

    def open_channel(self) -> None:
        os.write(self.fd, b"S6\rO\r")  # as python-can opens a CANable at 500 kbit/s

    def read(self) -> bytes:
        with contextlib.suppress(BlockingIOError):
            while chunk := os.read(self.fd, 65536):
                self.seen += chunk
        return self.seen

    def close(self) -> None:
        os.close(self.fd)


async def test_injected_frames_and_garbage_reach_the_host_as_sent_and_the_si_hears_none(
    tmp_path: Path,
) -> None:
    sim = Simulation(parse_scenario({}), seed=1)
    link = SlcanLink(tmp_path / "ttyACM-sim")
    async with SimRunner(sim, link, speed=1.0, control_path=tmp_path / "sim.sock") as runner:
        host = RawHost(link.path)
        try:
            host.open_channel()
            await eventually(lambda: link.pty is not None and link.pty.device.is_open, 10.0)
            frames = [
                {"can_id": 0x4AB, "data": "0102"},
                {"can_id": 0x1234567, "data": "", "extended": True},
                {"can_id": 0x305, "data": "aa", "remote": True},
            ]
            lines = ["t3058ZZZZ\r", "\x00\xff garbage\r", "T1\r"]
            reply = await control(runner, {"cmd": "inject", "frames": frames, "lines": lines})
            assert reply == {"ok": True, "delivered": 6}
            # one write, in order: the frames as the adapter sends them, then the lines' bytes
            sent = b"t4AB20102\rT012345670\rr3051\rt3058ZZZZ\r\x00\xff garbage\rT1\r"
            await eventually(lambda: sent in host.read(), 10.0, "the injected bytes at the host")
            status = await control(runner, {"cmd": "status"})
            assert status["injected"]["frames"] == 3 and status["injected"]["lines"] == 3
            assert status["bms_frames_received"] == 0  # for the host only: the SI heard none
        finally:
            host.close()


async def test_nothing_is_injected_while_the_host_has_the_channel_closed(tmp_path: Path) -> None:
    sim = Simulation(parse_scenario({}), seed=1)
    link = SlcanLink(tmp_path / "ttyACM-sim")
    async with SimRunner(sim, link, speed=1.0, control_path=tmp_path / "sim.sock") as runner:
        body = {"cmd": "inject", "frames": [{"can_id": 0x4AB, "data": "01"}]}
        assert (await control(runner, body))["delivered"] == 0
        status = await control(runner, {"cmd": "status"})
        assert status["injected"]["undelivered"] == 1


async def test_a_burst_offers_its_rate_for_its_duration(tmp_path: Path) -> None:
    sim = Simulation(parse_scenario({}), seed=1)
    link = SlcanLink(tmp_path / "ttyACM-sim")
    async with SimRunner(sim, link, speed=1.0, control_path=tmp_path / "sim.sock") as runner:
        host = await asyncio.to_thread(host_bus, link.path)
        try:
            await eventually(lambda: link.pty is not None and link.pty.device.is_open, 10.0)
            body = {"cmd": "burst", "rate_hz": 2000, "duration_s": 1.0, "seed": 3}
            assert (await control(runner, body))["ok"]
            refused = await control(runner, body)  # one burst at a time
            assert not refused["ok"] and "already running" in refused["error"]

            async def done() -> dict[str, Any] | None:
                counters = (await control(runner, {"cmd": "status"}))["injected"]
                return counters if counters["burst_offered"] else None

            read = asyncio.ensure_future(drain(host, 3.0))
            counters = await eventually(done, 10.0, "the burst's end")
            foreign = [m for m in await read if 0x400 <= m.arbitration_id <= 0x7FF]
            assert 1900 <= counters["burst_offered"] <= 2100
            assert counters["burst_delivered"] == counters["burst_offered"]
            assert len(foreign) >= 0.95 * counters["burst_delivered"]  # the host kept up
        finally:
            await asyncio.to_thread(host.shutdown)


async def test_the_venus_services_come_back_after_the_bus_restarted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    daemon = PrivateDbusDaemon(tmp_path / "dbus")
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", daemon.start())
    try:
        sim = Simulation(parse_scenario({}), seed=1)
        link = SlcanLink(tmp_path / "ttyACM-sim")
        async with SimRunner(sim, link, speed=5.0, battery_monitor="sim"):

            async def names_on_the_bus() -> set[str]:
                try:
                    bus = await connect_system_bus()
                except OSError:
                    return set()
                try:
                    (names,) = await call(bus, DBUS_NAME, DBUS_PATH, DBUS_NAME, "ListNames")
                finally:
                    bus.disconnect()
                return set(names)

            async def all_there() -> bool:
                return set(SIM_SERVICES) <= await names_on_the_bus()

            await eventually(all_there, 10.0, "the simulated services")
            await asyncio.to_thread(daemon.restart)
            await eventually(all_there, 20.0, "the simulated services back on the new bus")
    finally:
        daemon.stop()
