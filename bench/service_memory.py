"""Memory of each service after warm-up: RSS, PSS and USS, once, from ``smaps_rollup``.

    .venv/bin/python bench/service_memory.py               # 2 minutes of warm-up
    .venv/bin/python bench/service_memory.py --warmup 20   # a quick look

Starts the whole system as a GX runs it (:class:`smavenus.testing.stack.Stack`: a private
system bus, the localsettings stand-in, the simulated SI on an slcan pty at speed 1, the four
services under svscan from ``services/*/run``), waits ``--warmup`` seconds and reads
``/proc/<pid>/smaps_rollup`` of each service once. RSS counts every page a process maps in
full, shared libraries included; PSS divides each shared page among the processes that map
it, so the PSS figures add up to what the services cost the machine together; USS is the
process's own (private clean + private dirty).

``bench/memory_soak.py`` takes the same readings minute by minute for an hour; this is the
after-warm-up snapshot of it, short enough to run with every other benchmark.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from memory_soak import rollup  # bench/ is the script's directory, so on sys.path

from smavenus.testing.stack import CORE_SERVICES, SERVICES, Stack

KIB = 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--warmup", type=float, default=120.0, help="seconds before reading")
    args = parser.parse_args()
    readings: dict[str, dict[str, int] | None] = {}
    restarted: list[str] = []
    with (
        tempfile.TemporaryDirectory(prefix="smavenus-memory-") as tmp,
        Stack(Path(tmp) / "stack", speed=1.0) as stack,
    ):
        stack.wait_until_running(timeout_s=60)
        started = {service: stack.pid(service) for service in SERVICES}
        time.sleep(args.warmup)  # a bench: waiting is what it is for
        for service in SERVICES:
            pid = stack.pid(service)
            try:
                readings[service] = None if pid is None else {"pid": pid, **rollup(pid)}
            except FileNotFoundError:  # it ended between svstat and the read
                readings[service] = None
            if pid != started[service]:
                restarted.append(service)
    print(f"python {sys.version.split()[0]}, stack at speed 1, read after {args.warmup:g} s")
    print(f"  {'service':<26} {'pid':>7} {'RSS MiB':>8} {'PSS MiB':>8} {'USS MiB':>8}")
    for service in SERVICES:
        r = readings[service]
        if r is None:
            print(f"  {service:<26} not running")
            continue
        print(
            f"  {service:<26} {r['pid']:>7} {r['rss_kib'] / KIB:8.1f} "
            f"{r['pss_kib'] / KIB:8.1f} {r['uss_kib'] / KIB:8.1f}"
        )
    totals = {}
    for label, group in (("core", CORE_SERVICES), ("all", SERVICES)):
        values = [readings[s] for s in group]
        totals[label] = {
            key: sum(v[key] for v in values if v) for key in ("rss_kib", "pss_kib", "uss_kib")
        }
        print(
            f"  {'the three core services' if label == 'core' else 'all four services':<26} "
            f"{'':>7} {totals[label]['rss_kib'] / KIB:8.1f} "
            f"{totals[label]['pss_kib'] / KIB:8.1f} {totals[label]['uss_kib'] / KIB:8.1f}"
        )
    if restarted:
        print(f"restarted during the warm-up: {', '.join(restarted)}")
    result = {"warmup_s": args.warmup, "services": readings, "totals_kib": totals}
    print(json.dumps({**result, "restarted": restarted}))
    return 0 if all(readings.values()) and not restarted else 1


if __name__ == "__main__":
    sys.exit(main())
