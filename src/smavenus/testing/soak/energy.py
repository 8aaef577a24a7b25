"""The vebus ``/Energy/*`` counters against the simulator's own account, honestly.

Once a second the soak reads the simulator's ``reported`` energy (what the SI's 0x300/0x301
frames said, each cycle held until the next: ``smavenus.sim.energy``) and the vebus
counters, with ``/Connected`` and the publisher's pid. The counters integrate on the wall
clock and the world runs ``speed`` times faster, so counted Wh × ``speed`` is comparable with
simulated Wh.

The comparison is made per node sum, which the vebus counters add up to whatever their
attribution between nodes (``smavenus.sim.energy``), over the seconds in which the publisher
could count what the SI said: the **same process** at both ends of the second, ``/Connected``
1 at both ends, and no *outage* of the SI's frames overlapping it. ``error_pct`` is over those
seconds only. Everything else is accounted for, not hidden:

* **outages**: seconds overlapping an outage of the SI's frames (an adapter out, a gateway
  restarting: from the fault until the gateway's first BMS frame after it, plus a second for
  the first snapshot), or with ``/Connected`` 0 at one end. The publisher holds the last
  power it knew — an estimate, right only as far as the power stayed what it was — and
  stops at ``snapshot_max_age_s``; what it counted there is reported, not judged. (Its
  counters on the bus move when a snapshot arrives, so after a silence they catch up in one
  step: a second's count may land in the next one. That is why an outage ends a second after
  the frames flow again, and why only whole stretches are compared.)
* **restarts**: a stretch over which the publisher's pid changed (a kill, an exit). It may
  lose what it counted since its last save (``[vebus] state_save_interval_s``, documented as
  the most a kill -9 loses) and cannot count while it is not running; the allowance is the
  truth over the stretch plus the save interval at that stretch's rate. A loss beyond it is
  reported (``restarts_over_allowance``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from smavenus.sim.energy import NODES

#: Each node sum of the simulator's account as the vebus counters that add up to it.
NODE_COUNTERS: dict[str, tuple[str, ...]] = {
    "ac_in_import": ("AcIn1ToAcOut", "AcIn1ToInverter", "AcIn2ToAcOut", "AcIn2ToInverter"),
    "ac_in_export": ("AcOutToAcIn1", "AcOutToAcIn2", "InverterToAcIn1", "InverterToAcIn2"),
    "inverter_out": ("InverterToAcOut", "InverterToAcIn1", "InverterToAcIn2"),
    "inverter_in": ("AcIn1ToInverter", "AcIn2ToInverter", "OutToInverter"),
    "ac_out_consumed": ("AcIn1ToAcOut", "AcIn2ToAcOut", "InverterToAcOut"),
    "ac_out_fed": ("AcOutToAcIn1", "AcOutToAcIn2", "OutToInverter"),
}
assert set(NODE_COUNTERS) == set(NODES)
#: The vebus rounds /Energy/* to 1 Wh: a comparison over a stretch may be off by that much
#: at each end.
ROUNDING_WH = 1.0
#: Nodes with less truth than this share of the busiest one are not judged in per-node
#: errors (a rounding is a large part of nothing).
NODE_MIN_SHARE = 0.05


@dataclass(frozen=True)
class Sample:
    mono: float
    sim_s: float
    reported_wh: Mapping[str, float]
    physical_wh: Mapping[str, float]
    vebus: Mapping[str, float] | None  #: /Energy/<name> kWh and /Connected
    publisher_pid: int | None

    def counted_wh(self, speed: float) -> dict[str, float]:
        assert self.vebus is not None
        return {
            node: 1000.0 * speed * sum(self.vebus.get(f"/Energy/{c}", 0.0) for c in counters)
            for node, counters in NODE_COUNTERS.items()
        }

    @property
    def counting(self) -> bool:
        return self.vebus is not None and self.vebus.get("/Connected") == 1.0


def _delta(a: Mapping[str, float], b: Mapping[str, float]) -> dict[str, float]:
    return {k: b[k] - a[k] for k in NODES}


def _add(total: dict[str, float], part: Mapping[str, float]) -> None:
    for k in NODES:
        total[k] = total.get(k, 0.0) + part[k]


def _flow(node_wh: Mapping[str, float]) -> float:
    """Energy that flowed (each flow is in two node sums: a source's and a sink's)."""
    return sum(node_wh[k] for k in NODES) / 2.0


def _pct(counted: float, truth: float) -> float | None:
    return None if truth <= 0 else round(100.0 * (counted - truth) / truth, 3)


@dataclass
class _Stretch:
    """Seconds of one kind, with the truth and what was counted over them."""

    seconds: float = 0.0
    truth_wh: float = 0.0
    counted_wh: float = 0.0

    def add(self, seconds: float, truth: Mapping[str, float], counted: Mapping[str, float]) -> None:
        self.seconds += seconds
        self.truth_wh += _flow(truth)
        self.counted_wh += _flow(counted)

    def to_dict(self) -> dict[str, Any]:
        return {
            "seconds": round(self.seconds, 1),
            "truth_wh": round(self.truth_wh, 1),
            "counted_wh": round(self.counted_wh, 1),
            "error_pct": _pct(self.counted_wh, self.truth_wh),
        }


@dataclass
class _Account:
    speed: float
    save_interval_s: float
    clean_truth: dict[str, float] = field(default_factory=lambda: dict.fromkeys(NODES, 0.0))
    clean_counted: dict[str, float] = field(default_factory=lambda: dict.fromkeys(NODES, 0.0))
    clean_s: float = 0.0
    outages: _Stretch = field(default_factory=_Stretch)
    restarts: list[dict[str, float]] = field(default_factory=list)
    worst: list[dict[str, float]] = field(default_factory=list)

    def stretch(self, a: Sample, b: Sample, whole_second: bool, in_outage: bool) -> None:
        truth = _delta(a.reported_wh, b.reported_wh)
        counted = _delta(a.counted_wh(self.speed), b.counted_wh(self.speed))
        seconds = b.mono - a.mono
        rounding = 2 * ROUNDING_WH * self.speed
        if a.publisher_pid != b.publisher_pid:
            rate = _flow(truth) / seconds if seconds > 0 else 0.0
            allowance = _flow(truth) + rate * self.save_interval_s + rounding
            lost = _flow(truth) - _flow(counted)
            self.restarts.append(
                {"at": a.mono, "seconds": seconds, "lost_wh": lost, "allowance_wh": allowance}
            )
        elif not whole_second or in_outage:
            self.outages.add(seconds, truth, counted)
        else:
            _add(self.clean_truth, truth)
            _add(self.clean_counted, counted)
            self.clean_s += seconds
            miss = _flow(counted) - _flow(truth)
            self.worst.append({"at": a.mono, "truth_wh": _flow(truth), "miss_wh": miss})


def judge_energy(
    samples: Sequence[Sample],
    speed: float,
    save_interval_s: float,
    outages: Sequence[tuple[float, float]] = (),
) -> dict[str, Any]:
    """``outages``: (from, until) monotonic seconds in which the SI's frames did not flow."""
    points = [s for s in samples if s.vebus is not None]
    account = _Account(speed, save_interval_s)
    start = 0
    while start + 1 < len(points):
        if not (points[start].counting and points[start].publisher_pid is not None):
            start += 1
            continue
        end = start + 1  # the next point where the publisher counts again
        while end < len(points) and not (points[end].counting and points[end].publisher_pid):
            end += 1
        if end == len(points):
            break
        a, b = points[start], points[end]
        in_outage = any(a.mono < until and b.mono > since for since, until in outages)
        account.stretch(a, b, end == start + 1, in_outage)
        start = end
    return _report(account, points)


def _report(account: _Account, points: Sequence[Sample]) -> dict[str, Any]:
    clean_truth, clean_counted = account.clean_truth, account.clean_counted
    busiest = max(clean_truth.values(), default=0.0)
    per_node = {
        node: _pct(clean_counted[node], clean_truth[node])
        for node in NODES
        if busiest > 0 and clean_truth[node] >= NODE_MIN_SHARE * busiest
    }
    overall = resolution = None
    if points:
        first, last = points[0], points[-1]
        truth_all = _flow(_delta(first.reported_wh, last.reported_wh))
        counted_all = _flow(_delta(first.counted_wh(account.speed), last.counted_wh(account.speed)))
        overall = _pct(counted_all, truth_all)
        resolution = _pct(truth_all, _flow(_delta(first.physical_wh, last.physical_wh)))
    restarts = account.restarts
    return {
        "error_pct": _pct(_flow(clean_counted), _flow(clean_truth)),
        "per_node_error_pct": per_node,
        "clean_seconds": round(account.clean_s, 1),
        "clean_truth_wh": round(_flow(clean_truth), 1),
        "clean_counted_wh": round(_flow(clean_counted), 1),
        "outages": account.outages.to_dict(),
        "restarts": len(restarts),
        "restart_lost_wh": round(sum(r["lost_wh"] for r in restarts), 1),
        "restart_allowance_wh": round(sum(r["allowance_wh"] for r in restarts), 1),
        "restarts_over_allowance": [
            {k: round(v, 3) for k, v in r.items()}
            for r in restarts
            if r["lost_wh"] > r["allowance_wh"]
        ],
        "worst_clean_seconds": [
            {k: round(v, 3) for k, v in w.items()}
            for w in sorted(account.worst, key=lambda w: -abs(w["miss_wh"]))[:5]
        ],
        "whole_run_error_pct": overall,
        "si_resolution_pct": resolution,
        "speed": account.speed,
    }
