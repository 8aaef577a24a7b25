"""State files: the one atomic writer, and a JSON document read back through its model.

Every file smavenus keeps across restarts (the gateway's last command, the publisher's energy
counters, the controller's charge state) is replaced the same way: write a temporary file
next to the target, ``fsync`` it, ``rename`` it over the target, ``fsync`` the directory.
After a crash or a power cut the file is either the previous version or the new one, never
a torn mix, and the rename itself has reached the card. This module is the only place that
calls ``os.replace`` for state.

A file is a trust boundary (hand-edited, damaged, written by another version): it is read
back through a pydantic model, and one that does not validate is set aside as
``<name>.damaged`` and the defaults are used, with a log line saying so.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Generic, TypeVar

import structlog
from pydantic import BaseModel, ValidationError

log = structlog.get_logger(__name__)

M = TypeVar("M", bound=BaseModel)


def write_atomically(path: Path, payload: bytes) -> None:
    """Replace ``path`` with ``payload``: all or nothing, durable once this returns. Blocking."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        view = memoryview(payload)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temporary, path)
    directory = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(directory)  # the rename itself must survive a power cut
    finally:
        os.close(directory)


class StateFile(Generic[M]):
    """One JSON document of model ``M``: loaded once, saved atomically, never on the loop.

    ``default`` builds the state used when the file is absent, unreadable or damaged.
    A failing save is logged once (and its recovery once), not on every attempt.
    """

    def __init__(self, path: Path, model: type[M], default: Callable[[], M]) -> None:
        self.path = path
        self._model = model
        self._default = default
        self._failing = False
        self._lock = asyncio.Lock()

    def load(self) -> M:
        """The saved state; the defaults if there is none. A damaged file is set aside."""
        try:
            text = self.path.read_text("utf-8")
        except FileNotFoundError:
            log.info("state_file_absent", path=str(self.path), starting="from defaults")
            return self._default()
        except OSError as exc:
            log.error("state_file_unreadable", path=str(self.path), error=str(exc))
            return self._default()
        try:
            state = self._model.model_validate_json(text)
        except ValidationError as exc:
            aside = self.path.with_name(self.path.name + ".damaged")
            with contextlib.suppress(OSError):
                self.path.replace(aside)
            log.error(
                "state_file_damaged",
                path=str(self.path),
                moved_to=str(aside),
                error=str(exc.errors(include_url=False)[0]["msg"]),
                starting="from defaults",
            )
            return self._default()
        log.info("state_file_loaded", path=str(self.path))
        return state

    def save_now(self, state: M) -> bool:
        """Write synchronously (at shutdown). True on success."""
        return self._write(state.model_dump_json(indent=1).encode())

    async def save(self, state: M) -> bool:
        """Write in a worker thread; saves never overlap. True on success."""
        payload = state.model_dump_json(indent=1).encode()
        async with self._lock:
            return await asyncio.get_running_loop().run_in_executor(None, self._write, payload)

    def _write(self, payload: bytes) -> bool:
        try:
            write_atomically(self.path, payload)
        except OSError as exc:
            if not self._failing:
                log.error("state_save_failed", path=str(self.path), error=str(exc))
            self._failing = True
            return False
        if self._failing:
            log.info("state_save_recovered", path=str(self.path))
            self._failing = False
        return True
