"""The vebus-publisher's state file: read once at start, replaced atomically on every save.

A save writes a temporary file next to the target, ``fsync``s it, renames it over the target
and ``fsync``s the directory: after a crash or power cut the file is either the previous
state or the new one, never a mix. The write runs in a worker thread so a slow SD card never
stalls the event loop (and with it the SI → D-Bus latency).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from pathlib import Path

import structlog
from pydantic import ValidationError

from smavenus.vebus.state import PersistedState

log = structlog.get_logger(__name__)


class StateFile:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._failing = False
        self._lock = asyncio.Lock()

    def load(self) -> PersistedState:
        """The saved state; the defaults if there is none. A damaged file is set aside."""
        try:
            text = self.path.read_text("utf-8")
        except FileNotFoundError:
            log.info("state_file_absent", path=str(self.path), starting="from zero")
            return PersistedState()
        except OSError as exc:
            log.error("state_file_unreadable", path=str(self.path), error=str(exc))
            return PersistedState()
        try:
            state = PersistedState.model_validate_json(text)
        except ValidationError as exc:
            aside = self.path.with_name(self.path.name + ".damaged")
            with contextlib.suppress(OSError):
                self.path.replace(aside)
            log.error(
                "state_file_damaged",
                path=str(self.path),
                moved_to=str(aside),
                error=str(exc.errors(include_url=False)[0]["msg"]),
                starting="from zero",
            )
            return PersistedState()
        log.info("state_file_loaded", path=str(self.path))
        return state

    def save_now(self, state: PersistedState) -> bool:
        """Write synchronously (used at shutdown). True on success."""
        return self._write(state.model_dump_json(indent=1))

    async def save(self, state: PersistedState) -> bool:
        """Write in a worker thread; saves never overlap. True on success."""
        text = state.model_dump_json(indent=1)
        async with self._lock:
            return await asyncio.get_running_loop().run_in_executor(None, self._write, text)

    def _write(self, text: str) -> bool:
        temporary = self.path.with_name(self.path.name + ".tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with temporary.open("w", encoding="utf-8") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            temporary.replace(self.path)
            directory = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(directory)
            finally:
                os.close(directory)
        except OSError as exc:
            if not self._failing:
                log.error("state_save_failed", path=str(self.path), error=str(exc))
            self._failing = True
            return False
        if self._failing:
            log.info("state_save_recovered", path=str(self.path))
            self._failing = False
        return True
