"""The README's first command: the whole system with a live view, values within 10 s."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = shutil.which("smavenus-bench", path=str(Path(sys.executable).parent)) or "smavenus-bench"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("svscan") is None, reason="daemontools is not installed"),
]


def test_live_values_from_every_part_within_ten_seconds(tmp_path: Path) -> None:
    result = subprocess.run(
        [BENCH, "--duration", "10", "--workdir", str(tmp_path / "bench")],
        capture_output=True, text=True, timeout=90, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    screens = result.stdout.split("-" * 78)
    complete = [
        i for i, screen in enumerate(screens) if "SI present" in screen and "waiting" not in screen
    ]
    assert complete, result.stdout
    # one screen per second from start-up: values from every part well within 10 s
    assert complete[0] < 8, screens[complete[0] - 1]
    last = screens[-2]  # the last full screen before "stopping…"
    assert "SI present" in last
    assert "CVL    56.0 V" in last  # what the gateway sends, from the controller's command
    assert "source controller" in last
    assert "com.victronenergy.vebus." in last and "connected 1" in last
    assert "waiting" not in last, last
    assert "F952 no" in last
    # stopped cleanly: the simulator printed its summary, and no service is left running
    assert "BMS frames received" in result.stdout
    assert not list((tmp_path / "bench" / "service").glob("*/supervise/lock")) or all(
        subprocess.run(["svok", str(p.parent.parent)], check=False).returncode != 0
        for p in (tmp_path / "bench" / "service").glob("*/supervise/lock")
    )


def _left_running(workdir: Path) -> list[str]:
    """Processes whose command line names the bench's working directory."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue  # gone meanwhile
        if str(workdir) in cmdline:
            found.append(f"{proc.name}: {cmdline}")
    return found


def test_a_hang_up_stops_everything_the_bench_started(tmp_path: Path) -> None:
    """A closed terminal or SSH session (SIGHUP) must not leave the bus and services running."""
    workdir = tmp_path / "bench"
    bench = subprocess.Popen(
        [BENCH, "--workdir", str(workdir)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, start_new_session=True,
    )  # fmt: skip
    assert bench.stdout is not None
    try:
        for line in bench.stdout:  # wait for the running system itself, not for a time
            if "SI present" in line:
                break
        else:
            pytest.fail("the bench ended before the SI was present")
        assert _left_running(workdir), "the system runs (proof the check below can see it)"
        bench.send_signal(signal.SIGHUP)
        bench.stdout.close()  # as a closed terminal: nobody reads any more
        assert bench.wait(timeout=60) == 128 + signal.SIGHUP or bench.returncode == 0
    finally:
        if bench.poll() is None:
            bench.kill()
    assert _left_running(workdir) == []
