"""One CAN link: the open bus, its notifier and its sender, replaced as a whole on failure.

Opening happens in a daemon thread with a timeout (a serial open or an adapter that does not
answer must not stall the loop that feeds the SI); closing never blocks and never raises.
Counters the transport keeps (foreign frames filtered before the core, adapter errors)
survive a rebuild.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading

import can
import structlog

from smavenus.gateway.frameset import Frame, FrameSet
from smavenus.io.can.notifier import DrainingNotifier, FailureCallback, MessagesCallback
from smavenus.io.can.opening import BusSpec, open_bus
from smavenus.io.can.senders import FrameSender, SendResult, sender_for
from smavenus.io.can.threads import run_in_daemon_thread

log = structlog.get_logger(__name__)

#: Longest an open may take before it counts as failed (the thread is abandoned).
OPEN_TIMEOUT_S = 5.0


def _shutdown_quietly(bus: can.BusABC) -> None:
    with contextlib.suppress(Exception):  # a dead adapter or interface fails to close
        bus.shutdown()


class CanLink:
    def __init__(
        self,
        spec: BusSpec,
        bms_period_s: float,
        on_messages: MessagesCallback,
        on_failure: FailureCallback,
        open_timeout_s: float = OPEN_TIMEOUT_S,
    ) -> None:
        self.spec = spec
        self._period_s = bms_period_s
        self._on_messages = on_messages
        self._on_failure = on_failure
        self._open_timeout_s = open_timeout_s
        self._bus: can.BusABC | None = None
        self._notifier: DrainingNotifier | None = None
        self._sender: FrameSender | None = None
        # The watchdog thread reads the sender while the loop may be replacing it.
        self._lock = threading.Lock()
        self._closed_foreign = 0
        self._closed_errors = 0

    @property
    def is_open(self) -> bool:
        return self._bus is not None

    @property
    def foreign(self) -> int:
        return self._closed_foreign + int(getattr(self._bus, "foreign", 0))

    @property
    def adapter_errors(self) -> int:
        return self._closed_errors + int(getattr(self._bus, "adapter_errors", 0))

    async def open(self) -> None:
        """Open the bus and start receiving. Raises whatever opening raised, or a timeout."""
        self.close()
        future = run_in_daemon_thread(
            lambda: open_bus(self.spec), _shutdown_quietly, name="can-open"
        )
        bus: can.BusABC = await asyncio.wait_for(future, self._open_timeout_s)
        loop = asyncio.get_running_loop()
        try:
            notifier = DrainingNotifier(bus, loop, self._on_messages, self._on_failure)
        except Exception:
            _shutdown_quietly(bus)
            raise
        with self._lock:
            self._bus = bus
            self._notifier = notifier
            self._sender = sender_for(bus, self.spec.interface, self._period_s)

    def close(self) -> None:
        """Stop receiving and sending and release the bus. Never blocks, never raises."""
        with self._lock:
            bus, notifier, sender = self._bus, self._notifier, self._sender
            self._bus = self._notifier = self._sender = None
        if notifier is not None:
            # Before the bus: its descriptor number may be reused by the next bus.
            with contextlib.suppress(Exception):
                notifier.close()
        if sender is not None:
            sender.stop()
        if bus is not None:
            self._closed_foreign += int(getattr(bus, "foreign", 0))
            self._closed_errors += int(getattr(bus, "adapter_errors", 0))
            _shutdown_quietly(bus)

    def send_set(self, frames: FrameSet) -> SendResult:
        if self._sender is None:
            return SendResult(0)
        return self._sender.send_set(frames)

    @property
    def keeps_time(self) -> bool:
        """Whether the kernel keeps the period (see :meth:`FrameSender.update`)."""
        return self._sender is not None and self._sender.keeps_time

    def update(self, frames: FrameSet) -> None:
        if self._sender is not None:
            self._sender.update(frames)

    def send_once(self, frame: Frame) -> None:
        if self._sender is None:
            raise can.CanOperationError("the CAN bus is not open")
        self._sender.send_once(frame)

    def force_from_thread(self, frames: FrameSet) -> None:
        """Send ``frames`` from a thread other than the loop's (the watchdog). Best effort."""
        # Bounded: a loop stuck while holding the lock must not keep the watchdog from exiting.
        if not self._lock.acquire(timeout=0.5):
            return
        try:
            sender = self._sender
        finally:
            self._lock.release()
        if sender is not None:
            sender.force(frames)
