"""The gateway's event-loop side: carries out what :class:`GatewayCore` decides.

Everything that happens (frames in, commands in, the bus opening or dying, the one timer)
becomes a call into the core with the time; the events that come back are carried out
here: frames sent, signals emitted, the command persisted, the bus closed or re-opened,
log lines written. After every call the single timer is re-armed at the core's next
deadline (the aioquic idiom): no polling, no sleeping loop.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Sequence
from typing import Literal, Protocol

import can
import structlog

from smavenus.events import LogEvent
from smavenus.gateway.actions import (
    Action,
    CloseBus,
    Instant,
    PersistCommand,
    PublishHealth,
    PublishSnapshot,
    ReopenBus,
    SendFrames,
)
from smavenus.gateway.core import GatewayCore
from smavenus.gateway.frameset import Frame, FrameSet
from smavenus.io.can.opening import BusSpec
from smavenus.io.can.threads import monotonic_deadline_to_loop
from smavenus.io.gateway.command_file import CommandPersister
from smavenus.io.gateway.link import CanLink
from smavenus.io.tasks import OwnedTasks
from smavenus.ipc.messages import BmsCommand, GatewayHealth, SiSnapshot
from smavenus.protocol import OnOffCommand, QuickStop, RemoteOnOff, encode

log = structlog.get_logger("smavenus.can_gateway")


class Publisher(Protocol):
    def publish_snapshot(self, snapshot: SiSnapshot) -> None: ...

    def publish_health(self, health: GatewayHealth) -> None: ...


def instant() -> Instant:
    return Instant(time.monotonic(), time.time())


def _escalate(task: str, exc: BaseException) -> None:
    """A task of ours failed (a bug): the loop's handler decides, as for any callback (the
    gateway's ends the process: ``run_service(fail_fast=True)``)."""
    asyncio.get_running_loop().call_exception_handler(
        {"message": f"task {task} failed", "exception": exc}
    )


def describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class GatewayRuntime:
    def __init__(
        self,
        core: GatewayCore,
        spec: BusSpec,
        persister: CommandPersister | None = None,
        clock: Callable[[], Instant] = instant,
    ) -> None:
        self.core = core
        self.link = CanLink(spec, core.settings.bms_period_s, self._on_messages, self._on_failure)
        self._persister = persister
        self._clock = clock
        self._publisher: Publisher | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_for = math.inf
        self._open_task: asyncio.Task[None] | None = None
        self._tasks = OwnedTasks("gateway_runtime", on_failure=_escalate)
        self._loop: asyncio.AbstractEventLoop | None = None
        #: What the watchdog sends if the loop hangs; refreshed with every frame set.
        self.safe_frames: FrameSet = core.safe_frames(clock())
        #: By when the stream (or the link's recovery) must show progress; read by the
        #: watchdog thread, so published after every call into the core.
        self.watchdog_deadline = clock().monotonic + core.settings.open_timeout_s
        #: Set once the first attempt to open the bus has ended, whatever its outcome.
        self.first_open_done = asyncio.Event()

    # -- life cycle -----------------------------------------------------------------------

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._handle(self.core.start())
        self.core.on_bus_opening(self._clock())
        self._start_open()
        self.watchdog_deadline = self.core.watchdog_deadline()

    def attach(self, publisher: Publisher | None) -> None:
        self._publisher = publisher

    async def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer, self._timer_for = None, math.inf
        if self._open_task is not None:
            self._open_task.cancel()
            await asyncio.gather(self._open_task, return_exceptions=True)
        self.link.close()
        if self._persister is not None:
            command = self.core.policy.command
            if command is not None and self.core.policy.source == "controller":
                # Written at most every persist_interval_s while unchanged: save the latest,
                # so a restart after a stop resumes it.
                self._persister.submit(command)
            await self._persister.flush()

    # -- inputs ---------------------------------------------------------------------------

    def _on_messages(self, batch: Sequence[can.Message]) -> None:
        now = self._clock()
        events: list[Action] = []
        core = self.core
        for msg in batch:
            if msg.is_error_frame:
                events += core.on_error_frame(msg.arbitration_id, bytes(msg.data), now)
            else:
                events += core.on_frame(
                    msg.arbitration_id,
                    bytes(msg.data),
                    now,
                    extended=msg.is_extended_id,
                    remote=msg.is_remote_frame,
                )
        self._after(events)

    def _on_failure(self, exc: Exception) -> None:
        """The notifier's reader died: the adapter is gone or the interface is down."""
        self.link.close()
        self._after(self.core.on_bus_lost(self._clock(), describe(exc)))

    def on_command(self, command: BmsCommand) -> None:
        now = self._clock()
        self._after(self.core.on_command(command, now))
        if self.link.keeps_time:
            # The kernel keeps the period: the new limits can be installed at once and leave
            # at its next tick (within one period) rather than after our next slot as well.
            self.link.update(self.core.frames_now(now))

    def on_command_refused(self, kind: Literal["rejected", "unauthorized"], detail: str) -> None:
        self._after(self.core.on_command_refused(kind, detail, self._clock()))

    def _on_timer(self) -> None:
        fired_for = self._timer_for
        self._timer, self._timer_for = None, math.inf
        now = self._clock()
        # A timer may fire a fraction of a millisecond early (uvloop's clock is in ms); treat
        # it as on time rather than re-arming for the same deadline.
        now = Instant(max(now.monotonic, fired_for), now.unix)
        self._after(self.core.on_timer(now))

    # -- what D-Bus asks for --------------------------------------------------------------

    def snapshot(self) -> SiSnapshot:
        return self.core.latest_snapshot(self._clock())

    def health(self) -> GatewayHealth:
        self._sync_transport()
        return self.core.health(self._clock())

    def remote_on_off(self, on: bool) -> None:
        command = OnOffCommand.ON if on else OnOffCommand.OFF
        self.link.send_once(Frame(*encode(RemoteOnOff(command))))
        log.warning("remote_on_off_sent", command=command.name.lower())

    def quick_stop(self) -> None:
        self.link.send_once(Frame(*encode(QuickStop())))
        log.warning("quick_stop_sent")

    def force_safe_frames(self) -> None:
        """From the watchdog thread: put the safe frame set on the bus now."""
        self.link.force_from_thread(self.safe_frames)

    # -- carrying out the core's decisions ------------------------------------------------

    def _after(self, events: list[Action]) -> None:
        self._handle(events)
        self._rearm()
        self.watchdog_deadline = self.core.watchdog_deadline()

    def _handle(self, events: list[Action]) -> None:
        for event in events:
            if isinstance(event, SendFrames):
                self._send(event.frames)
            elif isinstance(event, PublishSnapshot):
                if self._publisher is not None:
                    self._publisher.publish_snapshot(event.snapshot)
            elif isinstance(event, PublishHealth):
                if self._publisher is not None:
                    self._sync_transport()
                    self._publisher.publish_health(event.health)
            elif isinstance(event, PersistCommand):
                if self._persister is not None:
                    self._persister.submit(event.command)
            elif isinstance(event, CloseBus):
                self.link.close()
            elif isinstance(event, ReopenBus):
                self._start_open()
            elif isinstance(event, LogEvent):
                getattr(log, event.level)(event.name, **event.fields)

    def _send(self, frames: FrameSet) -> None:
        result = self.link.send_set(frames)
        now = self._clock()
        self.core.on_frames_scheduled(result.sent, len(frames))
        self.safe_frames = self.core.safe_frames(now)
        fatal = result.fatal
        if fatal is not None:
            self._on_failure(fatal)
            return
        for can_id, exc in result.failures:
            self._handle(self.core.on_send_failed(can_id, describe(exc), now))

    def _start_open(self) -> None:
        if self._open_task is None or self._open_task.done():
            self._open_task = self._tasks.spawn(self._open(), "open_bus")

    async def _open(self) -> None:
        try:
            await self.link.open()
        except Exception as exc:  # every way of failing to open is retried after backoff
            events = self.core.on_bus_open_failed(self._clock(), describe(exc))
        else:
            events = self.core.on_bus_opened(self._clock())
        self.first_open_done.set()
        self._after(events)

    def _sync_transport(self) -> None:
        self.core.transport_foreign = self.link.foreign
        self.core.transport_errors = self.link.adapter_errors

    def _rearm(self) -> None:
        deadline = self.core.next_deadline()
        if deadline == self._timer_for:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_for = deadline
        if math.isinf(deadline) or self._loop is None:
            return
        self._timer = self._loop.call_at(
            monotonic_deadline_to_loop(self._loop, deadline), self._on_timer
        )
