"""Reception: a :class:`can.Notifier` on the running loop that delivers batches.

It drains every buffered message per readiness event and routes a failing ``recv`` to our
error handling (python-can #1865: it would otherwise reach the loop's exception handler and
leave a dead file descriptor spinning the loop).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from typing import Any

import can

#: Messages handed to the loop per readiness event before other callbacks get a turn.
MAX_BATCH = 512
#: How long the receive thread of a bus without a file descriptor waits per ``recv``.
THREAD_RECV_TIMEOUT_S = 0.1


MessagesCallback = Callable[[Sequence[can.Message]], None]
FailureCallback = Callable[[Exception], None]


class DrainingNotifier(can.Notifier):
    """A Notifier that delivers batches, drains per event, and reports a dying bus once.

    With a file descriptor (socketcan, slcan) it reads on the loop via ``add_reader``;
    without one (virtual, gs_usb) python-can's receive thread hands batches over with one
    ``call_soon_threadsafe`` each. A ``recv`` that raises stops reception and calls
    ``on_failure`` once on the loop; the owner closes the bus and opens a new one.
    """

    def __init__(
        self,
        bus: can.BusABC,
        loop: asyncio.AbstractEventLoop,
        on_messages: MessagesCallback,
        on_failure: FailureCallback,
    ) -> None:
        self._deliver = on_messages
        self._report = on_failure
        self._failed = False
        self._event_loop = loop
        super().__init__(bus, [], timeout=THREAD_RECV_TIMEOUT_S, loop=loop)

    def _on_message_available(self, bus: can.BusABC) -> None:
        if self._stopped or self._failed:
            return
        batch: list[can.Message] = []
        try:
            while len(batch) < MAX_BATCH:
                msg = bus.recv(0)
                if msg is None:
                    break
                batch.append(msg)
        except Exception as exc:  # every reader failure ends this bus
            if batch:
                self._deliver(batch)
            self._fail(exc)
            return
        if batch:
            self._deliver(batch)
        if getattr(bus, "has_buffered", False):
            # Lines already read from the descriptor would wait for the next byte otherwise.
            self._event_loop.call_soon(self._on_message_available, bus)

    def _rx_thread(self, bus: can.BusABC) -> None:
        while not self._stopped:
            try:
                msg = bus.recv(self.timeout)
                if msg is None:
                    continue
                batch = [msg]
                while len(batch) < MAX_BATCH and (more := bus.recv(0)) is not None:
                    batch.append(more)
            except Exception as exc:  # ends the thread; reported on the loop
                if not self._stopped:
                    self._post(self._fail, exc)
                return
            self._post(self._deliver_if_running, batch)

    def _post(self, callback: Callable[[Any], None], arg: Any) -> None:
        with contextlib.suppress(RuntimeError):  # the loop closed while this thread read
            self._event_loop.call_soon_threadsafe(callback, arg)

    def _deliver_if_running(self, batch: list[can.Message]) -> None:
        if not self._stopped and not self._failed:
            self._deliver(batch)

    def _fail(self, exc: Exception) -> None:
        if self._failed or self._stopped:
            return
        self._failed = True
        for reader in self._readers:
            if isinstance(reader, int):
                self._event_loop.remove_reader(reader)
        self._report(exc)

    def close(self) -> None:
        """Stop at once: no thread join (its recv timeout is short and it is a daemon)."""
        self.stop(timeout=0)


# -- sending --------------------------------------------------------------------------------
