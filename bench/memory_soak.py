"""Memory of each service over an hour at the SI's own cadence: RSS and PSS, minute by minute.

    .venv/bin/python bench/memory_soak.py --minutes 70 --warmup 10 --out soak.jsonl
    SMAVENUS_TRACEMALLOC_DIR=/tmp/tm .venv/bin/python bench/memory_soak.py ...   # + snapshots

Runs the whole system as a GX does (:class:`smavenus.testing.stack.Stack`: a private system
bus, the localsettings stand-in, the simulated SI on an slcan pty at speed 1, the four
services under svscan from ``services/*/run``) and every ``--interval`` seconds reads
``/proc/<pid>/smaps_rollup`` of each service: RSS, PSS and USS (private clean + dirty).
PSS shares the pages several processes map (the interpreter, shared libraries) among them,
so the PSS of the three core services adds up to what they really cost the GX.

With ``SMAVENUS_TRACEMALLOC_DIR`` set, each service traces its allocations and dumps a
snapshot there every ``SMAVENUS_TRACEMALLOC_INTERVAL_S`` (see ``smavenus.runtime``); this
script then prints the allocation sites that grew most between the first snapshot after
the warm-up and the last.

The summary judges "flat": the spread (max - min) of each service's RSS after the warm-up,
and the slope of a least-squares line through those samples (KiB per hour). A restart of
a service (a new pid) is reported, since it would hide growth.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from smavenus.testing.stack import CORE_SERVICES, SERVICES, Stack

KIB = 1024


def rollup(pid: int) -> dict[str, int]:
    """RSS, PSS and USS of a process in KiB, from ``/proc/<pid>/smaps_rollup``."""
    fields: dict[str, int] = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            parts = line.split()
            if len(parts) == 3 and parts[2] == "kB":
                fields[parts[0].rstrip(":")] = int(parts[1])
    return {
        "rss_kib": fields["Rss"],
        "pss_kib": fields["Pss"],
        "uss_kib": fields["Private_Clean"] + fields["Private_Dirty"],
    }


def slope_kib_per_hour(samples: list[tuple[float, int]]) -> float:
    if len(samples) < 2:
        return 0.0
    xs = [t / 3600 for t, _ in samples]
    ys = [float(v) for _, v in samples]
    mean_x, mean_y = statistics.fmean(xs), statistics.fmean(ys)
    den = sum((x - mean_x) ** 2 for x in xs)
    return sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / den


def sample(stack: Stack, started: float) -> dict[str, Any]:
    row: dict[str, Any] = {"t_s": round(time.monotonic() - started, 1)}
    for service in SERVICES:
        pid = stack.pid(service)
        if pid is None:
            row[service] = None
            continue
        try:
            row[service] = {"pid": pid, **rollup(pid)}
        except (FileNotFoundError, ProcessLookupError):
            row[service] = None
    return row


def summarize(rows: list[dict[str, Any]], warmup_s: float) -> list[str]:
    lines = []
    after = [r for r in rows if r["t_s"] >= warmup_s]
    total_pss = [sum(r[s]["pss_kib"] for s in CORE_SERVICES if r[s]) for r in after]
    for service in SERVICES:
        points = [(r["t_s"], r[service]) for r in after if r[service]]
        pids = {p["pid"] for _, p in points}
        rss = [(t, p["rss_kib"]) for t, p in points]
        pss = [p["pss_kib"] for _, p in points]
        if not rss:
            lines.append(f"{service}: no samples after the warm-up")
            continue
        first, last = rss[0][1], rss[-1][1]
        spread = max(v for _, v in rss) - min(v for _, v in rss)
        lines.append(
            f"{service}: RSS {first / KIB:.1f} -> {last / KIB:.1f} MiB "
            f"(spread {spread} KiB, slope {slope_kib_per_hour(rss):+.0f} KiB/h), "
            f"PSS {pss[0] / KIB:.1f} -> {pss[-1] / KIB:.1f} MiB, "
            f"{'restarted!' if len(pids) > 1 else 'one pid'}"
        )
    if total_pss:
        lines.append(
            f"the three core services' PSS: {total_pss[0] / KIB:.1f} MiB after the warm-up, "
            f"{total_pss[-1] / KIB:.1f} MiB at the end, max {max(total_pss) / KIB:.1f} MiB"
        )
    return lines


def tracemalloc_report(directory: Path, warmup_s: float, started_unix: float) -> list[str]:
    import tracemalloc  # noqa: PLC0415 - only with snapshots

    lines = []
    for service in SERVICES:
        snaps = sorted(directory.glob(f"{service.removeprefix('smavenus-')}-*.tracemalloc"))
        later = [s for s in snaps if s.stat().st_mtime >= started_unix + warmup_s]
        if len(later) < 2:
            continue
        first = tracemalloc.Snapshot.load(str(later[0]))
        last = tracemalloc.Snapshot.load(str(later[-1]))
        lines.append(f"{service}: top growth {later[0].name} -> {later[-1].name}")
        for stat in last.compare_to(first, "lineno")[:8]:
            lines.append(f"    {stat}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=70.0)
    parser.add_argument("--warmup", type=float, default=10.0, help="minutes before judging")
    parser.add_argument("--interval", type=float, default=60.0, help="seconds between samples")
    parser.add_argument("--out", type=Path, default=None, help="JSON lines, one per sample")
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="smavenus-soak-"))
    out = args.out.open("w") if args.out else None
    rows: list[dict[str, Any]] = []
    started_unix = time.time()
    with Stack(workdir, speed=1.0) as stack:
        stack.wait_until_running(timeout_s=60)
        started = time.monotonic()
        end = started + args.minutes * 60
        while True:
            row = sample(stack, started)
            rows.append(row)
            brief = {s: (row[s] or {}).get("rss_kib") for s in SERVICES}
            print(json.dumps({"t_s": row["t_s"], "rss_kib": brief}), flush=True)
            if out is not None:
                out.write(json.dumps(row) + "\n")
                out.flush()
            if time.monotonic() >= end:
                break
            # A bench, not a service: sleeping between samples is what it is for.
            time.sleep(min(args.interval, max(0.0, end - time.monotonic())))
        events = [e["event"] for e in stack.sim.events()]
    print(f"python {sys.version.split()[0]}, {args.minutes} min at speed 1, workdir {workdir}")
    for line in summarize(rows, args.warmup * 60):
        print(line)
    print("F952 raised" if "f952_raised" in events else "no F952")
    tm_dir = os.environ.get("SMAVENUS_TRACEMALLOC_DIR")
    if tm_dir:
        for line in tracemalloc_report(Path(tm_dir), args.warmup * 60, started_unix):
            print(line)


if __name__ == "__main__":
    main()
