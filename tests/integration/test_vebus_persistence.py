"""Energy counters survive ``kill -9`` (at most one save interval lost) and a clean stop
(nothing lost): the installed ``smavenus-vebus-publisher`` as a real subprocess."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
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


async def feed(
    gateway: GatewayPeer,
    first_seq: int,
    *,
    cycles: int | None = None,
    until: Callable[[], bool] | None = None,
    timeout_s: float = 60.0,
) -> int:
    """SI cycles, ``cycles`` of them or ``until`` it holds; returns the next seq."""
    seq, sent = first_seq, 0
    deadline = time.monotonic() + timeout_s
    while (cycles is None or sent < cycles) and (until is None or not until()):
        assert time.monotonic() < deadline, f"still feeding after {timeout_s} s"
        gateway.send(inverting(seq))
        seq, sent = seq + 1, sent + 1
        await asyncio.sleep(CYCLE_S)  # the SI's cadence: the scenario, not a wait for an event
    return seq


def saved_kwh(state_file: Path) -> float:
    return float(json.loads(state_file.read_text())["energy_j"]["InverterToAcOut"]) / 3.6e6


class Saves:
    """The counter's values as the publisher's saves land (the file is replaced whole)."""

    def __init__(self, state_file: Path) -> None:
        self.state_file = state_file
        self.seen: list[float] = []

    def landed(self, count: int) -> bool:
        """Whether ``count`` saves of a counter that had counted something have landed."""
        if self.state_file.exists():
            kwh = saved_kwh(self.state_file)
            if kwh > 0 and (not self.seen or kwh != self.seen[-1]):
                self.seen.append(kwh)
        return len(self.seen) >= count


@pytest.mark.slow
async def test_energy_survives_kill_9_and_a_clean_stop(
    tmp_path: Path, dbus_daemon: PrivateDbusDaemon, processes: Processes, system_bus: MessageBus
) -> None:
    state_file = tmp_path / "vebus-sma_can0.json"
    log = processes.log
    gateway = await GatewayPeer().start()
    client = Client(system_bus)

    # 1. Run, count until two saves have landed, and kill -9 between two saves.
    process = processes.start()
    await eventually(client.owner, timeout_s=30, what="the publisher", logs=log.read_text)
    saves = Saves(state_file)
    seq = await feed(gateway, 1, until=lambda: saves.landed(2))
    seq = await feed(gateway, seq, cycles=5)  # half an interval on: the next save is not due
    live_kwh = await client.value(COUNTER)
    process.send_signal(signal.SIGKILL)
    process.wait(30)
    saved = saved_kwh(state_file)
    assert saved >= saves.seen[-1] > 0
    assert saved <= live_kwh + 1e-3  # a save never runs ahead of what was counted
    # What was lost, in seconds of counting on the publisher's own clock: what it counted
    # since its last save, at most one save interval; plus, on a loaded machine, a save that
    # ran late or was still being written when the kill came (then the one before it is
    # what the disk holds): allowed one more interval, so the bound is never the machine's.
    lost_s = (live_kwh - saved) * 3.6e6 / TOTAL_W
    assert lost_s <= 2 * SAVE_INTERVAL_S, (lost_s, saves.seen, live_kwh)

    # 2. Restart: the counter resumes from the file, never lower.
    gateway.snapshot = inverting(seq, present=False)  # nothing more to count for now
    process = processes.start()
    await eventually(client.owner, timeout_s=30, what="the publisher again", logs=log.read_text)
    resumed = await client.value(COUNTER)
    assert resumed == pytest.approx(saved, abs=5e-4)  # published with 1 Wh resolution

    # 3. Count again, let the SI fall silent, stop cleanly: nothing may be lost.
    seq = await feed(gateway, seq + 1, cycles=10)
    # The snapshot goes stale (snapshot_max_age_s): /Connected 0, and the counter stops.
    await eventually(lambda: _disconnected(client), 30, "the stale snapshot", log.read_text)
    frozen = await client.value(COUNTER)
    assert frozen > resumed
    process.send_signal(signal.SIGTERM)
    assert process.wait(10) == 0, log.read_text()
    assert saved_kwh(state_file) == pytest.approx(frozen, abs=5e-4)
    process = processes.start()
    await eventually(client.owner, timeout_s=30, what="the publisher", logs=log.read_text)
    assert await client.value(COUNTER) == frozen
    process.send_signal(signal.SIGTERM)
    assert process.wait(10) == 0
    await gateway.stop()


async def _disconnected(client: Client) -> bool:
    return bool(await client.value("/Connected") == 0)
