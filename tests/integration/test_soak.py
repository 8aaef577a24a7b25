"""A CI-sized soak: four minutes of random faults on the whole system, judged by the SI.

The engine is :mod:`smavenus.testing.soak` (``bench/soak.py`` runs the long one): the four
services under real daemontools on a private bus against the simulated SI, ≥ 200 faults of
every kind injected and undone — kill -9 of each process, a dbus-daemon restart, adapter
unplugs, the battery monitor and BMS vanishing, freezing, sending NaN and impossible values,
malformed and random CAN frames, 4,500 frames/s bursts, invalid SetValue writes of every
D-Bus type and invalid settings — and then the simulator's record and the processes say
whether smavenus kept the SI fed and the system whole.

Why the numbers: the gateway's frame set is due every second and the SI faults after 60 s
without one, so 2 s is one missed period of slack (a restarted gateway's measured gap is
under 2 s, ``test_gateway_restarts.py``); a gap while the adapter is out is the cable's, not
smavenus's (reported apart). Energy is judged over the seconds the publisher could count
(``smavenus.testing.soak.energy``); 2 MB of RSS over a process's life is far above what
Python's allocator moves by itself in a few minutes.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import pytest

from smavenus.testing.soak import Soak, SoakOptions
from smavenus.testing.soak.injections import RESTARTS, catalogue

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("svscan") is None, reason="daemontools is not installed"),
]

#: 4 minutes of injections at 60 a minute (≥ 200 with the interval's spread); the restarts
#: start after 140 s, so the first processes live long enough for a minute-to-minute RSS
#: comparison, and one is due every 7.5-22.5 s after that, so each of the five happens.
OPTIONS = SoakOptions(
    minutes=4.0, speed=5.0, seed=1, rate_per_min=60.0, calm_s=140.0, restart_every_s=15.0
)
RSS_GROWTH_MAX_KIB = 2 * 1024


def test_a_ci_sized_soak_leaves_the_si_fed_and_the_system_whole(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = asyncio.run(Soak(OPTIONS, tmp_path).run())
    details = json.dumps(report, indent=1)
    with capsys.disabled():
        print("\n" + details)  # the soak's whole record: what was done and what it showed

    assert report["injections_total"] >= 200, details
    kinds = [k.name for k in (*catalogue(), *RESTARTS)]
    assert all(report["injections"].get(kind, 0) >= 1 for kind in kinds), report["injections"]
    assert report["injection_failures"] == {}, details
    assert report["undo_failures"] == [], details
    assert report["ready_after_s"] is not None and report["recovered_after_s"] is not None

    assert report["longest_bms_gap_outside_unplug_s"] <= 2.0, details
    assert report["f952"] == 0 and report["w952"] == 0, details
    assert report["si_alarms_unexplained"] == [], details
    assert report["unexpected_exits"] == {}, details

    energy = report["energy"]
    assert report["energy_error_pct"] is not None, details
    assert abs(report["energy_error_pct"]) <= 2.0, energy
    assert energy["restarts_over_allowance"] == [], energy

    growth = report["rss_growth_kib"]
    assert all(growth.get(s) is not None for s in report["rss"]), report["rss"]
    assert all(kib <= RSS_GROWTH_MAX_KIB for kib in growth.values()), report["rss"]

    assert report["settings_kept"] == [], details
