"""Waiting in a test for what another task, process or bus peer is about to do."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar, cast

T = TypeVar("T")

#: Between two tries: well below the periods tests wait on (a BMS period is at least 0.2 s).
POLL_INTERVAL_S = 0.01
#: The default deadline: generous, since it costs time only when a test fails, and a test
#: must not fail because the machine is loaded (the suite is run with both cores busy).
DEFAULT_TIMEOUT_S = 10.0


async def eventually(
    predicate: Callable[[], T | Awaitable[T]],
    timeout_s: float = DEFAULT_TIMEOUT_S,
    what: str = "condition",
    logs: Callable[[], str] | None = None,
) -> T:
    """Ask ``predicate`` (plain or async) until it answers something truthy, and return that.

    It is asked on the running loop, with a short sleep between tries, so the loop's other
    tasks run meanwhile. After ``timeout_s`` an :class:`AssertionError` names ``what`` and
    carries ``logs()`` (the output of the processes under test), if given.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        answer = predicate()
        if inspect.isawaitable(answer):
            answer = await answer
        if answer:
            return cast("T", answer)
        if time.monotonic() > deadline:
            details = "\n" + logs() if logs is not None else ""
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}{details}")
        await asyncio.sleep(POLL_INTERVAL_S)
