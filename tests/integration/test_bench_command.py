"""The README's first command: the whole system with a live view, values within 10 s."""

from __future__ import annotations

import shutil
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
