"""What the control socket's ``inject`` and ``burst`` requests put on the host's line.

Both reach the host (the gateway) only, never the simulated SI: they play a third device on the
bus, or a damaged line. ``inject`` delivers its frames and raw lines in one write, so they
arrive together and nothing else is interleaved; ``burst`` sends random frames with foreign
IDs at a rate for a while, a millisecond's worth per write, as a full-speed USB adapter hands
the host a packet per millisecond (``bench/gateway_throughput.py`` offers its flood the same
way).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import structlog

from smavenus.io.sim.links import InjectedFrame, SiLink
from smavenus.io.tasks import OwnedTasks
from smavenus.sim.control import BurstRequest, InjectRequest

log = structlog.get_logger(__name__)

#: Burst IDs: far from the SI's status frames (0x300-0x30A) and the BMS frames (0x351-0x35F).
FOREIGN_IDS = range(0x400, 0x800)
#: Frames are drawn from a pool this large (drawing each one would cost the simulator's CPU).
POOL_SIZE = 512
TICK_S = 0.001


@dataclass
class InjectionCounters:
    frames: int = 0
    lines: int = 0
    undelivered: int = 0  #: nothing was taken: no adapter, channel closed, buffer full
    bursts: int = 0
    burst_offered: int = 0
    burst_delivered: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "frames": self.frames,
            "lines": self.lines,
            "undelivered": self.undelivered,
            "bursts": self.bursts,
            "burst_offered": self.burst_offered,
            "burst_delivered": self.burst_delivered,
        }


class Injector:
    """Performs ``inject`` and ``burst`` on a link; one burst at a time."""

    def __init__(self, link: SiLink) -> None:
        self.link = link
        self.counters = InjectionCounters()
        self._burst: asyncio.Task[None] | None = None
        self._tasks = OwnedTasks("injector")  # a burst that fails is logged, not lost

    def inject(self, request: InjectRequest) -> dict[str, Any]:
        frames = [
            InjectedFrame(f.can_id, bytes.fromhex(f.data), f.extended, f.remote)
            for f in request.frames
        ]
        raw = [line.encode("latin-1") for line in request.lines]
        delivered = self.link.inject(frames, raw)
        if delivered:
            self.counters.frames += len(frames)
            self.counters.lines += len(raw)
        else:
            self.counters.undelivered += len(frames) + len(raw)
        return {"delivered": delivered}

    def burst(self, request: BurstRequest) -> dict[str, Any]:
        if self._burst is not None and not self._burst.done():
            raise ValueError("a burst is already running")
        self.counters.bursts += 1
        self._burst = self._tasks.spawn(self._run(request), "burst")
        return {"burst": self.counters.bursts}

    async def stop(self) -> None:
        await self._tasks.cancel_all()

    async def _run(self, request: BurstRequest) -> None:
        rng = random.Random(request.seed)  # noqa: S311 - test traffic, not security
        pool = [
            InjectedFrame(rng.choice(FOREIGN_IDS), rng.randbytes(rng.randint(0, 8)))
            for _ in range(POOL_SIZE)
        ]
        loop = asyncio.get_running_loop()
        start = loop.time()
        offered = delivered = 0
        while (elapsed := loop.time() - start) < request.duration_s:
            due = int(elapsed * request.rate_hz) - offered
            if due > 0:
                batch = _take(pool, offered, due)
                delivered += len(batch) if self.link.inject(batch, []) else 0
                offered += due
            await asyncio.sleep(TICK_S)
        self.counters.burst_offered += offered
        self.counters.burst_delivered += delivered
        log.info(
            "burst_done",
            rate_hz=request.rate_hz,
            duration_s=request.duration_s,
            offered=offered,
            delivered=delivered,
        )


def _take(pool: Sequence[InjectedFrame], start: int, count: int) -> list[InjectedFrame]:
    return [pool[(start + i) % len(pool)] for i in range(count)]
