"""A lone ``GetValue`` on the vebus service: how long a client waits for its answer.

    .venv/bin/python bench/getvalue_latency.py [--calls 300] [--interval 0.1]

The original driver answered a lone ``GetValue`` after 0.3 s (at most 1.3 s) because
dbus-python dispatched one message per GLib iteration (``original-driver.md`` §2.2). This
starts the whole system as a GX runs it (:class:`smavenus.testing.stack.Stack`: private
system bus, localsettings stand-in, the simulated SI on an slcan pty at speed 1, the services
under svscan), so the publisher is busy with the SI's cycles and DVCC as it would be, and
from a client connection calls, one at a time, ``--interval`` s apart:

* ``GetValue`` on one path (``/Dc/0/Voltage``), as a GUI or Node-RED asks for a value;
* ``GetValue`` on ``/`` (the whole tree), as dbus-systemcalc-py and the GUI do when they
  first meet a service;
* ``GetText`` on one path.

It prints the time from sending the call to its reply (``CLOCK_MONOTONIC`` in this
process: two bus hops and the publisher's handling) per kind: median, p99 and max.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import structlog

from smavenus.io.dbus import call, connect_system_bus
from smavenus.testing.stack import Stack

BUSITEM = "com.victronenergy.BusItem"
DBUS = ("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus")
KINDS = (("GetValue /Dc/0/Voltage", "/Dc/0/Voltage", "GetValue"),
         ("GetValue / (whole tree)", "/", "GetValue"),
         ("GetText /Dc/0/Voltage", "/Dc/0/Voltage", "GetText"))  # fmt: skip


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def measure(calls: int, interval_s: float) -> dict[str, list[float]]:
    bus = await connect_system_bus()
    try:
        service = ""
        for _ in range(300):  # the publisher owns its name once the gateway has spoken
            (names,) = await call(bus, *DBUS, "ListNames")
            service = next((n for n in names if n.startswith("com.victronenergy.vebus.")), "")
            if service:
                break
            await asyncio.sleep(0.1)
        if not service:
            raise SystemExit("no com.victronenergy.vebus.* service on the bus after 30 s")
        # Wait until the value is known (the publisher has seen the SI's first cycle).
        for _ in range(300):
            (value,) = await call(bus, service, "/Dc/0/Voltage", BUSITEM, "GetValue")
            if value.value not in ([], None):
                break
            await asyncio.sleep(0.1)
        times: dict[str, list[float]] = {label: [] for label, _, _ in KINDS}
        for n in range(calls):
            label, path, member = KINDS[n % len(KINDS)]
            started = time.monotonic()
            await call(bus, service, path, BUSITEM, member)
            times[label].append(time.monotonic() - started)
            await asyncio.sleep(interval_s)  # a bench: lone calls, spaced as a client's
        return times
    finally:
        bus.disconnect()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=300, help="calls in all (default 300)")
    parser.add_argument("--interval", type=float, default=0.1, help="s between calls")
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    with (
        tempfile.TemporaryDirectory(prefix="smavenus-getvalue-") as tmp,
        Stack(Path(tmp) / "stack", speed=1.0) as stack,
    ):
        stack.wait_until_running(timeout_s=60)
        os.environ["DBUS_SYSTEM_BUS_ADDRESS"] = stack.env["DBUS_SYSTEM_BUS_ADDRESS"]
        times = asyncio.run(measure(args.calls, args.interval))
    print(f"python {sys.version.split()[0]}, stack at speed 1, {args.calls} lone calls, "
          f"{args.interval:g} s apart")  # fmt: skip
    print(f"  {'call':<26} {'n':>4} {'median ms':>10} {'p99 ms':>8} {'max ms':>8}")
    for label, values in times.items():
        ms = [v * 1000 for v in values]
        print(
            f"  {label:<26} {len(ms):>4} {statistics.median(ms):10.2f} "
            f"{percentile(ms, 0.99):8.2f} {max(ms):8.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
