"""Owned tasks: a failure is logged by its owner with the traceback, and asyncio never
reports it again ("Task exception was never retrieved")."""

from __future__ import annotations

import asyncio
import gc
import io
from typing import Any

from smavenus.io.tasks import OwnedTasks
from smavenus.log import configure_logging


class StagedError(RuntimeError):
    pass


async def fails() -> None:
    await asyncio.sleep(0)
    raise StagedError("staged: the task's own bug")


async def test_a_failing_task_is_logged_with_its_traceback_and_reported_to_the_owner() -> None:
    stream = io.StringIO()
    configure_logging("test", "info", "plain", stream=stream)
    loop = asyncio.get_running_loop()
    unhandled: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: unhandled.append(context))
    told: list[tuple[str, BaseException]] = []
    tasks = OwnedTasks("the_owner", on_failure=lambda name, exc: told.append((name, exc)))
    try:
        task = tasks.spawn(fails(), "refresh")
        await tasks.wait()
        assert task.done() and len(tasks) == 0
        (line,) = [entry for entry in stream.getvalue().splitlines() if "task_failed" in entry]
        assert "owner=the_owner" in line and "task=refresh" in line
        text = stream.getvalue()
        assert "Traceback (most recent call last)" in text and "staged: the task's own bug" in text
        assert [(name, type(exc)) for name, exc in told] == [("refresh", StagedError)]
        assert tasks.failures == 1
        del task
        gc.collect()  # where asyncio would report an exception nobody retrieved
        await asyncio.sleep(0)
        assert unhandled == []
    finally:
        loop.set_exception_handler(None)


async def test_cancelled_and_successful_tasks_are_no_failures() -> None:
    stream = io.StringIO()
    configure_logging("test", "info", "plain", stream=stream)
    tasks = OwnedTasks("the_owner")
    done = tasks.spawn(asyncio.sleep(0, result=None), "quick")
    blocked = tasks.spawn(asyncio.Event().wait(), "forever")
    await asyncio.wait({done})
    assert len(tasks) == 1  # the finished one is let go, the running one is kept
    await tasks.cancel_all()
    assert blocked.cancelled() and len(tasks) == 0
    assert tasks.failures == 0
    assert "task_failed" not in stream.getvalue()
