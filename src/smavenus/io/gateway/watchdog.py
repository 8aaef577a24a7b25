"""A watchdog thread that notices a stalled event loop.

The loop calls :meth:`LoopWatchdog.beat` from a timer. If no beat arrives for ``stall_s``,
the thread calls ``on_stall(stalled_for_s)`` once. In the gateway that action sends the safe
frame set from this thread (CCL 0 A; see ``CommandPolicy.safe_output``) and exits the process
with :data:`EXIT_WATCHDOG`, so daemontools or systemd start a fresh one that resumes within a
second. Why not only rely on systemd's WatchdogSec: Venus OS runs daemontools, which has no
watchdog, and on socketcan a hung Python leaves the kernel repeating the last limits forever.

A loop stuck in C code that holds the GIL also stops this thread; systemd's watchdog (fed
from the same loop timer via ``WATCHDOG=1``) covers that case where it exists.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Sequence

#: Exit status after a stall, distinct from a crash (1) and a configuration error (2).
EXIT_WATCHDOG = 3


class LoopWatchdog:
    def __init__(self, stall_s: float, on_stall: Callable[[float], None]) -> None:
        self.stall_s = stall_s
        self._on_stall = on_stall
        self._last_beat = time.monotonic()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.fired = False

    @property
    def beat_interval_s(self) -> float:
        """How often the loop should beat: several beats fit in one stall period."""
        return self.stall_s / 4

    def beat(self) -> None:
        self._last_beat = time.monotonic()

    def start(self) -> None:
        self.beat()
        self._thread = threading.Thread(target=self._watch, name="loop-watchdog", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=1.0)

    def _watch(self) -> None:
        # Event.wait, not sleep: stop() ends the thread at once.
        while not self._stop.wait(self.stall_s / 8):
            stalled_for = time.monotonic() - self._last_beat
            if stalled_for >= self.stall_s:
                self.fired = True
                self._on_stall(stalled_for)
                return


class LoopHeartbeat:
    """Calls ``beats`` from the event loop every ``interval_s`` (a ``call_later`` chain).

    What it proves is that the loop still runs timers: the watchdog thread and systemd's
    ``WATCHDOG=1`` are both fed from here.
    """

    def __init__(self, interval_s: float, beats: Sequence[Callable[[], object]]) -> None:
        self.interval_s = interval_s
        self._beats = tuple(beats)
        self._handle: asyncio.TimerHandle | None = None

    def start(self) -> None:
        self._beat()

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _beat(self) -> None:
        for beat in self._beats:
            beat()
        self._handle = asyncio.get_running_loop().call_later(self.interval_s, self._beat)
