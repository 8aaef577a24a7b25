"""A test run ended by a hang-up or a TERM stops what its tests started
(:mod:`smavenus.testing.interrupt`)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from smavenus.testing.waiting import eventually

#: A test that starts a process in a session of its own (as Stack starts svscan), says so,
#: and waits; its ``finally`` is what must run.
WAITING_TEST = """
import os, pathlib, subprocess, time

def test_waits_with_a_process_of_its_own():
    child = subprocess.Popen(["sleep", "600"], start_new_session=True)
    try:
        pathlib.Path(os.environ["READY_FILE"]).write_text(str(child.pid))
        time.sleep(600)  # the signal ends this
    finally:
        child.kill()
        child.wait()
"""


#: pytest as a terminal starts it: SIGHUP at its default. This test may itself run under
#: ``nohup`` (SIGHUP ignored, which a child inherits and the plugin rightly leaves alone).
AS_FROM_A_TERMINAL = (
    "import signal, sys, pytest\n"
    "signal.signal(signal.SIGHUP, signal.SIG_DFL)\n"
    "sys.exit(pytest.main(sys.argv[1:]))\n"
)


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.parametrize("signum", [signal.SIGHUP, signal.SIGTERM])
async def test_a_hang_up_or_term_unwinds_the_run_and_stops_what_it_started(
    tmp_path: Path, signum: signal.Signals
) -> None:
    (tmp_path / "test_waiting.py").write_text(WAITING_TEST)
    ready = tmp_path / "ready"
    run = await asyncio.create_subprocess_exec(
        sys.executable, "-c", AS_FROM_A_TERMINAL, "-q", "-p", "smavenus.testing.interrupt",
        "-p", "no:cacheprovider", "--rootdir", str(tmp_path), "-c", os.devnull,
        str(tmp_path / "test_waiting.py"),
        env={**os.environ, "READY_FILE": str(ready)},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        await eventually(ready.exists, 60.0, "the inner test started its process")
        child = int(ready.read_text())
        assert alive(child)
        run.send_signal(signum)
        output, _ = await asyncio.wait_for(run.communicate(), 60.0)
    finally:
        if run.returncode is None:
            run.kill()
            await run.wait()
    assert run.returncode == pytest.ExitCode.INTERRUPTED, output.decode()
    assert not alive(child), output.decode()
