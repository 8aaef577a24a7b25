"""From what a soak recorded to its one JSON object.

The judges are the simulator's record (its events and the arrival time of every BMS frame,
read after it stopped, so complete), supervise's view of every process, the services' logs and
the samples of :mod:`smavenus.testing.soak.energy`. Times: the soak keeps the monotonic clock
(``mono``); the simulator's are simulated seconds, mapped to it through the samples
(simulated = offset + speed × mono); logs carry TAI64N, i.e. Unix time.

* **BMS gaps** are wall-clock seconds (simulated ÷ speed: the gateway sends on real time) from
  the start of the injections to the end of the observation. A gap that overlaps an adapter
  unplug (from the unplug to its replug) is the cable's and is reported apart, with how long
  the gateway took after the replug (``replug_recovery_s``).
* **SI alarms** are the simulator's ``alarm_raised`` events; each carries the battery's truth at
  that moment, and one is a *real battery condition* when the truth was beyond the alarm
  threshold of its condition (the simulated BMS's own alarm levels, or the controller's where
  the BMS has none); every other one is ``unexplained``.
* **Exits** are the lives supervise ended before the observation ended: the soak's own kills,
  *expected* exits (a ``service_failing reason=dbus_connection_lost`` within 10 s after a
  dbus-daemon restart: the services' documented reaction, supervise restarts them) and
  *unexpected* ones, each with the log lines that explain it, if any.
* **RSS growth** per process (a restart is a new series): after a 10 s warm-up, the highest
  RSS of its last minute minus that of its first when it lived at least two minutes past the
  warm-up; else of its last and first third when it lived 45 s; not measured otherwise. Per
  service the largest growth of its measured processes.
"""

from __future__ import annotations

import bisect
import itertools
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from smavenus.testing.soak.energy import Sample, judge_energy
from smavenus.testing.soak.setup import SoakWorld
from smavenus.testing.soak.supervision import Life, ServiceWatch
from smavenus.testing.stack import SERVICES

__all__ = ["Record", "Sample", "judge"]

DBUS_EXIT_WINDOW_S = 10.0
RSS_WARMUP_S = 10.0
#: The vebus-publisher's default: the most a kill -9 loses of its counting.
SAVE_INTERVAL_S = 8.0
GAP_LISTED_S = 1.5
#: After the gateway hears the SI again, its first snapshot takes two SI cycles.
OUTAGE_TAIL_S = 1.0
#: An SI alarm is a real battery condition when the truth was beyond these (the simulated
#: BMS's alarm levels of the soak's scenario; the controller's for the pack voltage).
REAL_LIMITS = {
    "high_voltage": lambda t: t["cell_max_v"] >= 3.65 or t["pack_v"] >= 57.2,
    "low_voltage": lambda t: t["cell_min_v"] <= 2.80,
    "high_temperature": lambda t: t["temperature_c"] >= 60.0,
    "low_temperature": lambda t: t["temperature_c"] <= -20.0,
    "high_temperature_charge": lambda t: t["temperature_c"] >= 45.0,
    "low_temperature_charge": lambda t: t["temperature_c"] <= 0.0,
}


@dataclass
class Record:
    options: dict[str, Any]
    unix_minus_mono: float = 0.0
    stack_up: float = 0.0
    ready_after_s: float | None = None  #: from the stack up to the system ready
    recovered_after_s: float | None = None  #: from the last undo to the system ready again
    inject_from: float = 0.0
    inject_until: float = 0.0
    observed_until: float = 0.0
    injections: list[dict[str, Any]] = field(default_factory=list)
    undos: list[dict[str, Any]] = field(default_factory=list)
    kills: list[tuple[str, int, float]] = field(default_factory=list)
    dbus_restarts: list[float] = field(default_factory=list)
    samples: list[Sample] = field(default_factory=list)
    writes: defaultdict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    settings: list[dict[str, Any]] = field(default_factory=list)
    sim_events: list[dict[str, Any]] = field(default_factory=list)
    bms_arrivals: list[tuple[float, int]] = field(default_factory=list)


def judge(record: Record, watch: ServiceWatch, world: SoakWorld) -> dict[str, Any]:
    speed = world.speed
    offset = statistics.median(s.sim_s - speed * s.mono for s in record.samples)

    def to_sim(mono: float) -> float:
        return offset + speed * mono

    events = [e for e in record.sim_events if e.get("event") != "summary"]
    injections = Counter(str(i["kind"]) for i in record.injections if "error" not in i)
    failed = Counter(str(i["kind"]) for i in record.injections if "error" in i)
    alarms, unexplained, real = _alarms(events)
    report: dict[str, Any] = {
        "injections": dict(sorted(injections.items())),
        "injections_total": sum(injections.values()),
        **_gaps(record, to_sim, speed),
        "f952": sum(1 for e in events if e["event"] == "f952_raised"),
        "w952": sum(1 for e in events if e["event"] == "w952_raised"),
        "si_alarms": alarms,
        "si_alarms_unexplained": unexplained,
        "si_alarms_real": real,
        "si_warnings": dict(
            sorted(Counter(e["code"] for e in events if e["event"] == "warning_raised").items())
        ),
        **_exits(record, watch),
    }
    energy = judge_energy(record.samples, speed, SAVE_INTERVAL_S, _outages(record, to_sim, speed))
    report["energy_error_pct"] = energy["error_pct"]
    report["energy"] = energy
    report["rss_growth_kib"], report["rss"] = _rss(watch.lives, record.observed_until)
    report["injection_failures"] = dict(sorted(failed.items()))
    report["failure_details"] = [i for i in record.injections if "error" in i][:20]
    report["undo_failures"] = [u for u in record.undos if "error" in u][:20]
    report["setvalue"] = _writes(record)
    report["settings_invalid"] = dict(Counter(s["outcome"] for s in record.settings))
    report["settings_kept"] = [s for s in record.settings if s["outcome"] == "kept"]
    report["log_warnings"] = {s: dict(c.most_common(15)) for s, c in watch.log_counts.items()}
    report["unstructured_log_lines"] = [
        {"service": s, "line": line} for s, _t, line in watch.unstructured[:20]
    ]
    report["ready_after_s"] = record.ready_after_s
    report["recovered_after_s"] = record.recovered_after_s
    report["wall_s"] = {
        "injecting": round(record.inject_until - record.inject_from, 1),
        "observed": round(record.observed_until - record.inject_from, 1),
    }
    report["options"] = record.options
    return report


def _outages(record: Record, to_sim: Any, speed: float) -> list[tuple[float, float]]:
    """When the SI's frames did not reach the publisher: from each gateway kill and adapter
    unplug until the gateway's first BMS frame after it (it sends at once on opening the bus,
    so that is when it hears the SI again), plus a second for the first snapshot."""
    offset = to_sim(0.0)
    arrivals = sorted((t - offset) / speed for t, _ in record.bms_arrivals)  # as monotonic
    plugs = sorted(u["t"] for u in record.undos if u["what"] == "plug")
    starts = [(t, t) for _s, _p, t in record.kills if _s == SERVICES[0]]
    for inj in record.injections:
        if inj["kind"] == "adapter_unplug" and "error" not in inj:
            replug = next((p for p in plugs if p >= inj["t"]), record.observed_until)
            starts.append((inj["t"], replug))
    outages = []
    for since, resumes_after in starts:
        index = bisect.bisect_right(arrivals, resumes_after + 0.2)  # not the kill's own set
        back = arrivals[index] if index < len(arrivals) else record.observed_until
        outages.append((since, back + OUTAGE_TAIL_S))
    return outages


def _gaps(record: Record, to_sim: Any, speed: float) -> dict[str, Any]:
    start, end = to_sim(record.inject_from), to_sim(record.observed_until)
    times = sorted(t for t, _ in record.bms_arrivals if start <= t <= end)
    plugs = iter(sorted(u["t"] for u in record.undos if u["what"] == "plug"))
    unplugs: list[tuple[float, float]] = []
    for inj in sorted(record.injections, key=lambda i: i["t"]):
        if inj["kind"] == "adapter_unplug" and "error" not in inj:
            unplugs.append((to_sim(inj["t"]), to_sim(next(plugs, record.observed_until))))
    longest = outside = 0.0
    listed = []
    for a, b in itertools.pairwise(times):
        gap = (b - a) / speed
        longest = max(longest, gap)
        cable = any(a < u_end and b > u_start for u_start, u_end in unplugs)
        if not cable:
            outside = max(outside, gap)
        if gap > GAP_LISTED_S:
            near = [i["kind"] for i in record.injections if a - speed <= to_sim(i["t"]) <= b]
            listed.append(
                {"at_s": round((a - start) / speed, 1), "gap_s": round(gap, 3),
                 "during_unplug": cable, "injections": near}
            )  # fmt: skip
    recoveries = [
        round((next((t for t in times if t >= u_end), end) - u_end) / speed, 3)
        for _u, u_end in unplugs
    ]
    return {
        "longest_bms_gap_s": round(longest, 3),
        "longest_bms_gap_outside_unplug_s": round(outside, 3),
        "replug_recovery_s": {
            "max": max(recoveries, default=None),
            "mean": round(statistics.fmean(recoveries), 3) if recoveries else None,
        },
        "bms_gaps_over_1_5_s": listed,
        "bms_frames": len(times),
    }


def _writes(record: Record) -> dict[str, Any]:
    """How the invalid writes were answered; the accepted ones by path and value."""
    outcomes: Counter[str] = Counter()
    accepted: dict[str, int] = {}
    for key, counts in sorted(record.writes.items()):
        outcomes.update(counts)
        if counts["ok"]:
            accepted[key] = counts["ok"]
    return {"writes": sum(outcomes.values()), "outcomes": dict(outcomes), "accepted": accepted}


def _alarms(events: list[dict[str, Any]]) -> tuple[dict[str, int], list[Any], list[Any]]:
    by_kind: Counter[str] = Counter()
    unexplained, real = [], []
    for event in events:
        if event["event"] != "alarm_raised":
            continue
        name = f"{event['code']} {event['condition']}"
        by_kind[name] += 1
        truth = event.get("truth") or {}
        check = REAL_LIMITS.get(str(event["condition"]))
        entry = {"t_s": event["t_s"], "alarm": name, "truth": truth}
        if check is not None and truth and check(truth):
            real.append(entry)
        else:
            unexplained.append(entry)
    return dict(sorted(by_kind.items())), unexplained, real


def _exits(record: Record, watch: ServiceWatch) -> dict[str, Any]:
    killed = {(service, pid) for service, pid, _t in record.kills}
    expected: defaultdict[str, Counter[str]] = defaultdict(Counter)
    unexpected: Counter[str] = Counter()
    details = []
    kills = Counter(service for service, _pid, _t in record.kills)
    for life in watch.lives:
        if life.ended is None or life.ended > record.observed_until:
            continue
        if (life.service, life.pid) in killed:
            continue
        ended_unix = life.ended + record.unix_minus_mono
        lines = [
            line
            for line in watch.exit_lines
            if line.service == life.service and ended_unix - 10.0 <= line.unix <= ended_unix + 1.0
        ]
        reason = lines[-1].fields.get("reason", lines[-1].event) if lines else "no log line"
        after_restart = any(
            0.0 <= life.ended - t <= DBUS_EXIT_WINDOW_S for t in record.dbus_restarts
        )
        if reason == "dbus_connection_lost" and after_restart:
            expected[life.service]["dbus_connection_lost after a dbus-daemon restart"] += 1
            continue
        unexpected[life.service] += 1
        details.append(
            {"service": life.service, "pid": life.pid,
             "at_s": round(life.ended - record.inject_from, 1), "reason": reason,
             "lines": [line.text for line in lines[-5:]]}
        )  # fmt: skip
    return {
        "unexpected_exits": dict(unexpected),
        "unexpected_exit_details": details[:20],
        "expected_exits": {s: dict(c) for s, c in expected.items()},
        "kills": dict(kills),
        "dbus_restarts": len(record.dbus_restarts),
    }


def _rss(lives: list[Life], until: float) -> tuple[dict[str, int | None], dict[str, Any]]:
    growth: dict[str, int | None] = {}
    detail: dict[str, Any] = {}
    for service in sorted({life.service for life in lives}):
        measured = []
        mine = [life for life in lives if life.service == service]
        for life in mine:
            window = _windows(life, until)
            if window is not None:
                measured.append((window[1] - window[0], life, window))
        longest = max(((life.ended or until) - life.started for life in mine), default=0.0)
        if not measured:
            growth[service] = None
            detail[service] = {"processes": len(mine), "longest_life_s": round(longest, 1)}
            continue
        worst = max(measured, key=lambda m: m[0])
        growth[service] = worst[0]
        detail[service] = {
            "processes": len(mine),
            "measured": len(measured),
            "longest_life_s": round(longest, 1),
            "worst_pid": worst[1].pid,
            "first_kib": worst[2][0],
            "last_kib": worst[2][1],
            "window_s": worst[2][2],
        }
    return growth, detail


def _windows(life: Life, until: float) -> tuple[int, int, float] | None:
    """(first window's max RSS, last window's, window length) or None if too short."""
    samples = [(t, kib) for t, kib in life.rss_kib if t >= life.started + RSS_WARMUP_S]
    if len(samples) < 6:
        return None
    span = samples[-1][0] - samples[0][0]
    if span >= 120.0:
        window = 60.0
    elif span >= 45.0:
        window = span / 3
    else:
        return None
    first = max(kib for t, kib in samples if t <= samples[0][0] + window)
    last = max(kib for t, kib in samples if t >= samples[-1][0] - window)
    return first, last, round(window, 1)
