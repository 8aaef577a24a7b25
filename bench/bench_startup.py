"""How long a newcomer waits for live values: ``smavenus-bench`` start → first complete screen.

    .venv/bin/python bench/bench_startup.py [--runs 3]

Runs the bench command (private bus, simulator on a pty, the three services under
daemontools) with its output on a pipe, and times when the first screen arrives in which
every part (SI snapshot, BMS frames sent, controller, vebus service) shows values.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

BENCH = shutil.which("smavenus-bench", path=str(Path(sys.executable).parent)) or "smavenus-bench"
SEPARATOR = "-" * 78


def first_complete_screen_s() -> float:
    start = time.monotonic()
    process = subprocess.Popen(
        [BENCH, "--duration", "15"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    assert process.stdout is not None
    screen: list[str] = []
    elapsed = float("nan")
    for line in process.stdout:
        if line.rstrip("\n") != SEPARATOR:
            screen.append(line)
            continue
        text = "".join(screen)
        screen = []
        if "SI present" in text and "waiting" not in text:
            elapsed = time.monotonic() - start
            break
    process.terminate()
    process.communicate(timeout=60)
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    runs = [first_complete_screen_s() for _ in range(parser.parse_args().runs)]
    print(
        "start → first screen with values from every part: " + ", ".join(f"{r:.2f} s" for r in runs)
    )
    print(f"median {statistics.median(runs):.2f} s (goal: within 10 s)")


if __name__ == "__main__":
    main()
