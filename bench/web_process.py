"""smavenus-web's cost with one browser connected: RSS, USS and CPU.

    .venv/bin/python bench/web_process.py --seconds 60

The whole bench stack (private bus, simulated SI, the three services and smavenus-web under
daemontools), one headless Chromium on the page (server-sent events flowing, charts drawn);
the web process is measured with psutil over ``--seconds``: resident and unique memory at
the end, CPU time used in the window. The chart ring's own size is computed from its arrays
(allocated in full at start, so it is in the RSS from the first second) and checked with
tracemalloc in this process.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import tracemalloc
from pathlib import Path

import psutil

from smavenus.config import AppConfig
from smavenus.testing.browser import Browser
from smavenus.testing.stack import Stack
from smavenus.web.history import SERIES, History


def ring_cost() -> tuple[int, int, int]:
    cfg = AppConfig().web
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    history = History(cfg.history_hours, cfg.history_interval_s)
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return history.capacity, history.nbytes, after - before


def sample(process: psutil.Process) -> tuple[float, float, float]:
    info = process.memory_full_info()
    cpu = process.cpu_times()
    return info.rss / 2**20, info.uss / 2**20, cpu.user + cpu.system


async def measure(stack: Stack, seconds: float, profile: Path) -> None:
    pid = stack.pid("smavenus-web")
    assert pid is not None
    web = psutil.Process(pid)
    rss0, uss0, _ = sample(web)
    async with Browser(profile) as browser:
        await browser.open(stack.web_url + "/")
        await browser.wait_for("document.getElementById('link').classList.contains('ok')", 60)
        _, _, cpu_start = sample(web)
        start = time.monotonic()
        updates = 0
        last = None
        while time.monotonic() - start < seconds:
            now = await browser.evaluate("document.getElementById('link').dataset.updated")
            if now != last:
                updates, last = updates + 1, now
            await asyncio.sleep(0.5)  # a sampling interval
        elapsed = time.monotonic() - start
        rss, uss, cpu_end = sample(web)
    cpu_ms_per_s = (cpu_end - cpu_start) / elapsed * 1000
    print(f"idle (no browser):       RSS {rss0:.1f} MiB, USS {uss0:.1f} MiB")
    print(f"one browser, {elapsed:.0f} s:     RSS {rss:.1f} MiB, USS {uss:.1f} MiB")
    share = cpu_ms_per_s / 10
    print(f"CPU with one browser:    {cpu_ms_per_s:.1f} ms per s ({share:.2f} % of a core)")
    print(f"page updates seen:       {updates} in {elapsed:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    capacity, nbytes, traced = ring_cost()
    print(
        f"chart ring: {capacity} points x {len(SERIES)} series = {nbytes / 1024:.0f} KiB "
        f"(tracemalloc: {traced / 1024:.0f} KiB)"
    )
    with (
        tempfile.TemporaryDirectory(prefix="smavenus-web-bench-") as tmp,
        Stack(Path(tmp) / "stack") as stack,
    ):
        stack.wait_until_running()
        time.sleep(5)  # let the first values arrive before measuring idle memory
        asyncio.run(measure(stack, args.seconds, Path(tmp) / "chromium"))


if __name__ == "__main__":
    main()
