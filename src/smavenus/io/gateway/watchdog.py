"""A watchdog thread that watches the BMS frame stream itself, not a heartbeat.

The thread asks ``deadline()`` (``GatewayCore.watchdog_deadline`` as the loop last
published it) by when the next sign of progress is due: the next whole
frame set handed to the bus (on socketcan: the kernel's job refreshed while the bus is up),
or, while the bus is down, the re-open the link supervision scheduled. That deadline moves
only when frames actually leave or the link actually recovers, so a loop that still runs
but no longer sends (an exception ended the send timer, a wedged code path) is caught like
a loop that hangs. When it passes, ``on_stall(late_s)`` runs once in this thread: in the
gateway it sends the safe frame set and exits with :data:`EXIT_WATCHDOG`, so daemontools or
systemd start a fresh process that resumes within a second. Why not only systemd's
WatchdogSec: Venus OS runs daemontools, which has none, and on socketcan a hung Python
leaves the kernel repeating the last limits forever.

A loop stuck in C code that holds the GIL also stops this thread; systemd's watchdog (fed
only while the stream is on time, see :class:`LoopHeartbeat`) covers that where it exists.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import threading
import time
from collections.abc import Callable, Sequence

#: Exit status after a stall, distinct from a crash (1) and a configuration error (2).
EXIT_WATCHDOG = 3


class LoopWatchdog:
    def __init__(
        self,
        deadline: Callable[[], float],
        on_stall: Callable[[float], None],
        poll_s: float = 0.1,
    ) -> None:
        self._deadline = deadline
        self._on_stall = on_stall
        self._poll_s = poll_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.fired = False

    def start(self) -> None:
        self._thread = threading.Thread(target=self._watch, name="loop-watchdog", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=1.0)

    def _watch(self) -> None:
        # Event.wait, not sleep: stop() ends the thread at once.
        while not self._stop.wait(self._poll_s):
            late = time.monotonic() - self._deadline()
            if late > 0:
                self.fired = True
                self._on_stall(late)
                return


def last_word(line: str) -> None:
    """Write ``line`` to stderr without ever blocking and without any lock.

    The watchdog's only log line: the logging handler's lock may be held by the very loop
    that is stuck writing into a full log pipe (multilog stalled), so neither logging nor
    ``sys.stderr`` may be used. The pipe is opened anew in non-blocking mode (append, should
    stderr be a file); a full pipe loses the line, never the exit that follows.
    """
    data = line.encode(errors="replace")
    try:
        fd = os.open("/proc/self/fd/2", os.O_WRONLY | os.O_NONBLOCK | os.O_APPEND)
    except OSError:  # a socket (journald) cannot be reopened: make fd 2 itself non-blocking
        fd = -1
        with contextlib.suppress(OSError):
            flags = fcntl.fcntl(2, fcntl.F_GETFL)
            fcntl.fcntl(2, fcntl.F_SETFL, flags | os.O_NONBLOCK)
    with contextlib.suppress(OSError):
        os.write(fd if fd >= 0 else 2, data)
    if fd >= 0:
        os.close(fd)


class LoopHeartbeat:
    """Calls ``beats`` from the event loop every ``interval_s`` (a ``call_later`` chain).

    Feeds systemd's ``WATCHDOG=1``; the gateway passes a beat that pings only while the
    frame stream is on time, so systemd too watches the stream, not merely the loop.
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
