"""Drives the vebus core on the event loop: inputs in, one publish per input, one timer.

Every snapshot from the gateway is mapped and published at once, as **one** ``ItemsChanged``
with only what changed. The gateway's health and the controller's status are only cached:
they show with the next snapshot, so they never cost a D-Bus message of their own. One
``loop.call_at`` is re-armed after every input at the core's next deadline: an input going
stale (published at once) or the state being due to be saved (written, nothing published).
No polling loop.
"""

from __future__ import annotations

import asyncio
from typing import Any

import structlog

from smavenus.io.files import StateFile
from smavenus.io.publisher.service import VebusDbusService
from smavenus.io.tasks import OwnedTasks
from smavenus.ipc.messages import ControllerStatus, GatewayHealth, SiSnapshot
from smavenus.vebus.core import VebusCore
from smavenus.vebus.enums import VebusState
from smavenus.vebus.state import PublisherState

log = structlog.get_logger(__name__)

#: Paths whose changes are worth a log line (each change is a fact a user may ask about).
LOGGED_PATHS = ("/State", "/Ac/ActiveIn/ActiveInput", "/Alarms/GridLost")


class VebusRunner:
    def __init__(
        self,
        core: VebusCore,
        service: VebusDbusService,
        state_file: StateFile[PublisherState],
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.core = core
        self.service = service
        self.state_file = state_file
        self.loop = loop
        self.publishes = 0
        self._timer: asyncio.TimerHandle | None = None
        self._deadline: float | None = None
        self._saving: asyncio.Task[None] | None = None
        self._tasks = OwnedTasks("vebus_runner")
        self._closed = False

    # -- inputs ----------------------------------------------------------------------------

    def on_snapshot(self, snapshot: SiSnapshot) -> None:
        now = self.loop.time()
        self.core.on_snapshot(snapshot, now)
        self._publish(now)

    def on_health(self, health: GatewayHealth) -> None:
        self.core.on_health(health)
        self._rearm(self.loop.time())

    def on_controller(self, status: ControllerStatus) -> None:
        self.core.on_controller(status)
        self._rearm(self.loop.time())

    def start(self) -> None:
        self._publish(self.loop.time())

    async def close(self) -> None:
        """Stop the timer and save everything counted up to now (nothing lost on a clean stop)."""
        self._closed = True
        if self._saving is not None:
            await asyncio.gather(self._saving, return_exceptions=True)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        state = self.core.stop(self.loop.time())
        if self.state_file.save_now(state):
            log.info("state_saved_at_stop", path=str(self.state_file.path))

    # -- the cycle --------------------------------------------------------------------------

    def _publish(self, now: float) -> None:
        values = self.core.values(now)
        changed = self.service.publish(values)
        self.publishes += 1
        self._log(changed)
        if self.core.save_due(now):
            self._save(now)
        self._rearm(now)

    def _tick(self) -> None:
        self._timer, self._deadline = None, None
        now = self.loop.time()
        if self.core.expiry_due(now):
            self._publish(now)  # something went stale: show it now, not at the next cycle
            return
        if self.core.save_due(now):  # a save alone sends nothing on D-Bus
            self._save(now)
        self._rearm(now)

    def _rearm(self, now: float) -> None:
        if self._closed:
            return
        # While a write is under way the save deadline waits for it (it re-arms when done).
        deadline = self.core.next_deadline(now, include_save=not self._writing)
        if deadline == self._deadline and self._timer is not None:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer, self._deadline = None, deadline
        if deadline is not None:
            self._timer = self.loop.call_at(max(deadline, now), self._tick)

    @property
    def _writing(self) -> bool:
        return self._saving is not None and not self._saving.done()

    def _save(self, now: float) -> None:
        if self._writing:
            return  # the write under way re-arms the timer when it is done
        state = self.core.state()
        self.core.saved(now)
        self._saving = self._tasks.spawn(self._write(state), "save_state")

    async def _write(self, state: PublisherState) -> None:
        try:
            if not await self.state_file.save(state):
                self.core.save_failed()
        finally:
            self._saving = None
            self._rearm(self.loop.time())

    def _log(self, changed: dict[str, Any]) -> None:
        for event in self.core.drain_events():
            getattr(log, event.level)(event.name, **event.fields)
        if "/Connected" in changed:
            log.info("vebus_connected_changed", connected=changed["/Connected"])
        for path in LOGGED_PATHS:
            if path in changed:
                value = changed[path]
                if path == "/State" and value is not None:
                    value = VebusState(value).name.lower()
                log.info("vebus_value_changed", path=path, value=value)
