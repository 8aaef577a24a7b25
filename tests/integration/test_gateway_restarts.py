"""A gateway that fails for real is restarted by real daemontools with no BMS gap over 2 s.

The whole system runs as on a GX (:class:`~smavenus.testing.stack.Stack`); the gateway's
first start is the production ``main()`` with a staged fault (the send timer's callback
raises, see ``faulty_gateway.py``), every later start the plain console script. The
simulated SI's own record of BMS frame arrivals is the judge.
"""

from __future__ import annotations

import itertools
import shutil
import sys
from pathlib import Path

import pytest

from smavenus.testing.stack import SERVICES, Stack
from smavenus.testing.waiting import eventually

GATEWAY = SERVICES[0]
FAULTY_GATEWAY = Path(__file__).with_name("faulty_gateway.py")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("svscan") is None, reason="daemontools is not installed"),
]


def stand_in_bin(directory: Path) -> Path:
    """The console scripts, the gateway's first start replaced by its staged-fault variant."""
    directory.mkdir()
    real_bin = Path(sys.executable).parent
    for service in SERVICES[1:]:
        (directory / service).symlink_to(real_bin / service)
    mark = directory / "faulted-once"
    script = directory / GATEWAY
    script.write_text(
        "#!/bin/sh\n"
        f'if [ ! -e "{mark}" ]; then\n'
        f'    : > "{mark}"\n'
        "    exec env SMAVENUS_TEST_FAULT=send-timer SMAVENUS_TEST_FAULT_AFTER_SETS=4 "
        f'"{sys.executable}" "{FAULTY_GATEWAY}" "$@"\n'
        "fi\n"
        f'exec "{real_bin / GATEWAY}" "$@"\n'
    )
    script.chmod(0o755)
    return directory


async def test_a_raising_send_timer_ends_the_gateway_and_daemontools_restarts_it_in_time(
    tmp_path: Path,
) -> None:
    with Stack(tmp_path / "stack", bin_dir=stand_in_bin(tmp_path / "bin")) as stack:
        stack.wait_until_running()
        first = stack.pid(GATEWAY)
        restarted = await eventually(
            lambda: (pid := stack.pid(GATEWAY)) not in (None, first) and pid,
            60.0,
            "the gateway to fail and be restarted",
            stack.describe,
        )
        at_restart = stack.sim.status()["sim_time_s"]
        await eventually(
            lambda: stack.sim.status()["sim_time_s"] > at_restart + 5.0, 60.0, "5 s more"
        )
        assert stack.pid(GATEWAY) == restarted  # restarted once, and running since
        log_file = stack.log_dir / GATEWAY / "current"

        def failure_logged() -> str | None:  # multilog writes it a moment after the process
            log = log_file.read_text()
            return log if "event=loop_callback_failed" in log else None

        log = await eventually(failure_logged, 30.0, "the failure in the gateway's log")
        events = [e["event"] for e in stack.sim.events()]
    arrivals = sorted(t for t, _can_id in stack.sim.bms_arrivals())
    gaps = [b - a for a, b in itertools.pairwise(arrivals) if a > arrivals[0] + 1.0]
    assert "event=loop_callback_failed" in log and "StagedFaultError" in log, log
    assert max(gaps) <= 2.0, (max(gaps), log)
    assert "f952_raised" not in events and "w952_raised" not in events
