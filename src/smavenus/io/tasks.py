"""Tasks an owner starts and keeps: none runs unreferenced, none fails unseen.

asyncio keeps only a weak reference to a task, and reports a task that failed with nobody
awaiting it only when the task is garbage-collected ("Task exception was never retrieved"),
through whatever exception handler the loop has then, if at all. Every background task in
smavenus is therefore started through an :class:`OwnedTasks`: it keeps the task until it is
done, and the moment a task fails it logs ``task_failed`` with the owner, the task's name
and the traceback, then tells the owner (``on_failure``) if it wants to act. A cancelled task
is not a failure.

    tasks = OwnedTasks("vebus_service")
    tasks.spawn(self._switch(mode), "mode_switch")
    ...
    await tasks.cancel_all()  # on stop
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, TypeVar

import structlog

log = structlog.get_logger(__name__)

T = TypeVar("T")

#: Told of a task's failure after it has been logged: (task name, exception).
FailureCallback = Callable[[str, BaseException], None]


class OwnedTasks:
    """The background tasks of one owner (``owner`` names it in the log)."""

    def __init__(self, owner: str, on_failure: FailureCallback | None = None) -> None:
        self.owner = owner
        self._on_failure = on_failure
        self._tasks: set[asyncio.Task[Any]] = set()
        #: Tasks that ended with an exception since this set was made.
        self.failures = 0

    def spawn(self, coroutine: Coroutine[Any, Any, T], name: str) -> asyncio.Task[T]:
        """Run ``coroutine`` as a task kept here until it is done; a failure is logged."""
        task = asyncio.get_running_loop().create_task(coroutine, name=f"{self.owner}.{name}")
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def __len__(self) -> int:
        return len(self._tasks)

    def __iter__(self) -> Iterator[asyncio.Task[Any]]:
        return iter(list(self._tasks))

    def cancel(self) -> None:
        """Cancel every task still running (they end at their next await)."""
        for task in list(self._tasks):
            task.cancel()

    async def cancel_all(self) -> None:
        """Cancel every task still running and wait until all have ended."""
        self.cancel()
        await self.wait()

    async def wait(self) -> None:
        """Wait until every task started so far (and any they start meanwhile) has ended."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()  # retrieved: asyncio will not report it again
        if exc is None:
            return
        self.failures += 1
        name = task.get_name().removeprefix(f"{self.owner}.")
        log.error("task_failed", owner=self.owner, task=name, error=repr(exc), exc_info=exc)
        if self._on_failure is not None:
            self._on_failure(name, exc)
