"""python-can's slcan with a chunked, filtering, non-blocking line layer.

python-can's slcan reads the serial line one byte per ``read(1)`` call, which at a flooded
bus costs most of a core and drops frames (measured; see ``docs/benchmarks.md``). This
subclass reads everything available in one ``os.read``, splits on ``\\r``, discards foreign
IDs by their three hex digits before building a :class:`can.Message`, and never blocks:
python-can's ``send`` ends in ``tcdrain``, which waits forever on an adapter that stopped
reading. The tty is flock'ed before the first byte goes out (as pyserial's ``exclusive=True``
does, which python-can does not pass on), so a second program that locks it too is refused
rather than interleaving its commands with ours; a tty held so is an open that fails.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import select
import time
from collections import deque
from collections.abc import Iterable

import can
from can.interfaces.slcan import slcanBus
from smavenus.io.can.errors import BusDeadError


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
        self._tty_claimed: bool | None = None  # None: not tried yet; False: no descriptor
        try:
            # sleep_after_open=0: python-can's default sleeps 2 s after opening "for the
            # adapter"; a CANable answers at once, and a cold start must reach the SI within
            # a second.
            super().__init__(
                channel, tty_baudrate=tty_baudrate, bitrate=bitrate, sleep_after_open=0
            )
        except BaseException:
            # python-can leaves its serial port open when the adapter's set-up fails.
            port = getattr(self, "serialPortOrig", None)
            if port is not None:
                with contextlib.suppress(Exception):
                    port.close()
            raise
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
        self._claim_tty()
        self._write_bytes(string.encode() + self.LINE_TERMINATOR)

    def _claim_tty(self) -> None:
        """Lock the tty before python-can's first command; raise if another process has it."""
        if self._tty_claimed is not None:
            return
        try:
            fd = int(self.serialPortOrig.fileno())
        except Exception:  # a URL transport: nothing to lock
            self._tty_claimed = False
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise can.CanInitializationError(
                f"{self.serialPortOrig.port} is locked by another process"
            ) from None
        self._tty_claimed = True

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
            data = b""
        if len(data) != dlc:  # fromhex skips whitespace: "11 22 " is two bytes, not three
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
                if self._tty_claimed is not None:  # never into another process's adapter
                    self._write_bytes(b"C\r")
            except Exception:  # noqa: S110 - best effort on a dying device
                pass
            with contextlib.suppress(Exception):  # already closed by the kernel
                self.serialPortOrig.close()


# -- virtual --------------------------------------------------------------------------------
