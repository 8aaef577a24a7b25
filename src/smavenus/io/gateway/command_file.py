"""The persisted command on disk: read at start-up, written atomically, never on the loop.

``state_dir/can-gateway-command.json`` is replaced atomically
(:func:`smavenus.io.files.write_atomically`), so a crash or power cut leaves either the old
record or the new one, never a torn file. Writes run in a daemon thread (an SD card's ``fsync`` can
take a long time) and coalesce: while one is in flight, only the newest command waits.
What the record holds and how its age is judged: :mod:`smavenus.gateway.persist`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import structlog
from pydantic import ValidationError

from smavenus.gateway.persist import STATE_FILE_NAME, PersistedCommand, resume_point
from smavenus.gateway.policy import ResumePoint
from smavenus.io.can.threads import run_in_daemon_thread
from smavenus.io.files import write_atomically
from smavenus.ipc.messages import BmsCommand

log = structlog.get_logger(__name__)

BOOT_ID_PATH = Path("/proc/sys/kernel/random/boot_id")
#: A state directory that does not answer in this time is given up on at start-up.
LOAD_TIMEOUT_S = 0.3


def read_boot_id(path: Path = BOOT_ID_PATH) -> str | None:
    try:
        return path.read_text().strip() or None
    except OSError:
        return None


def state_file(state_dir: Path) -> Path:
    return state_dir / STATE_FILE_NAME


def load_resume(
    state_dir: Path, boot_id: str | None, now_monotonic: float, now_unix: float
) -> tuple[ResumePoint | None, str | None]:
    """The persisted command and its judged age, or ``(None, why not)``. Blocking."""
    path = state_file(state_dir)
    try:
        payload = path.read_bytes()
    except FileNotFoundError:
        return None, f"no persisted command ({path})"
    except OSError as exc:
        return None, f"cannot read {path}: {exc.strerror or exc}"
    try:
        record = PersistedCommand.model_validate_json(payload)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        return None, f"{path} is not a valid record ({where}: {first['msg']})"
    return resume_point(record, boot_id, now_monotonic, now_unix), None


async def load_resume_bounded(
    state_dir: Path, boot_id: str | None, now_monotonic: float, now_unix: float
) -> tuple[ResumePoint | None, str | None]:
    """:func:`load_resume` off the loop, given up after :data:`LOAD_TIMEOUT_S` (cold start)."""
    future = run_in_daemon_thread(
        lambda: load_resume(state_dir, boot_id, now_monotonic, now_unix),
        lambda _result: None,
        name="state-load",
    )
    try:
        result: tuple[ResumePoint | None, str | None] = await asyncio.wait_for(
            future, LOAD_TIMEOUT_S
        )
    except asyncio.TimeoutError:  # the builtin TimeoutError only from Python 3.11
        return None, f"{state_file(state_dir)} did not answer within {LOAD_TIMEOUT_S} s"
    return result


class CommandPersister:
    """Writes accepted commands to the state file, one at a time, newest wins."""

    def __init__(
        self, state_dir: Path, boot_id: str | None, on_error: Callable[[Exception], None]
    ) -> None:
        self.path = state_file(state_dir)
        self._boot_id = boot_id
        self._on_error = on_error
        self._pending: BmsCommand | None = None
        self._in_flight: asyncio.Future[None] | None = None
        self.writes = 0

    def submit(self, command: BmsCommand) -> None:
        self._pending = command
        if self._in_flight is None:
            self._start_next()

    def _start_next(self) -> None:
        command, self._pending = self._pending, None
        if command is None:
            self._in_flight = None
            return
        record = PersistedCommand(boot_id=self._boot_id, command=command)
        payload = record.model_dump_json().encode()
        path = self.path
        future = run_in_daemon_thread(
            lambda: write_atomically(path, payload), lambda _r: None, name="state-write"
        )
        self._in_flight = future
        future.add_done_callback(self._written)

    def _written(self, future: asyncio.Future[None]) -> None:
        exc = None if future.cancelled() else future.exception()
        if isinstance(exc, Exception):
            self._on_error(exc)
        elif not future.cancelled():
            self.writes += 1
        self._start_next()

    async def flush(self, timeout_s: float = 2.0) -> None:
        """Wait for the write in flight and the one pending (on shutdown)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while self._in_flight is not None and loop.time() < deadline:
            await asyncio.wait({self._in_flight}, timeout=deadline - loop.time())
