"""Blocking calls kept off the event loop, and monotonic deadlines on the loop's clock."""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Callable
from typing import Any


def run_in_daemon_thread(
    function: Callable[[], Any], on_orphan: Callable[[Any], None], name: str
) -> asyncio.Future[Any]:
    """Run a blocking call in a daemon thread; the future completes on the loop.

    If the future was cancelled (a timeout) by the time the call returns, ``on_orphan`` gets
    the result so it can be released (a bus opened too late is shut down, not leaked). A
    daemon thread, unlike the default executor, never holds up interpreter exit.
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[Any] = loop.create_future()

    def settle(ok: bool, value: Any) -> None:
        if future.cancelled():
            if ok:
                on_orphan(value)
        elif ok:
            future.set_result(value)
        else:
            future.set_exception(value)

    def target() -> None:
        try:
            result = function()
        except Exception as exc:  # handed to the awaiting coroutine
            outcome: tuple[bool, Any] = (False, exc)
        else:
            outcome = (True, result)
        try:
            loop.call_soon_threadsafe(settle, *outcome)
        except RuntimeError:  # loop closed: nobody is waiting any more
            if outcome[0]:
                on_orphan(outcome[1])

    threading.Thread(target=target, name=name, daemon=True).start()
    return future


def monotonic_deadline_to_loop(loop: asyncio.AbstractEventLoop, deadline: float) -> float:
    """A ``time.monotonic`` deadline as ``loop.time()`` (uvloop's clock is coarser)."""
    if math.isinf(deadline):
        return deadline
    return loop.time() + max(0.0, deadline - time.monotonic())
