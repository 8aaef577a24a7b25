"""What each service costs before it does anything: import time and private memory.

    .venv/bin/python bench/import_cost.py [--runs 5]

For each service module (``smavenus.apps.can_gateway`` …), in fresh interpreters as a
console script starts: the import time (``python -X importtime``, median of ``--runs``) with
its heaviest top-level imports, and the private memory (USS, from
``/proc/self/smaps_rollup``) once the module is imported and the configuration validated,
with the modules each top-level dependency adds. What ``smavenus.apps`` leaves out (OpenSSL,
pydantic's plugin discovery) is in effect, as in the services.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from collections import defaultdict

APPS = ("can_gateway", "bms_controller", "vebus_publisher")
#: Imported in this order, so each line is what that dependency adds to the ones above.
LAYERS = (
    "smavenus.apps",
    "logging",
    "asyncio",
    "structlog",
    "pydantic",
    "smavenus.protocol",
    "smavenus.ipc.messages",
    "smavenus.config",
    "dbus_fast.aio",
    "can",
)

MEMORY_PROBE = """
import importlib, json, sys
def uss():
    fields = {}
    for line in open("/proc/self/smaps_rollup"):
        parts = line.split()
        if len(parts) == 3:
            fields[parts[0].rstrip(":")] = int(parts[1])
    return fields["Private_Clean"] + fields["Private_Dirty"]
steps, last = [], uss()
for name in sys.argv[2:] + ["smavenus.apps." + sys.argv[1]]:
    if name == "can" and sys.argv[1] != "can_gateway":
        continue
    before = len(sys.modules)
    importlib.import_module(name)
    from_here = uss()
    steps.append((name, from_here - last, len(sys.modules) - before))
    last = from_here
from smavenus.config import AppConfig
AppConfig()
print(json.dumps({"steps": steps, "uss_kib": uss(), "modules": len(sys.modules)}))
"""


def import_times(app: str, runs: int) -> tuple[float, list[tuple[str, float]]]:
    totals: list[float] = []
    tops: dict[str, list[int]] = defaultdict(list)
    for _ in range(runs):
        err = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", f"import smavenus.apps.{app}"],
            capture_output=True,
            text=True,
            check=True,
        ).stderr
        total = 0
        for line in err.splitlines()[1:]:
            if not line.startswith("import time:"):
                continue
            _, cumulative, name = line.split("|")
            if (len(name) - len(name.lstrip())) // 2 == 1:  # a top-level import of the app
                total += int(cumulative)
                tops[name.strip()].append(int(cumulative))
        totals.append(total / 1000)
    heaviest = sorted(
        ((name, statistics.median(us) / 1000) for name, us in tops.items() if len(us) == runs),
        key=lambda item: -item[1],
    )
    return statistics.median(totals), heaviest[:6]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    for app in APPS:
        total_ms, heaviest = import_times(app, runs)
        memory = json.loads(
            subprocess.run(
                [sys.executable, "-c", MEMORY_PROBE, app, *LAYERS],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        )
        print(f"smavenus.apps.{app}: import {total_ms:.0f} ms (median of {runs})")
        print("  heaviest: " + ", ".join(f"{name} {ms:.0f} ms" for name, ms in heaviest))
        print(
            f"  USS once imported and configured: {memory['uss_kib'] / 1024:.1f} MiB, "
            f"{memory['modules']} modules"
        )
        for name, kib, modules in memory["steps"]:
            print(f"    + {name:28s} {kib / 1024:5.1f} MiB  ({modules} modules)")


if __name__ == "__main__":
    main()
