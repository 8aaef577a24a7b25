"""Energy counters survive ``kill -9`` (at most one save interval lost) and a clean stop
(nothing lost): the installed ``smavenus-vebus-publisher`` as a real subprocess."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from dbus_fast.aio import MessageBus

from smavenus.ipc.messages import SiSnapshot
from smavenus.testing.dbus_daemon import PrivateDbusDaemon
from smavenus.testing.waiting import eventually
from tests.integration.vebus_peers import Client, GatewayPeer
from tests.unit.vebus.si import NO_GRID, relay, scene, snapshot

SAVE_INTERVAL_S = 1.0
LINE_W = 12_000.0  # three lines inverting 36 kW: 10 Wh a second, plenty of resolution
TOTAL_W = 3 * LINE_W
CYCLE_S = 0.1
COUNTER = "/Energy/InverterToAcOut"
PUBLISHER = Path(sys.executable).parent / "smavenus-vebus-publisher"


def inverting(seq: int, *, present: bool = True) -> SiSnapshot:
    frames = scene(
        ext_w=(0, 0, 0),
        inv_w=(LINE_W, LINE_W, LINE_W),
        out_v=(230, 230, 230),
        ext_v=(0, 0, 0),
        relay_status=relay(NO_GRID),
    )
    return snapshot(frames, time.monotonic(), seq=seq, si_present=present)


class Processes:
    """Started publishers; whatever a failing test leaves running is killed."""

    def __init__(self, config: Path, log: Path) -> None:
        self.config, self.log = config, log
        self.started: list[subprocess.Popen[bytes]] = []

    def start(self) -> subprocess.Popen[bytes]:
        with self.log.open("ab") as sink:
            process = subprocess.Popen(
                [str(PUBLISHER), "--config", str(self.config)],
                stdout=sink,
                stderr=subprocess.STDOUT,
            )
        self.started.append(process)
        return process

    def kill_all(self) -> None:
        for process in self.started:
            if process.poll() is None:
                process.kill()
                process.wait()


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    config = tmp_path / "smavenus.toml"
    config.write_text(
        f'[paths]\nstate_dir = "{tmp_path}"\n'
        f"[vebus]\nstate_save_interval_s = {SAVE_INTERVAL_S}\nsnapshot_max_age_s = 1.0\n"
        '[logging]\nformat = "plain"\n'
    )
    started = Processes(config, tmp_path / "publisher.log")
    yield started
    started.kill_all()


async def feed(gateway: GatewayPeer, seconds: float, first_seq: int) -> int:
    seq = first_seq
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        gateway.send(inverting(seq))
        seq += 1
        await asyncio.sleep(CYCLE_S)
    return seq


def saved_kwh(state_file: Path) -> float:
    return float(json.loads(state_file.read_text())["energy_j"]["InverterToAcOut"]) / 3.6e6


@pytest.mark.slow
async def test_energy_survives_kill_9_and_a_clean_stop(
    tmp_path: Path, dbus_daemon: PrivateDbusDaemon, processes: Processes, system_bus: MessageBus
) -> None:
    state_file = tmp_path / "vebus-sma_can0.json"
    log = processes.log
    gateway = await GatewayPeer().start()
    client = Client(system_bus)

    # 1. Run, count, and kill -9 between two saves.
    process = processes.start()
    await eventually(client.owner, timeout_s=15)
    seq = await feed(gateway, 2.6, first_seq=1)
    live_kwh = await client.value(COUNTER)
    process.send_signal(signal.SIGKILL)
    process.wait(5)
    assert state_file.exists(), log.read_text()
    saved = saved_kwh(state_file)
    assert saved > 0
    assert saved <= live_kwh + 1e-3  # a save never runs ahead of what was counted
    lost_kwh = live_kwh - saved
    # at most one save interval (plus one SI cycle and the read) may be lost
    assert lost_kwh <= TOTAL_W * (SAVE_INTERVAL_S + 2 * CYCLE_S) / 3.6e6 + 1e-3

    # 2. Restart: the counter resumes from the file, never lower.
    gateway.snapshot = inverting(seq, present=False)  # nothing more to count for now
    process = processes.start()
    await eventually(client.owner, timeout_s=15)
    resumed = await client.value(COUNTER)
    assert resumed == pytest.approx(saved, abs=5e-4)  # published with 1 Wh resolution

    # 3. Count again, let the SI fall silent, stop cleanly: nothing may be lost.
    seq = await feed(gateway, 1.0, first_seq=seq + 1)
    await asyncio.sleep(1.3)  # the snapshot goes stale: the counter stops
    frozen = await client.value(COUNTER)
    assert frozen > resumed
    process.send_signal(signal.SIGTERM)
    assert process.wait(10) == 0, log.read_text()
    assert saved_kwh(state_file) == pytest.approx(frozen, abs=5e-4)
    process = processes.start()
    await eventually(client.owner, timeout_s=15)
    assert await client.value(COUNTER) == frozen
    process.send_signal(signal.SIGTERM)
    assert process.wait(10) == 0
    await gateway.stop()
