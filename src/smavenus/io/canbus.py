"""The CAN edge: opening the bus from ``[can]``, receiving on the event loop, sending safely.

Three interfaces, one contract:

``socketcan``
    Kernel filters for the SI's status IDs (foreign traffic such as master/slave sync never
    reaches Python); error frames on, to see bus-off. The BMS set is sent by the kernel's
    broadcast manager (:class:`BcmSender`).
``slcan``
    :class:`ChunkedSlcanBus`: python-can's slcan reads the serial line one byte per
    ``read(1)`` call, which at a flooded bus costs most of a core and drops frames (measured;
    see ``docs/benchmarks.md``). This subclass reads everything available in one ``os.read``,
    splits on ``\\r``, discards foreign IDs by their three hex digits before building a
    :class:`can.Message`, and never blocks: python-can's ``send`` ends in ``tcdrain``, which
    waits forever on an adapter that stopped reading.
``virtual``
    :class:`CountingVirtualBus`, for tests and the benchmark: filters and counts like slcan.

Reception is :class:`DrainingNotifier`, a :class:`can.Notifier` on the running loop that
drains every buffered message per readiness event and routes a failing ``recv`` to our
error handling (python-can #1865: it would otherwise reach the loop's exception handler and
leave a dead file descriptor spinning the loop).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import math
import os
import queue
import select
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import can
import structlog
from can.interfaces.slcan import slcanBus
from can.interfaces.virtual import VirtualBus

from smavenus.gateway.frameset import Frame, FrameSet

log = structlog.get_logger(__name__)

#: errno values that mean the interface is gone, not that one frame could not be sent.
FATAL_ERRNOS = frozenset(
    {
        errno.ENETDOWN,
        errno.ENODEV,
        errno.ENXIO,
        errno.EIO,
        errno.EBADF,
        errno.EPIPE,
        errno.ENOTCONN,
        errno.ENOENT,
    }
)
#: Messages handed to the loop per readiness event before other callbacks get a turn.
MAX_BATCH = 512
#: How long the receive thread of a bus without a file descriptor waits per ``recv``.
THREAD_RECV_TIMEOUT_S = 0.1


class BusDeadError(can.CanOperationError):
    """The interface is gone (adapter unplugged, pty closed, interface down)."""


def is_fatal(exc: BaseException) -> bool:
    """Whether ``exc`` means the bus must be rebuilt (rather than one frame being lost)."""
    if isinstance(exc, BusDeadError):
        return True
    codes = {getattr(exc, "error_code", None), getattr(exc, "errno", None)}
    cause = exc.__cause__ or exc.__context__
    if isinstance(cause, OSError):
        codes.add(cause.errno)
    if codes & FATAL_ERRNOS:
        return True
    # python-can's virtual bus after shutdown; serial errors from a vanished device.
    text = str(exc)
    return "closed bus" in text or type(exc).__module__.startswith("serial")


# -- opening ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BusSpec:
    """What to open, from ``[can]``, plus the IDs the gateway listens to."""

    interface: Literal["socketcan", "slcan", "virtual"]
    channel: str
    bitrate: int
    tty_baudrate: int
    accept_ids: frozenset[int]


def open_bus(spec: BusSpec) -> can.BusABC:
    """Open the bus. Blocking (serial open, adapter commands): call it off the loop."""
    if spec.interface == "socketcan":
        filters: list[Any] = [
            {"can_id": can_id, "can_mask": 0x7FF, "extended": False}
            for can_id in sorted(spec.accept_ids)
        ]
        # Error frames stay on (the default): they are how bus-off and restarts are seen.
        return can.Bus(interface="socketcan", channel=spec.channel, can_filters=filters)
    if spec.interface == "slcan":
        return ChunkedSlcanBus(
            spec.channel,
            accept_ids=spec.accept_ids,
            tty_baudrate=spec.tty_baudrate,
            bitrate=spec.bitrate,
        )
    return CountingVirtualBus(spec.channel, accept_ids=spec.accept_ids)


# -- slcan ----------------------------------------------------------------------------------


class ChunkedSlcanBus(slcanBus):
    """python-can's slcan bus with a chunked, filtering, non-blocking line layer."""

    #: A line longer than this without a terminator is garbage (the longest frame is 27).
    MAX_LINE = 64
    #: Bytes waiting for the adapter beyond which new frames are refused, not queued.
    MAX_TX_PENDING = 4096
    #: First characters of frames we never use: extended, remote, CAN FD.
    _OTHER_FRAMES = frozenset(b"TrRdDbBx")
    #: First characters of replies to commands (version, serial, flags, transmit acks).
    _REPLIES = frozenset(b"VvNFzZ")

    def __init__(
        self,
        channel: str,
        *,
        accept_ids: Iterable[int],
        tty_baudrate: int = 115200,
        bitrate: int = 500000,
    ) -> None:
        # Set before super().__init__: it already writes the open sequence through _write.
        self._lines: deque[bytes] = deque()
        self._partial = b""
        self._tx_pending = b""
        self._read_time = 0.0
        self._accept = frozenset(
            form for can_id in accept_ids for form in (b"%03X" % can_id, b"%03x" % can_id)
        )
        self.foreign = 0
        self.adapter_errors = 0
        self._fd: int | None = None
        self._poll: select.poll | None = None
        self._channel_open = False
        # sleep_after_open=0: python-can's default sleeps 2 s after opening "for the adapter";
        # a CANable answers at once, and a cold start must reach the SI within a second.
        super().__init__(channel, tty_baudrate=tty_baudrate, bitrate=bitrate, sleep_after_open=0)
        try:
            fd = int(self.serialPortOrig.fileno())
        except Exception:  # URL transports without a descriptor fall back
            fd = None
        if fd is not None:
            os.set_blocking(fd, False)
            self._poll = select.poll()
            self._poll.register(fd, select.POLLIN)  # hang-ups are reported whatever the mask
        self._fd = fd

    # python-can's __init__ opens the channel twice (set_bitrate ends with "O", then it sends
    # "O" again), which a CANable answers with an error; send each only when it changes state.
    def open(self) -> None:
        if not self._channel_open:
            super().open()
            self._channel_open = True

    def close(self) -> None:
        super().close()
        self._channel_open = False

    @property
    def has_buffered(self) -> bool:
        """Lines already read but not yet returned (the descriptor may not be readable)."""
        return bool(self._lines)

    # python-can calls _write for the open/close commands; this is the only write path.
    def _write(self, string: str) -> None:
        self._write_bytes(string.encode() + self.LINE_TERMINATOR)

    def _write_bytes(self, payload: bytes) -> None:
        if self._tx_pending and len(self._tx_pending) + len(payload) > self.MAX_TX_PENDING:
            self._flush_pending()
            if self._tx_pending:
                raise can.CanOperationError("Transmit buffer full", error_code=errno.ENOBUFS)
        self._tx_pending += payload
        self._flush_pending()

    def _flush_pending(self) -> None:
        if not self._tx_pending:
            return
        try:
            if self._fd is not None:
                written = os.write(self._fd, self._tx_pending)
            else:
                self.serialPortOrig.write_timeout = 0
                written = int(self.serialPortOrig.write(self._tx_pending) or 0)
        except BlockingIOError:
            return  # kept in _tx_pending; the next send tries again
        except OSError as exc:
            raise BusDeadError(f"write failed: {exc}", error_code=exc.errno) from exc
        except Exception as exc:
            raise BusDeadError(f"write failed: {exc}") from exc
        self._tx_pending = self._tx_pending[written:]

    def send(self, msg: can.Message, timeout: float | None = None) -> None:
        """Queue one frame for the adapter without ever blocking (``timeout`` is ignored)."""
        if msg.is_extended_id:
            head = b"T%08X%d" % (msg.arbitration_id, msg.dlc)
        else:
            head = b"t%03X%d" % (msg.arbitration_id, msg.dlc)
        self._write_bytes(head + bytes(msg.data).hex().upper().encode() + b"\r")

    def _fill(self, timeout: float | None) -> None:
        if self._fd is None:
            data = self._read_port(timeout)
        else:
            if timeout is None or timeout > 0:
                select.select([self._fd], [], [], timeout)
            try:
                data = os.read(self._fd, 65536)
            except BlockingIOError:
                return
            except OSError as exc:
                raise BusDeadError(f"read failed: {exc}", error_code=exc.errno) from exc
            if not data and self._hung_up():
                raise BusDeadError("adapter closed the line", error_code=errno.EIO)
        if not data:
            return
        self._read_time = time.time()
        pieces = (self._partial + data).split(b"\r")
        self._partial = pieces.pop()
        if len(self._partial) > self.MAX_LINE:
            self._partial = b""
            self.adapter_errors += 1
        self._lines.extend(pieces)

    def _hung_up(self) -> bool:
        """After an empty read: is the device gone, or was there just nothing to read?

        pyserial leaves the tty at VMIN=0, where "nothing yet" also reads as empty. A
        vanished adapter or a closed pty reports POLLHUP; "readable and empty" (pyserial's
        own test) is racy: a byte arriving between the read and the check looks the same.
        """
        assert self._poll is not None
        gone = select.POLLHUP | select.POLLERR | select.POLLNVAL
        return any(events & gone for _fd, events in self._poll.poll(0))

    def _read_port(self, timeout: float | None) -> bytes:
        port = self.serialPortOrig
        try:
            waiting = int(port.in_waiting)
            if waiting == 0 and timeout == 0:
                return b""
            return bytes(port.read(max(waiting, 1)))
        except Exception as exc:
            raise BusDeadError(f"read failed: {exc}") from exc

    def _recv_internal(self, timeout: float | None) -> tuple[can.Message | None, bool]:
        if not self._lines:
            self._fill(timeout)
        while self._lines:
            msg = self._parse(self._lines.popleft())
            if msg is not None:
                return msg, True
        return None, True

    def _parse(self, line: bytes) -> can.Message | None:
        if line.startswith(b"\a"):  # error replies (BEL) have no terminator of their own
            stripped = line.lstrip(b"\a")
            self.adapter_errors += len(line) - len(stripped)
            line = stripped
        if not line:
            return None  # an OK reply to a command
        kind = line[0]
        if kind != 0x74:  # not "t": extended/remote/FD frames, command replies, or noise
            if kind in self._OTHER_FRAMES:
                self.foreign += 1
            elif kind not in self._REPLIES:
                self.adapter_errors += 1
            return None
        if line[1:4] not in self._accept:
            self.foreign += 1
            return None
        dlc = line[4] - 0x30 if len(line) > 4 else -1
        if not 0 <= dlc <= 8 or len(line) != 5 + 2 * dlc:
            self.adapter_errors += 1
            return None
        try:
            data = bytes.fromhex(line[5:].decode("ascii"))
        except ValueError:
            self.adapter_errors += 1
            return None
        return can.Message(
            arbitration_id=int(line[1:4], 16),
            data=data,
            dlc=dlc,
            is_extended_id=False,
            timestamp=self._read_time,
        )

    def shutdown(self) -> None:
        """Close without blocking and without raising: the adapter may already be gone."""
        try:
            can.BusABC.shutdown(self)
        finally:
            try:
                self._tx_pending = b""
                self._write_bytes(b"C\r")
            except Exception:  # noqa: S110 - best effort on a dying device
                pass
            with contextlib.suppress(Exception):  # already closed by the kernel
                self.serialPortOrig.close()


# -- virtual --------------------------------------------------------------------------------


class CountingVirtualBus(VirtualBus):
    """python-can's in-process virtual bus, filtering and counting foreign IDs like slcan."""

    def __init__(self, channel: str, *, accept_ids: Iterable[int]) -> None:
        self._accept = frozenset(accept_ids)
        self.foreign = 0
        self.adapter_errors = 0
        super().__init__(channel=channel)

    def _accepted(self, msg: can.Message) -> bool:
        return bool(
            msg.is_error_frame
            or (
                not msg.is_extended_id
                and not msg.is_remote_frame
                and msg.arbitration_id in self._accept
            )
        )

    def _recv_internal(self, timeout: float | None) -> tuple[can.Message | None, bool]:
        self._check_if_open()
        try:
            msg = self.queue.get(block=True, timeout=timeout)
            while not self._accepted(msg):
                self.foreign += 1
                msg = self.queue.get_nowait()
        except queue.Empty:
            return None, True
        return msg, True


# -- receiving ------------------------------------------------------------------------------

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


def to_message(frame: Frame) -> can.Message:
    return can.Message(
        arbitration_id=frame.can_id, data=frame.data, dlc=len(frame.data), is_extended_id=False
    )


@dataclass(frozen=True, slots=True)
class SendResult:
    sent: int
    failures: tuple[tuple[int, Exception], ...] = ()

    @property
    def fatal(self) -> Exception | None:
        return next((exc for _id, exc in self.failures if is_fatal(exc)), None)


class FrameSender(Protocol):
    def send_set(self, frames: FrameSet) -> SendResult: ...

    def send_once(self, frame: Frame) -> None: ...

    def force(self, frames: FrameSet) -> None: ...

    def stop(self) -> None: ...


class LoopSender:
    """Sends each frame set from the loop's timer, never blocking (slcan, virtual)."""

    def __init__(self, bus: can.BusABC) -> None:
        self._bus = bus

    def send_set(self, frames: FrameSet) -> SendResult:
        sent, failures = 0, []
        for frame in frames:
            try:
                self._bus.send(to_message(frame), timeout=0)
            except Exception as exc:  # classified by the caller
                failures.append((frame.can_id, exc))
                if is_fatal(exc):
                    break
            else:
                sent += 1
        return SendResult(sent, tuple(failures))

    def send_once(self, frame: Frame) -> None:
        self._bus.send(to_message(frame), timeout=0)

    def force(self, frames: FrameSet) -> None:
        """From the watchdog thread while the loop is stuck: best effort, errors ignored."""
        for frame in frames:
            try:
                self._bus.send(to_message(frame), timeout=0)
            except Exception:  # noqa: S112 - the process exits next
                continue

    def stop(self) -> None:
        return None


class BcmSender:
    """socketcan: one kernel broadcast-manager task per BMS ID, updated with ``modify_data``.

    The kernel keeps the period exactly, with no Python on the path. The flip side: a hung
    Python would leave the kernel repeating the last limits forever, which is why the
    watchdog (:mod:`smavenus.io.watchdog`) forces safe frames and exits when the loop stalls;
    process exit deletes the tasks with their socket. ``frames_sent`` counts frames installed
    per period, not frames the kernel put on the wire.
    """

    def __init__(self, bus: can.BusABC, period_s: float) -> None:
        self._bus = bus
        self._period_s = period_s
        self._tasks: dict[int, Any] = {}
        self._installed: dict[int, bytes] = {}

    def send_set(self, frames: FrameSet) -> SendResult:
        failures = []
        for frame in frames:
            try:
                self._install(frame)
            except Exception as exc:  # classified by the caller
                failures.append((frame.can_id, exc))
        return SendResult(len(frames) - len(failures), tuple(failures))

    def _install(self, frame: Frame) -> None:
        task = self._tasks.get(frame.can_id)
        if task is None:
            self._tasks[frame.can_id] = self._bus.send_periodic(to_message(frame), self._period_s)
        elif self._installed.get(frame.can_id) != frame.data:
            task.modify_data(to_message(frame))
        self._installed[frame.can_id] = frame.data

    def send_once(self, frame: Frame) -> None:
        self._bus.send(to_message(frame), timeout=0)

    def force(self, frames: FrameSet) -> None:
        for frame in frames:
            try:
                task = self._tasks.get(frame.can_id)
                if task is not None:
                    task.modify_data(to_message(frame))
                self._bus.send(to_message(frame), timeout=0)
            except Exception:  # noqa: S112 - the process exits next
                continue

    def stop(self) -> None:
        for task in self._tasks.values():
            try:
                task.stop()
            except Exception:  # noqa: S112 - the socket may be gone already
                continue
        self._tasks.clear()
        self._installed.clear()


def sender_for(bus: can.BusABC, interface: str, period_s: float) -> FrameSender:
    if interface == "socketcan":
        return BcmSender(bus, period_s)
    return LoopSender(bus)


def run_in_daemon_thread(
    function: Callable[[], Any], on_orphan: Callable[[Any], None], name: str
) -> asyncio.Future[Any]:
    """Run a blocking call in a daemon thread; the future completes on the loop.

    If the future was cancelled (a timeout) by the time the call returns, ``on_orphan`` gets
    the result so it can be released (a bus opened too late is shut down, not leaked). A
    daemon thread, unlike the default executor, never holds up interpreter exit.
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[Any] = loop.create_future()

    def settle(ok: bool, value: Any) -> None:
        if future.cancelled():
            if ok:
                on_orphan(value)
        elif ok:
            future.set_result(value)
        else:
            future.set_exception(value)

    def target() -> None:
        try:
            result = function()
        except Exception as exc:  # handed to the awaiting coroutine
            outcome: tuple[bool, Any] = (False, exc)
        else:
            outcome = (True, result)
        try:
            loop.call_soon_threadsafe(settle, *outcome)
        except RuntimeError:  # loop closed: nobody is waiting any more
            if outcome[0]:
                on_orphan(outcome[1])

    threading.Thread(target=target, name=name, daemon=True).start()
    return future


def monotonic_deadline_to_loop(loop: asyncio.AbstractEventLoop, deadline: float) -> float:
    """A ``time.monotonic`` deadline as ``loop.time()`` (uvloop's clock is coarser)."""
    if math.isinf(deadline):
        return deadline
    return loop.time() + max(0.0, deadline - time.monotonic())
