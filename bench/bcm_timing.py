"""The broadcast manager's timing on a kernel CAN interface: period error and change-to-wire.

    scripts/can-vm --timeout 900 -- .venv/bin/python bench/bcm_timing.py   # kernel without CAN
    .venv/bin/python bench/bcm_timing.py                                    # a kernel with vcan0

The installed ``smavenus-can-gateway`` on ``vcan0`` (socketcan: kernel filters, one BCM job
per BMS ID) with a private dbus-daemon. This process plays the SI's side of the bus and the
bms-controller on D-Bus. Measured:

* **period error**: |interval between consecutive 0x351 − ``bms_period_s``|, the intervals
  taken between the kernel's receive timestamps of the listening socket (``SO_TIMESTAMPNS``,
  python-can's ``msg.timestamp``), so no Python scheduling is in the figure; ``--periods``
  intervals with no command arriving.
* **change to wire**: a ``Command`` with a new charge current emitted at a random phase of
  the period; from just before the emission (``CLOCK_REALTIME``, the kernel timestamps'
  clock) to the kernel timestamp of the first 0x351 that carries it. It includes D-Bus and the
  gateway's Python, so under emulation (``scripts/can-vm``) it says little about a GX.

Prints a table and one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import can
from dbus_fast.aio import MessageBus

from smavenus.config import toml_document
from smavenus.io.dbus import connect_system_bus, new_signal, request_name
from smavenus.ipc import names
from smavenus.ipc.messages import BmsCommand
from smavenus.protocol import ChargeLimits, decode
from smavenus.testing.dbus_daemon import PrivateDbusDaemon

GATEWAY = Path(sys.executable).parent / "smavenus-can-gateway"


class Wire:
    """Every 0x351 on the channel, with its kernel receive timestamp, read in a thread."""

    def __init__(self, channel: str) -> None:
        filters = [{"can_id": 0x351, "can_mask": 0x7FF, "extended": False}]
        self.bus = can.Bus(interface="socketcan", channel=channel, can_filters=filters)
        self.frames: list[tuple[float, ChargeLimits]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._stop.is_set():
            msg = self.bus.recv(0.1)
            if msg is not None and not msg.is_error_frame:
                with self._lock:
                    self.frames.append((msg.timestamp, decode(0x351, bytes(msg.data))))

    def since(self, t: float) -> list[tuple[float, ChargeLimits]]:
        with self._lock:
            return [(ts, lim) for ts, lim in self.frames if ts >= t]

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2.0)
        self.bus.shutdown()


async def wait_for(predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


def command(seq: int, charge_current_a: float) -> str:
    return BmsCommand(
        seq=seq,
        sent_monotonic=time.monotonic(),
        sent_unix=time.time(),
        charge_voltage_v=56.0,
        charge_current_a=charge_current_a,
        discharge_current_a=150.0,
        discharge_voltage_v=46.0,
        soc_pct=60.0,
    ).model_dump_json()


async def measure(args: argparse.Namespace, wire: Wire) -> dict[str, object]:
    period = args.period
    bus: MessageBus = await connect_system_bus()
    await request_name(bus, names.CONTROLLER_BUS_NAME)
    try:
        start = time.time()
        await wait_for(lambda: len(wire.since(start)) >= 2, 60.0, "the first BMS frames")
        quiet_from = time.time()
        await wait_for(
            lambda: len(wire.since(quiet_from)) > args.periods,
            args.periods * period * 2 + 30,
            f"{args.periods} periods",
        )
        stamps = [ts for ts, _ in wire.since(quiet_from)][: args.periods + 1]
        errors = [abs((b - a) - period) for a, b in itertools.pairwise(stamps)]

        rng = random.Random(args.seed)
        latencies: list[float] = []
        for i in range(args.changes):
            await asyncio.sleep(rng.uniform(0.0, period))
            current = 20.0 + i % 2 * 20.0 + i / 10  # a new value every time
            emitted = time.time()
            signal = new_signal(
                names.CONTROLLER_PATH,
                names.CONTROLLER_INTERFACE,
                names.COMMAND_SIGNAL,
                "s",
                [command(i + 1, current)],
            )
            await bus.send(signal)

            def arrived(value: float = current, since: float = emitted) -> bool:
                return any(lim.charge_current_a == value for _, lim in wire.since(since))

            await wait_for(arrived, 5 * period + 30, f"charge current {current} A on the wire")
            first = next(ts for ts, lim in wire.since(emitted) if lim.charge_current_a == current)
            latencies.append(first - emitted)
    finally:
        bus.disconnect()
    return {
        "period_s": period,
        "intervals": len(errors),
        "period_error_mean_ms": round(statistics.fmean(errors) * 1e3, 3),
        "period_error_p99_ms": round(pct(errors, 99) * 1e3, 3),
        "period_error_max_ms": round(max(errors) * 1e3, 3),
        "changes": len(latencies),
        "change_to_wire_p50_ms": round(pct(latencies, 50) * 1e3, 1),
        "change_to_wire_max_ms": round(max(latencies) * 1e3, 1),
        "change_to_wire_max_periods": round(max(latencies) / period, 3),
    }


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--channel", default="vcan0")
    parser.add_argument("--period", type=float, default=1.0, help="bms_period_s")
    parser.add_argument("--periods", type=int, default=60, help="intervals for the period error")
    parser.add_argument("--changes", type=int, default=20, help="commands for change-to-wire")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if not Path(f"/sys/class/net/{args.channel}").exists():
        sys.stderr.write(f"no {args.channel}: run it under scripts/can-vm (see the docstring)\n")
        return 77
    with tempfile.TemporaryDirectory() as tmp, PrivateDbusDaemon() as daemon:
        config = Path(tmp) / "smavenus.toml"
        config.write_text(
            toml_document(
                {
                    "can": {
                        "interface": "socketcan",
                        "channel": args.channel,
                        "bms_period_s": args.period,
                    },
                    "paths": {"state_dir": str(Path(tmp) / "state")},
                    "logging": {"format": "plain", "level": "warning"},
                }
            )
        )
        os.environ["DBUS_SYSTEM_BUS_ADDRESS"] = daemon.address
        wire = Wire(args.channel)
        gateway = subprocess.Popen([str(GATEWAY), "--config", str(config)])
        try:
            result = asyncio.run(measure(args, wire))
        finally:
            gateway.terminate()
            gateway.wait(30)
            wire.close()
    print(
        f"BCM period {args.period} s on {args.channel}, kernel receive timestamps:\n"
        f"  period error over {result['intervals']} intervals: "
        f"mean {result['period_error_mean_ms']} ms, p99 {result['period_error_p99_ms']} ms, "
        f"max {result['period_error_max_ms']} ms\n"
        f"  command emitted -> first 0x351 carrying it ({result['changes']} changes): "
        f"p50 {result['change_to_wire_p50_ms']} ms, max {result['change_to_wire_max_ms']} ms "
        f"({result['change_to_wire_max_periods']} periods)"
    )
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
