"""vebus-publisher on a real chain: D-Bus messages per SI cycle, latency, RSS, CPU.

    .venv/bin/python bench/vebus_publisher.py [--cycles 1000] [--period 0.1]

Starts a private dbus-daemon, ``smavenus-sim`` (a split-phase SI on an slcan pty, one status
cycle every ``--period`` s, measurement noise on so every cycle changes values),
``smavenus-can-gateway`` and ``smavenus-vebus-publisher``, all as subprocesses. A monitor
connection (``BecomeMonitor``) sees every message the publisher sends and every Snapshot
the gateway sends, stamped on arrival with ``CLOCK_MONOTONIC`` (the clock the gateway
stamps frames with). Reports:

* messages the publisher sent per SI cycle, by kind (goal: 1 ItemsChanged);
* latency from the gateway's Snapshot signal to the publisher's ItemsChanged seen by a
  client (the publisher's share, two bus hops included), and from the last SI frame of the
  cycle received by the gateway to the ItemsChanged (the whole chain, including the
  gateway's cycle assembly);
* the publisher's RSS and CPU time per cycle (psutil).

Also times the pure mapping (core.values + store.update) in this process.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import psutil
from dbus_fast import Message, MessageType
from dbus_fast.aio import MessageBus

from smavenus.config import AppConfig
from smavenus.io.dbus import call, connect_system_bus
from smavenus.ipc import names
from smavenus.ipc.messages import SiSnapshot
from smavenus.testing.dbus_daemon import PrivateDbusDaemon
from smavenus.vebus.core import VebusCore
from smavenus.vebus.settings import CoreSettings
from smavenus.vebus.state import PublisherState
from smavenus.victron.items import ItemStore

BIN = Path(sys.executable).parent
SERVICE = "com.victronenergy.vebus.sma_can0"
DBUS = ("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus")


def scenario(period_s: float) -> str:
    return f"""
name = "bench"
seed = 11
[si]
preset = "split_120_240_60"
status_period_s = {period_s}
noise = 1.0
[grid]
request = "always"
[loads]
power_w = [1500, 700]
"""


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


async def owner_of(bus: MessageBus, name: str) -> str | None:
    try:
        (owner,) = await call(bus, *DBUS, "GetNameOwner", signature="s", body=[name])
    except Exception:
        return None
    return str(owner)


async def wait_for_owner(bus: MessageBus, name: str, timeout_s: float = 20.0) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        owner = await owner_of(bus, name)
        if owner:
            return owner
        await asyncio.sleep(0.05)
    raise RuntimeError(f"{name} did not appear")


def mapping_cost_us(rounds: int = 2000) -> float:
    """The pure part of one cycle: core.on_snapshot + core.values + store.update."""
    sys.path.insert(0, str(Path(__file__).parents[1]))
    from tests.unit.vebus.si import scene, snapshot  # noqa: PLC0415 - the tests' builder

    core = VebusCore(
        CoreSettings.from_config(AppConfig(), process_name="bench", process_version="0"),
        PublisherState(),
        0.0,
    )
    store = ItemStore(p.spec for p in core.paths)
    snapshots = [
        snapshot(
            scene(ext_w=(0, 0), inv_w=(1500 + 100 * (i % 3), 700), battery_a_sma=40.0 + i % 7),
            float(i),
            seq=i + 1,
        )
        for i in range(rounds)
    ]
    start = time.perf_counter()
    for i, snap in enumerate(snapshots):
        core.on_snapshot(snap, float(i))
        store.update(core.values(float(i)))
    return (time.perf_counter() - start) / rounds * 1e6


async def run(cycles: int, period_s: float, workdir: Path) -> dict[str, Any]:
    (workdir / "scenario.toml").write_text(scenario(period_s))
    link = workdir / "ttyACM-sim"
    config = workdir / "smavenus.toml"
    config.write_text(
        f'[can]\ninterface = "slcan"\nchannel = "{link}"\n'
        f'[paths]\nstate_dir = "{workdir}"\n[logging]\nformat = "plain"\n'
        '[vebus]\nservice_suffix = "sma_can0"\n'
    )
    processes: list[subprocess.Popen[bytes]] = []

    def start(name: str, *args: str) -> subprocess.Popen[bytes]:
        with (workdir / f"{name}.log").open("ab") as log:
            process = subprocess.Popen(
                [str(BIN / name), *args], stdout=log, stderr=subprocess.STDOUT
            )
        processes.append(process)
        return process

    try:
        start("smavenus-sim", "--scenario", str(workdir / "scenario.toml"),
              "--slcan-link", str(link), "--log-format", "plain")  # fmt: skip
        for _ in range(200):
            if link.exists():
                break
            await asyncio.sleep(0.05)
        start("smavenus-can-gateway", "--config", str(config))
        publisher = start("smavenus-vebus-publisher", "--config", str(config))
        control = await connect_system_bus()
        publisher_name = await wait_for_owner(control, SERVICE)
        gateway_name = await wait_for_owner(control, names.GATEWAY_BUS_NAME)
        await asyncio.sleep(2.0)  # let the chain settle (first scans, first state save)

        monitor = await connect_system_bus()
        stream: list[tuple[float, str, Any]] = []
        done = asyncio.Event()
        seen = Counter[str]()

        def on_message(msg: Message) -> None:
            now = time.monotonic()
            if msg.sender == gateway_name and msg.member == names.SNAPSHOT_SIGNAL:
                stream.append((now, "snapshot", SiSnapshot.model_validate_json(msg.body[0])))
                seen["snapshot"] += 1
                if seen["snapshot"] > cycles:
                    done.set()
            elif msg.sender == publisher_name:
                kind = (
                    msg.member
                    if msg.message_type is MessageType.SIGNAL
                    else (msg.message_type.name.lower())
                )
                stream.append((now, f"publisher:{kind}", None))

        monitor.add_message_handler(on_message)
        await call(
            monitor,
            "org.freedesktop.DBus",
            "/org/freedesktop/DBus",
            "org.freedesktop.DBus.Monitoring",
            "BecomeMonitor",
            signature="asu",
            body=[[f"sender='{publisher_name}'", f"sender='{gateway_name}'"], 0],
        )
        process = psutil.Process(publisher.pid)
        cpu_before = sum(process.cpu_times()[:2])
        await asyncio.wait_for(done.wait(), cycles * period_s * 3 + 30)
        cpu_after = sum(process.cpu_times()[:2])
        rss_mib = process.memory_info().rss / 2**20
        uss_mib = process.memory_full_info().uss / 2**20
        for bus in (monitor, control):
            bus.disconnect()
            await bus.wait_for_disconnect()
    finally:
        for process in reversed(processes):
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()

    per_cycle: list[Counter[str]] = []
    publisher_ms: list[float] = []
    chain_ms: list[float] = []
    current: Counter[str] | None = None
    cycle_snapshot: tuple[float, SiSnapshot] | None = None
    for at, kind, payload in stream:
        if kind == "snapshot":
            if current is not None:
                per_cycle.append(current)
            current, cycle_snapshot = Counter(), (at, payload)
            continue
        if current is None or cycle_snapshot is None:
            continue
        current[kind] += 1
        if kind == "publisher:ItemsChanged" and current[kind] == 1:
            snap = cycle_snapshot[1]
            publisher_ms.append((at - snap.sent_monotonic) * 1e3)
            frames = [
                getattr(snap, name).received_monotonic
                for name in SiSnapshot.model_fields
                if name not in ("seq", "sent_monotonic", "sent_unix", "si_present")
                and getattr(snap, name) is not None
            ]
            chain_ms.append((at - max(frames)) * 1e3)
    kinds = Counter[str]()
    for counter in per_cycle:
        kinds.update(counter)
    return {
        "cycles": len(per_cycle),
        "messages_per_cycle": {k: v / len(per_cycle) for k, v in sorted(kinds.items())},
        "cycles_with_more_than_one_message": sum(sum(c.values()) > 1 for c in per_cycle),
        "cycles_without_items_changed": sum(c["publisher:ItemsChanged"] == 0 for c in per_cycle),
        "publisher_ms": publisher_ms,
        "chain_ms": chain_ms,
        "rss_mib": rss_mib,
        "uss_mib": uss_mib,
        "cpu_ms_per_cycle": (cpu_after - cpu_before) / len(per_cycle) * 1e3,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cycles", type=int, default=1000)
    parser.add_argument("--period", type=float, default=0.1, help="SI status period, s")
    args = parser.parse_args()
    print(f"pure mapping per cycle: {mapping_cost_us():.0f} µs")
    with tempfile.TemporaryDirectory(prefix="smavenus-bench-") as tmp, PrivateDbusDaemon() as bus:
        os.environ["DBUS_SYSTEM_BUS_ADDRESS"] = bus.address
        result = asyncio.run(run(args.cycles, args.period, Path(tmp)))
    print(f"SI cycles measured: {result['cycles']} (one every {args.period} s)")
    for kind, rate in result["messages_per_cycle"].items():
        print(f"  {kind}: {rate:.3f} per cycle")
    print(f"  cycles with more than one message: {result['cycles_with_more_than_one_message']}")
    print(f"  cycles without an ItemsChanged:     {result['cycles_without_items_changed']}")
    for label, key in (
        ("gateway Snapshot sent -> ItemsChanged at a client", "publisher_ms"),
        ("last SI frame at the gateway -> ItemsChanged at a client", "chain_ms"),
    ):
        values = result[key]
        print(
            f"{label}: p50 {statistics.median(values):.2f} ms, "
            f"p99 {percentile(values, 99):.2f} ms, max {max(values):.2f} ms (n={len(values)})"
        )
    print(f"publisher RSS {result['rss_mib']:.1f} MiB (USS {result['uss_mib']:.1f} MiB), "
          f"CPU {result['cpu_ms_per_cycle']:.2f} ms per cycle")  # fmt: skip


if __name__ == "__main__":
    main()
