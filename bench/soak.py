"""The soak: smavenus under daemontools on the simulator while faults are injected at random.

    .venv/bin/python bench/soak.py --minutes 60 --json > soak.json
    .venv/bin/python bench/soak.py --minutes 4 --speed 5 --seed 1 --rate 60 --json

Runs the whole system as a GX does (``smavenus.testing.stack.Stack``: a private system bus,
the localsettings stand-in, the simulated SI on an slcan pty, the four services under svscan
from ``services/*/run``) on an accelerated world (``--speed``), and injects at random —
seeded by ``--seed``, ``--rate`` a minute on average — kill -9 of each process, dbus-daemon
restarts, adapter unplugs, the battery monitor and BMS vanishing, freezing, sending NaN and
impossible values, malformed and random CAN frames, bursts of 4,500 frames/s, invalid
``SetValue`` writes of every D-Bus type and invalid settings. Everything is undone again
(``smavenus.testing.soak.injections`` has the list and how).

``--json`` prints one JSON object: ``injections`` (by kind), ``longest_bms_gap_s``, ``f952``,
``si_alarms`` (by kind, from the simulator's record), ``unexpected_exits`` (by process),
``energy_error_pct`` (against the simulator's truth), ``rss_growth_kib`` (by process, first
minute to last) and the details behind each (``smavenus.testing.soak.judge`` says how each is
judged). Without ``--json``, the headline figures. ``--workdir`` keeps the run's files (the
simulator's events, the services' logs) for reading afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from smavenus.log import configure_logging
from smavenus.testing.soak import Soak, SoakOptions

HEADLINE = (
    "injections_total",
    "longest_bms_gap_s",
    "longest_bms_gap_outside_unplug_s",
    "f952",
    "si_alarms",
    "si_alarms_unexplained",
    "unexpected_exits",
    "expected_exits",
    "energy_error_pct",
    "rss_growth_kib",
)


async def soak(options: SoakOptions, workdir: Path) -> dict[str, Any]:
    """The soak, stopped cleanly (the whole stack down) by SIGTERM or SIGINT — also when
    started in the background, where a shell leaves SIGINT ignored."""
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, task.cancel)
    return await Soak(options, workdir).run()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=4.0, help="injecting for this long")
    parser.add_argument("--speed", type=float, default=5.0, help="simulated s per real s")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rate", type=float, default=60.0, help="injections a minute (mean)")
    parser.add_argument(
        "--calm", type=float, default=150.0, help="s of injecting before the first restart"
    )
    parser.add_argument(
        "--restart-every", type=float, default=60.0, help="s between restarts (mean)"
    )
    parser.add_argument("--json", action="store_true", help="print the one JSON object")
    parser.add_argument("--workdir", type=Path, help="keep the run's files here")
    args = parser.parse_args()
    configure_logging("soak", "info", "plain", stream=sys.stderr)  # stdout is the JSON's
    options = SoakOptions(
        minutes=args.minutes,
        speed=args.speed,
        seed=args.seed,
        rate_per_min=args.rate,
        calm_s=args.calm,
        restart_every_s=args.restart_every,
    )
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="smavenus-soak-") as tmp:
        workdir = args.workdir or Path(tmp)
        try:
            report = asyncio.run(soak(options, workdir))
        except asyncio.CancelledError:
            print("bench/soak.py: stopped before the end", file=sys.stderr)
            return 1
    report["wall_s"]["total"] = round(time.monotonic() - started, 1)
    report["command"] = " ".join(["bench/soak.py", *sys.argv[1:]])
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        for key in HEADLINE:
            print(f"{key}: {json.dumps(report[key])}")
        print(f"wall: {report['wall_s']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
