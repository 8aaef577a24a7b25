"""The one way tests wait: ``eventually`` returns the first truthy answer or names what failed."""

from __future__ import annotations

import asyncio

import pytest

from smavenus.testing.waiting import eventually


async def test_returns_the_first_truthy_answer_once_another_task_made_it_so() -> None:
    answers: list[int] = []

    async def produce() -> None:
        await asyncio.sleep(0.03)
        answers.append(7)

    producer = asyncio.create_task(produce())
    assert await eventually(lambda: answers[-1:], 1.0, "the answer") == [7]
    await producer


async def test_an_async_predicate_is_awaited() -> None:
    async def ready() -> str:
        return "ready"

    assert await eventually(ready) == "ready"


async def test_a_timeout_names_what_was_awaited_and_carries_the_logs() -> None:
    with pytest.raises(AssertionError, match=r"0\.05 s waiting for the reply\nthe log"):
        await eventually(lambda: False, 0.05, "the reply", lambda: "the log")
