"""can-gateway under a flooded bus: losses, CPU, latency, BMS period, memory, start-up.

    .venv/bin/python bench/gateway_throughput.py slcan   [--seconds 60] [--rate 4500]
    .venv/bin/python bench/gateway_throughput.py virtual [--seconds 60] [--rate 4500]

``slcan``: the installed ``smavenus-can-gateway`` in its own process, opening a simulated
CANable on a pseudo-terminal that this process plays (the sender is a separate process from
the gateway, so the gateway's CPU is its own). Frames are written to the pty once per
millisecond, as a full-speed USB adapter delivers them; the adapter buffers up to 64 KB and
drops beyond, as a real one would when the host stops reading. ``--si-burst`` sends each
SI cycle back to back (as the SI does) instead of spreading it through the foreign frames.

``virtual``: python-can's virtual bus only exists inside one process, so the gateway runs
in-process on the main loop and the sender and BMS reader in threads; the gateway's CPU is
the process's minus those two threads (per-thread CPU from /proc via psutil).

In both, a separate subscriber process records the Snapshot signals from a private
dbus-daemon. Of the offered frames, ``--foreign`` (0.9) carry IDs the gateway does not use;
the rest are SI status frames 0x300-0x30A in cycles of 11, each cycle's index carried in
0x308 so a snapshot can be matched with the moment its cycle's last frame was sent.

Measured:

* frames lost: offered - (counted by the gateway as received, foreign or malformed), over
  the whole run (3 s warm-up, the window, 1 s cool-down; traffic never pauses between them)
* gateway CPU: user + system time over the measurement window, % of one core
* latency SI frame → Snapshot signal: cycle's last frame written → signal received (p50/p99)
* BMS period error: |interval between consecutive 0x351 - bms_period_s| (p50/p99)
* RSS: the gateway's resident memory at the end (max of 1 s samples)
* start → first BMS frame: process spawn (slcan) or run_gateway call (virtual) → first 0x351
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import can
import psutil

from smavenus.io.dbus import SignalSubscription, call, connect_system_bus
from smavenus.io.sim.slcan_pty import SlcanPty
from smavenus.ipc import names
from smavenus.ipc.messages import GatewayHealth, SiSnapshot
from smavenus.log import configure_logging
from smavenus.protocol import TotalLoad, encode
from smavenus.protocol.specs import SI_STATUS_IDS
from smavenus.slcan.device import HostFrame

GATEWAY = Path(sys.executable).parent / "smavenus-can-gateway"
TICK_S = 0.001  # a full-speed USB adapter hands the host a packet per millisecond
ADAPTER_BUFFER = 64 * 1024
WARM_UP_S = 3.0
COOL_DOWN_S = 1.0
CYCLE_ID = 0x308  # carries the cycle index (total load, 100 W steps)
#: One SI cycle: the frame data used by the bench (the values do not matter, the IDs do).
BASE_DATA = bytes.fromhex("10029CFFE600DE03")


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


# -- the offered traffic ----------------------------------------------------------------------


class Traffic:
    """Frames at ``rate`` per second, ``foreign`` of them with IDs the gateway ignores.

    SI frames are spread evenly through the foreign ones, or with ``burst`` sent as the SI
    does: a whole cycle back to back once enough credit for 11 frames has built up.
    """

    def __init__(self, rate: float, foreign: float, burst: bool = False) -> None:
        self.rate = rate
        self.foreign = foreign
        self.burst = burst
        self.offered = 0
        self.cycle = 0
        self._position = 0  # index in the current SI cycle
        self._si_credit = 0.0
        #: cycle index → monotonic time its last frame was handed over
        self.cycle_done_at: dict[int, float] = {}
        self._unstamped: list[int] = []

    def _si_turn(self) -> bool:
        self._si_credit += 1.0 - self.foreign
        if self.burst and self._position == 0:
            due = self._si_credit >= len(SI_STATUS_IDS)  # start a cycle only when all can go
        else:
            due = self._si_credit >= 1.0 or (self.burst and self._position > 0)
        if due:
            self._si_credit -= 1.0
        return due

    def frames(self, count: int) -> list[tuple[int, bytes]]:
        out: list[tuple[int, bytes]] = []
        for _ in range(count):
            if self._si_turn():
                can_id = SI_STATUS_IDS[self._position]
                if can_id == CYCLE_ID:
                    _, data = encode(TotalLoad(float(self.cycle % 30000) * 100))
                else:
                    data = BASE_DATA
                out.append((can_id, data))
                self._position += 1
                if self._position == len(SI_STATUS_IDS):
                    self._position = 0
                    self.cycle += 1
                    self._unstamped.append(self.cycle - 1)  # stamped once written
            else:
                out.append((0x400 + self.offered % 0x300, BASE_DATA))
            self.offered += 1
        return out

    def stamp_cycles(self, now: float) -> None:
        for index in self._unstamped:
            self.cycle_done_at[index] = now
        self._unstamped.clear()


class BatchingAdapter(SlcanPty):
    """The simulated CANable, writing a millisecond's frames in one go, with a finite buffer."""

    def __init__(self, on_host_frame: Callable[[HostFrame], None], link_path: Path) -> None:
        super().__init__(on_host_frame, link_path=link_path)
        self._pending = bytearray()
        self.dropped = 0

    def send_batch(self, frames: list[tuple[int, bytes]]) -> None:
        for can_id, data in frames:
            if len(self._pending) >= ADAPTER_BUFFER or not self.device.is_open:
                self.dropped += 1
                continue
            self._pending += self.device.frame_line(can_id, data)
        master = self._master  # the pty's adapter side (this class *is* the adapter)
        if self._pending and master is not None:
            try:
                written = os.write(master, self._pending)
            except BlockingIOError:
                return
            del self._pending[:written]


# -- the subscriber process -------------------------------------------------------------------


async def subscribe(seconds: float) -> None:
    """Child process: per snapshot, print (receive time, cycle index, sent, newest frame)."""
    bus = await connect_system_bus()
    rows: list[tuple[float, int, float, float]] = []

    def on_snapshot(msg: Any) -> None:
        now = time.monotonic()
        snapshot = SiSnapshot.model_validate_json(msg.body[0])
        if snapshot.total_load is None or not snapshot.si_present:
            return
        stamped = [getattr(snapshot, name) for name in SiSnapshot.model_fields]
        newest = max(s.received_monotonic for s in stamped if hasattr(s, "received_monotonic"))
        index = round((snapshot.total_load.value.total_load_w or 0) / 100)
        rows.append((now, index, snapshot.sent_monotonic, newest))

    sub = SignalSubscription(bus, names.GATEWAY_INTERFACE, names.SNAPSHOT_SIGNAL, on_snapshot)
    await sub.start()
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    await asyncio.sleep(seconds)
    sys.stdout.write(json.dumps(rows) + "\n")
    sys.stdout.flush()


# -- measurement ------------------------------------------------------------------------------


@dataclass
class Result:
    interface: str
    seconds: float
    rate_offered: float
    foreign_share: float
    frames_offered: int = 0
    frames_counted: int = 0
    frames_lost: int = 0
    dropped_at_adapter: int = 0
    cpu_pct_of_one_core: float = 0.0
    latency_ms_p50: float = 0.0
    latency_ms_p99: float = 0.0
    latency_ms_max: float = 0.0
    snapshots: int = 0
    cycles_sent: int = 0
    bms_period_error_ms_p50: float = 0.0
    bms_period_error_ms_p99: float = 0.0
    bms_period_error_ms_max: float = 0.0
    rss_mb: float = 0.0
    start_to_first_bms_frame_s: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


def period_errors(times: list[float], period: float) -> list[float]:
    return [abs((b - a) - period) * 1000 for a, b in itertools.pairwise(times)]


def latencies(
    rows: list[list[float]], done_at: dict[int, float], window: tuple[float, float]
) -> dict[str, list[float]]:
    """End to end, and its two legs: written → received by the gateway (the snapshot's stamp
    of the cycle's newest frame), and from there → the signal in the subscriber."""
    legs: dict[str, list[float]] = {
        "end_to_end": [],
        "to_gateway": [],
        "to_subscriber": [],
        "written_at": [],
    }
    for received, index, _sent, newest in rows:
        written = done_at.get(int(index), -1.0)
        if written > 0 and window[0] <= written <= window[1]:
            legs["end_to_end"].append((received - written) * 1000)
            legs["to_gateway"].append((newest - written) * 1000)
            legs["to_subscriber"].append((received - newest) * 1000)
            legs["written_at"].append(written)
    return legs


async def start_subscriber(seconds: float, env: dict[str, str]) -> asyncio.subprocess.Process:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        "subscribe",
        "--seconds",
        str(seconds),
        env=env,
        stdout=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    assert (await process.stdout.readline()).strip() == b"ready"
    return process


async def gateway_health() -> GatewayHealth:
    bus = await connect_system_bus()
    try:
        (payload,) = await call(
            bus,
            names.GATEWAY_BUS_NAME,
            names.GATEWAY_PATH,
            names.GATEWAY_INTERFACE,
            names.GET_HEALTH_METHOD,
        )
        return GatewayHealth.model_validate_json(payload)
    finally:
        bus.disconnect()


async def wait_for_gateway_on_dbus(timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            await gateway_health()
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)


def cpu_seconds(
    process: psutil.Process, exclude_threads: frozenset[int] | set[int] = frozenset()
) -> float:
    times = process.cpu_times()
    total = times.user + times.system
    if exclude_threads:
        total -= sum(
            t.user_time + t.system_time for t in process.threads() if t.id in exclude_threads
        )
    return total


async def drive(
    traffic: Traffic,
    send: Callable[[list[tuple[int, bytes]]], None],
    seconds: float,
) -> None:
    """Offer ``traffic`` for ``seconds``: each millisecond, the frames due by then."""
    loop = asyncio.get_running_loop()
    start = time.monotonic()
    base = traffic.offered
    done = asyncio.Event()

    def tick() -> None:
        now = time.monotonic()
        due = int((now - start) * traffic.rate) - (traffic.offered - base)
        if due > 0:
            send(traffic.frames(due))
            traffic.stamp_cycles(time.monotonic())
        if now - start >= seconds:
            done.set()
        else:
            loop.call_later(TICK_S, tick)

    tick()
    await done.wait()


async def measure(
    args: argparse.Namespace,
    result: Result,
    traffic: Traffic,
    send: Callable[[list[tuple[int, bytes]]], None],
    *,
    cpu: Callable[[], float],
    rss: Callable[[], float],
    env: dict[str, str],
    bms_times: list[float],
) -> None:
    """Offer traffic without a pause: warm-up, the measured window, a cool-down.

    CPU, latency, BMS period and RSS come from the window; losses from the whole run (every
    frame offered must have been counted by the gateway once the traffic has drained).
    """
    subscriber = await start_subscriber(WARM_UP_S + args.seconds + COOL_DOWN_S + 3, env)
    before = await gateway_health()
    driving = asyncio.create_task(drive(traffic, send, WARM_UP_S + args.seconds + COOL_DOWN_S))
    await asyncio.sleep(WARM_UP_S)
    cpu_before, t_before = cpu(), time.monotonic()
    samples = []
    for _ in range(max(1, round(args.seconds))):
        await asyncio.sleep(args.seconds / max(1, round(args.seconds)))
        samples.append(rss())
    cpu_after, t_after = cpu(), time.monotonic()
    await driving
    await asyncio.sleep(0.5)  # let the last frames through
    after = await gateway_health()
    result.cpu_pct_of_one_core = 100 * (cpu_after - cpu_before) / (t_after - t_before)
    result.frames_offered = traffic.offered
    result.frames_counted = counted(after) - counted(before)
    result.frames_lost = result.frames_offered - result.frames_counted
    result.rss_mb = max(samples) / 1e6
    stdout, _ = await subscriber.communicate()
    window = (t_before, t_after)
    fill_latencies(result, stdout, traffic, window)
    fill_periods(result, [t for t in bms_times if t_before <= t <= t_after], args.period)
    result.extra["adapter_errors"] = after.adapter_errors - before.adapter_errors
    result.extra["malformed"] = after.frames_malformed - before.frames_malformed
    result.extra["bus_reopens"] = after.bus_reopens - before.bus_reopens


async def run_slcan(args: argparse.Namespace, workdir: Path, env: dict[str, str]) -> Result:
    result = Result("slcan", args.seconds, args.rate, args.foreign)
    result.extra["loop"] = "asyncio" if args.no_uvloop else "uvloop"
    result.extra["si_burst"] = args.si_burst
    bms_times: list[float] = []
    first_bms = asyncio.Event()

    def on_host_frame(frame: HostFrame) -> None:
        if frame.can_id == 0x351:
            bms_times.append(time.monotonic())
            first_bms.set()

    adapter = BatchingAdapter(on_host_frame, workdir / "ttyACM0")
    adapter.plug()
    config = workdir / "gateway.toml"
    config.write_text(
        f'[can]\ninterface = "slcan"\nchannel = "{adapter.path}"\nbms_period_s = {args.period}\n'
        f'[paths]\nstate_dir = "{workdir / "state"}"\n[logging]\nformat = "plain"\n'
    )
    gateway_env = dict(env)
    # The services run on asyncio's own loop unless SMAVENUS_UVLOOP=1 (smavenus.runtime).
    if args.no_uvloop:
        gateway_env.pop("SMAVENUS_UVLOOP", None)
    else:
        gateway_env["SMAVENUS_UVLOOP"] = "1"
    spawned = time.monotonic()
    gateway = subprocess.Popen(  # noqa: ASYNC220 - started once, waited for below
        [str(GATEWAY), "--config", str(config)], env=gateway_env, stderr=subprocess.DEVNULL
    )
    try:
        await asyncio.wait_for(first_bms.wait(), 10.0)
        result.start_to_first_bms_frame_s = bms_times[0] - spawned
        await wait_for_gateway_on_dbus()
        proc = psutil.Process(gateway.pid)
        traffic = Traffic(args.rate, args.foreign, args.si_burst)
        await measure(
            args,
            result,
            traffic,
            adapter.send_batch,
            cpu=lambda: cpu_seconds(proc),
            rss=lambda: proc.memory_info().rss,
            env=env,
            bms_times=bms_times,
        )
        result.dropped_at_adapter = adapter.dropped
        # RSS counts shared library pages in full; USS is what this process alone holds.
        memory = proc.memory_full_info()
        result.extra["uss_mb"] = round(memory.uss / 1e6, 1)
        result.extra["pss_mb"] = round(memory.pss / 1e6, 1)
    finally:
        gateway.terminate()
        gateway.wait(10)
        adapter.unplug()
    return result


def counted(health: GatewayHealth) -> int:
    return health.frames_received + health.frames_foreign + health.frames_malformed


def fill_latencies(
    result: Result, stdout: bytes, traffic: Traffic, window: tuple[float, float]
) -> None:
    rows = json.loads(stdout.decode().strip().splitlines()[-1])
    legs = latencies(rows, traffic.cycle_done_at, window)
    end_to_end = legs["end_to_end"]
    result.snapshots = len(end_to_end)
    result.cycles_sent = sum(
        1 for t in traffic.cycle_done_at.values() if window[0] <= t <= window[1]
    )
    result.latency_ms_p50 = pct(end_to_end, 50)
    result.latency_ms_p99 = pct(end_to_end, 99)
    result.latency_ms_max = max(end_to_end, default=float("nan"))
    worst = sorted(zip(end_to_end, legs["written_at"], strict=True), reverse=True)[:3]
    result.extra["worst_ms_at_s"] = [[round(ms, 2), round(at - window[0], 2)] for ms, at in worst]
    for leg in ("to_gateway", "to_subscriber"):
        result.extra[f"{leg}_ms_p50_p99"] = [
            round(pct(legs[leg], 50), 3),
            round(pct(legs[leg], 99), 3),
        ]


def fill_periods(result: Result, times: list[float], period: float) -> None:
    errors = period_errors(times, period)
    result.bms_period_error_ms_p50 = pct(errors, 50)
    result.bms_period_error_ms_p99 = pct(errors, 99)
    result.bms_period_error_ms_max = max(errors, default=float("nan"))
    result.extra["bms_sets"] = len(times)


async def run_virtual(args: argparse.Namespace, workdir: Path, env: dict[str, str]) -> Result:
    from smavenus.apps.can_gateway import run_gateway  # noqa: PLC0415 - virtual mode only
    from smavenus.config import parse_config  # noqa: PLC0415

    result = Result("virtual", args.seconds, args.rate, args.foreign)
    channel = "bench"
    cfg = parse_config(
        {
            "can": {"interface": "virtual", "channel": channel, "bms_period_s": args.period},
            "paths": {"state_dir": str(workdir / "state")},
        }
    )
    si_tx = can.Bus(interface="virtual", channel=channel)
    si_rx = can.Bus(interface="virtual", channel=channel)
    bms_times: list[float] = []
    helper_threads: set[int] = set()
    stop_reader = threading.Event()

    loop = asyncio.get_running_loop()
    first_bms = asyncio.Event()

    def read_bms() -> None:
        helper_threads.add(threading.get_native_id())
        while not stop_reader.is_set():
            msg = si_rx.recv(0.05)
            if msg is not None and msg.arbitration_id == 0x351:
                bms_times.append(time.monotonic())
                if len(bms_times) == 1:
                    loop.call_soon_threadsafe(first_bms.set)

    reader = threading.Thread(target=read_bms, daemon=True)
    reader.start()
    stop = asyncio.Event()
    started = time.monotonic()
    gateway_task = asyncio.create_task(run_gateway(cfg, stop))
    proc = psutil.Process()

    def sender() -> None:
        # The sender thread does the (costly) virtual-bus deep copies, not the gateway.
        helper_threads.add(threading.get_native_id())
        while (batch := batches.get()) is not None:
            for can_id, data in batch:
                si_tx.send(can.Message(arbitration_id=can_id, data=data, is_extended_id=False))
            traffic.stamp_cycles(time.monotonic())

    batches: queue.SimpleQueue[list[tuple[int, bytes]] | None] = queue.SimpleQueue()
    traffic = Traffic(args.rate, args.foreign, args.si_burst)
    try:
        await asyncio.wait_for(first_bms.wait(), 10.0)
        result.start_to_first_bms_frame_s = bms_times[0] - started
        await wait_for_gateway_on_dbus()
        threading.Thread(target=sender, daemon=True).start()
        await measure(
            args,
            result,
            traffic,
            batches.put,
            cpu=lambda: cpu_seconds(proc, helper_threads),
            rss=lambda: proc.memory_info().rss,
            env=env,
            bms_times=bms_times,
        )
        batches.put(None)
        result.extra["rss_note"] = "whole bench process (gateway + sender + bus copies)"
    finally:
        stop.set()
        await asyncio.wait_for(gateway_task, 10)
        stop_reader.set()
        reader.join(1)
        si_tx.shutdown()
        si_rx.shutdown()
    return result


async def bench(args: argparse.Namespace) -> Result:
    from smavenus.testing.dbus_daemon import PrivateDbusDaemon  # noqa: PLC0415

    with tempfile.TemporaryDirectory(prefix="gateway-bench-") as tmp, PrivateDbusDaemon() as daemon:
        env = {**os.environ, "DBUS_SYSTEM_BUS_ADDRESS": daemon.address}
        os.environ["DBUS_SYSTEM_BUS_ADDRESS"] = daemon.address
        runner = run_slcan if args.interface == "slcan" else run_virtual
        return await runner(args, Path(tmp), env)


def report(result: Result) -> str:
    r = result
    return "\n".join(
        [
            f"interface {r.interface}: {r.rate_offered:.0f} frames/s offered for "
            f"{r.seconds:.0f} s, {r.foreign_share:.2%} foreign IDs",
            f"  frames offered / counted / lost (whole run, with warm-up and cool-down): "
            f"{r.frames_offered} / {r.frames_counted} / {r.frames_lost} "
            f"(dropped at the adapter: {r.dropped_at_adapter})",
            f"  gateway CPU: {r.cpu_pct_of_one_core:.1f} % of one core",
            f"  latency SI frame -> Snapshot signal: p50 {r.latency_ms_p50:.2f} ms, "
            f"p99 {r.latency_ms_p99:.2f} ms, max {r.latency_ms_max:.2f} ms "
            f"({r.snapshots} snapshots for {r.cycles_sent} cycles)",
            f"  BMS period error: p50 {r.bms_period_error_ms_p50:.2f} ms, "
            f"p99 {r.bms_period_error_ms_p99:.2f} ms, max {r.bms_period_error_ms_max:.2f} ms",
            f"  RSS: {r.rss_mb:.1f} MB",
            f"  start -> first BMS frame: {r.start_to_first_bms_frame_s:.3f} s",
            f"  {json.dumps(r.extra)}",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("interface", choices=["slcan", "virtual", "subscribe"])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--rate", type=float, default=4500.0, help="frames offered per second")
    parser.add_argument("--foreign", type=float, default=0.9, help="share of foreign IDs")
    parser.add_argument("--period", type=float, default=1.0, help="[can] bms_period_s")
    parser.add_argument(
        "--si-burst", action="store_true", help="send each SI cycle back to back, as the SI does"
    )
    parser.add_argument("--json", type=Path, help="also write the result here")
    parser.add_argument(
        "--no-uvloop", action="store_true", help="slcan: run the gateway on asyncio's own loop"
    )
    args = parser.parse_args()
    configure_logging("gateway-bench", "warning", "plain")  # to stderr; stdout is for results
    if args.interface == "subscribe":
        asyncio.run(subscribe(args.seconds))
        return
    result = asyncio.run(bench(args))
    print(report(result))
    if args.json:
        args.json.write_text(json.dumps(asdict(result), indent=2))


if __name__ == "__main__":
    main()
