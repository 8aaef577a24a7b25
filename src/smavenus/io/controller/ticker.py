"""Steps the controller core at its deadlines with one re-armed ``loop.call_at``.

aioquic's timer idiom: emit what each step decided, log the decision's events, persist what
must survive a restart, re-arm at the core's next deadline. A failure inside a step stops
the process (the supervisor restarts it; meanwhile the gateway ramps to safe values) rather
than leaving a timer that silently never fires again.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import structlog

from smavenus.controller import ChargeController, Decision
from smavenus.controller.continuity import same_state, saved_state
from smavenus.controller.state import ControllerState
from smavenus.io.controller.service import ControllerService
from smavenus.io.files import StateFile
from smavenus.io.tasks import OwnedTasks

log = structlog.get_logger("smavenus.bms_controller")


class Ticker:
    """Steps the controller at its deadlines; emits and logs what each step decided."""

    def __init__(
        self,
        controller: ChargeController,
        service: ControllerService,
        state_file: StateFile[ControllerState],
        fail: Callable[[BaseException], None],
    ) -> None:
        self.controller = controller
        self.service = service
        self.state_file = state_file
        self._fail = fail
        self._handle: asyncio.TimerHandle | None = None
        self._seq = 0
        self._saved: ControllerState | None = None
        # A save that fails other than by OSError (which StateFile logs) is a bug: stop.
        self._tasks = OwnedTasks("controller_ticker", on_failure=lambda _task, exc: fail(exc))
        self._loop = asyncio.get_running_loop()

    def start(self) -> None:
        self._tick()

    def step_soon(self) -> None:
        """Step at the next turn of the loop instead of the deadline: a request changed the
        core, and the SI should hear of it now, not a period later."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = self._loop.call_soon(self._tick)  # type: ignore[assignment]

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        if self.controller.last is not None:  # the latest state, written before exit
            self.state_file.save_now(saved_state(self.controller, time.monotonic(), time.time()))

    def _tick(self) -> None:
        self._handle = None
        try:
            now, unix = time.monotonic(), time.time()
            decision = self.controller.step(now, unix)
            self._log(decision)
            command = self.controller.command(decision, self._seq, now, unix)
            status = self.controller.status(decision, self._seq, now, unix)
            self.service.emit(command.model_dump_json(), status.model_dump_json())
            self._seq += 1
            self._persist(now, unix)
            delay = max(self.controller.next_deadline() - time.monotonic(), 0.0)
            self._handle = self._loop.call_at(self._loop.time() + delay, self._tick)
        except Exception as exc:  # any failure must stop the process, loudly
            log.exception("controller_step_failed")
            self._fail(exc)

    @staticmethod
    def _log(decision: Decision) -> None:
        for event in decision.events:
            getattr(log, event.level)(event.name, **event.fields)

    def _persist(self, now: float, unix: float) -> None:
        """Save when something that must survive a restart changed (rarely), off the loop."""
        state = saved_state(self.controller, now, unix)
        if self._saved is not None and same_state(state, self._saved):
            return
        self._saved = state
        self._tasks.spawn(self.state_file.save(state), "save_state")
