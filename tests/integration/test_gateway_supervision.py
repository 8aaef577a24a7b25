"""Supervision: the loop watchdog's real action, and systemd's notification protocol."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from smavenus.gateway.persist import PersistedCommand
from smavenus.io.files import write_atomically
from smavenus.io.gateway.command_file import read_boot_id, state_file
from smavenus.io.sdnotify import SdNotifier
from smavenus.ipc.messages import BmsCommand
from smavenus.testing.waiting import eventually

from .gateway_harness import FakeSi, GatewayProcess, slcan_config, write_config

STALLING_GATEWAY = Path(__file__).with_name("stalling_gateway.py")


@pytest.fixture
async def si(tmp_path: Path) -> AsyncIterator[FakeSi]:
    fake = FakeSi(tmp_path / "ttyACM0")
    fake.plug()
    yield fake
    fake.unplug()


def persist_fresh_command(state_dir: Path, charge_current_a: float) -> None:
    command = BmsCommand(
        seq=1,
        sent_monotonic=time.monotonic(),
        sent_unix=time.time(),
        charge_voltage_v=56.0,
        charge_current_a=charge_current_a,
        discharge_current_a=150.0,
        discharge_voltage_v=46.0,
        soc_pct=60.0,
    )
    record = PersistedCommand(boot_id=read_boot_id(), command=command)
    write_atomically(state_file(state_dir), record.model_dump_json().encode())


@pytest.mark.slow
async def test_a_stalled_loop_sends_safe_frames_and_exits_for_the_supervisor(
    tmp_path: Path, si: FakeSi
) -> None:
    config = write_config(
        tmp_path,
        slcan_config(
            tmp_path, si.path, can={"bms_period_s": 0.2}, gateway={"watchdog_stall_s": 1.0}
        ),
    )
    persist_fresh_command(tmp_path / "state", charge_current_a=90.0)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(STALLING_GATEWAY),
        str(config),
        "3",  # stuck once three frame sets (with the resumed command) have gone out
        env={**os.environ, "DBUS_SYSTEM_BUS_ADDRESS": f"unix:path={tmp_path / 'no-bus'}"},
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await asyncio.wait_for(process.communicate(), 60.0)
    log = stderr.decode()
    assert process.returncode == 3, log
    currents = si.charge_currents()
    assert currents[0] == 90.0  # resumed from the persisted command
    assert currents[-1] == 0.0  # the watchdog's safe set, the last thing the SI heard
    assert set(currents) == {90.0, 0.0}
    assert "event=bms_stream_stalled" in log


async def test_systemd_gets_ready_and_watchdog_pings(tmp_path: Path, si: FakeSi) -> None:
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(tmp_path / "notify"))
    notify.setblocking(False)
    config = write_config(tmp_path, slcan_config(tmp_path, si.path))
    env = {
        "NOTIFY_SOCKET": str(tmp_path / "notify"),
        "WATCHDOG_USEC": "400000",
        "DBUS_SYSTEM_BUS_ADDRESS": f"unix:path={tmp_path / 'no-bus'}",
    }
    gateway = await GatewayProcess(config, env).start()
    messages: list[str] = []

    def receive() -> bool:
        while True:
            try:
                messages.append(notify.recv(4096).decode())
            except BlockingIOError:
                return sum("WATCHDOG=1" in m for m in messages) >= 3

    try:
        await eventually(receive, 30.0, "READY and three watchdog pings")
    finally:
        assert await gateway.stop() == 0
        notify.close()
    ready = next(m for m in messages if "READY=1" in m)
    assert "STATUS=CAN slcan" in ready
    assert messages.index(ready) <= 1  # ready as soon as the bus was tried, not later
    gateway.assert_clean_log()


def test_sd_notify_is_off_without_a_socket_and_honours_watchdog_pid() -> None:
    assert not SdNotifier.from_environment({}).enabled
    assert not SdNotifier.from_environment({}).notify("READY=1")
    other_pid = SdNotifier.from_environment(
        {"NOTIFY_SOCKET": "@x", "WATCHDOG_USEC": "1000000", "WATCHDOG_PID": "1"}
    )
    assert other_pid.enabled and other_pid.watchdog_interval_s is None
    ours = SdNotifier.from_environment({"NOTIFY_SOCKET": "@x", "WATCHDOG_USEC": "1000000"})
    assert ours.watchdog_interval_s == 1.0


def test_sd_notify_reaches_an_abstract_socket() -> None:
    name = f"smavenus-test-{time.monotonic_ns()}"
    receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    receiver.bind("\0" + name)
    try:
        notifier = SdNotifier.from_environment({"NOTIFY_SOCKET": "@" + name})
        assert notifier.ready("up")
        assert receiver.recv(100) == b"READY=1\nSTATUS=up"
        notifier.close()
    finally:
        receiver.close()
