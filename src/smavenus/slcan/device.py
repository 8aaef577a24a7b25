"""The adapter's half of slcan: parse the host's commands, answer them, format received frames.

A CANable with stock firmware speaks this over USB CDC; python-can's ``slcan`` interface is
the host. The simulator plays the adapter on a pseudo-terminal with this state machine, so
the gateway talks to it exactly as to real hardware. Pure: bytes in, bytes and events out.

Commands (``\\r``-terminated): ``O`` open, ``L`` open listen-only, ``C`` close, ``S0``–``S8``
bitrate (10 k … 1 M; only while closed), ``sXXYY`` BTR registers, ``V`` version, ``N``
serial number, ``F`` status flags, ``Z0``/``Z1`` timestamps, ``t``/``T``/``r``/``R``
transmit standard/extended/remote frames (only while open, not listen-only).
Replies: ``\\r`` OK, ``\\a`` (BEL) error. Like the CANable firmware, a transmit is not
acknowledged with ``z``. An empty line is accepted (python-can ≥ 4.6.1 sends one in place of
a CAN-FD data bitrate).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

OK = b"\r"
ERROR = b"\a"

#: Lawicel S-codes → bit/s.
BITRATES = {
    0: 10_000,
    1: 20_000,
    2: 50_000,
    3: 100_000,
    4: 125_000,
    5: 250_000,
    6: 500_000,
    7: 800_000,
    8: 1_000_000,
}
MAX_LINE = 64  # the longest valid command is "T" + 8 + 1 + 16 = 26 characters


class ChannelState(enum.Enum):
    CLOSED = "closed"
    OPEN = "open"
    LISTEN_ONLY = "listen_only"


@dataclass(frozen=True, slots=True)
class HostFrame:
    """A frame the host asked the adapter to put on the bus."""

    can_id: int
    data: bytes
    extended: bool = False
    remote: bool = False


@dataclass
class SlcanDevice:
    """State of one adapter. Feed host bytes to :meth:`feed`; it returns the reply bytes."""

    version: str = "1013"
    serial_number: str = "SV01"
    bitrate: int | None = None
    state: ChannelState = ChannelState.CLOSED
    timestamps: bool = False
    #: Frames the host transmitted, in order, for the simulated bus to pick up.
    transmitted: list[HostFrame] = field(default_factory=list)
    commands: int = 0
    errors: int = 0
    _buffer: bytearray = field(default_factory=bytearray)

    @property
    def is_open(self) -> bool:
        return self.state is not ChannelState.CLOSED

    def feed(self, data: bytes) -> bytes:
        """Process host bytes; return everything to write back to the host."""
        replies = bytearray()
        self._buffer.extend(data)
        while True:
            end = self._buffer.find(b"\r")
            if end < 0:
                if len(self._buffer) > MAX_LINE:  # garbage without a terminator
                    self._buffer.clear()
                    self.errors += 1
                    replies += ERROR
                break
            line = bytes(self._buffer[:end]).lstrip(b"\n")
            del self._buffer[: end + 1]
            replies += self._command(line)
        return bytes(replies)

    def frame_line(
        self, can_id: int, data: bytes, *, extended: bool = False, remote: bool = False
    ) -> bytes:
        """The line the adapter sends the host for a frame received from the bus."""
        dlc = len(data)
        if remote:
            head = f"R{can_id:08X}{dlc}" if extended else f"r{can_id:03X}{dlc}"
            return head.encode() + b"\r"
        head = f"T{can_id:08X}{dlc}" if extended else f"t{can_id:03X}{dlc}"
        return head.encode() + data.hex().upper().encode() + b"\r"

    # -- commands ---------------------------------------------------------------------------

    def _command(self, line: bytes) -> bytes:
        self.commands += 1
        try:
            text = line.decode("ascii")
        except UnicodeDecodeError:
            return self._error()
        if not text:
            return OK
        handler = {
            "O": self._open,
            "L": self._listen,
            "C": self._close,
            "S": self._set_bitrate,
            "s": self._set_btr,
            "V": self._version,
            "v": self._version,
            "N": self._serial,
            "F": self._flags,
            "Z": self._timestamps,
            "t": self._transmit,
            "T": self._transmit,
            "r": self._transmit,
            "R": self._transmit,
        }.get(text[0])
        if handler is None:
            return self._error()
        return handler(text)

    def _error(self) -> bytes:
        self.errors += 1
        return ERROR

    def _open(self, text: str) -> bytes:
        if text != "O" or self.is_open or self.bitrate is None:
            return self._error()
        self.state = ChannelState.OPEN
        return OK

    def _listen(self, text: str) -> bytes:
        if text != "L" or self.is_open or self.bitrate is None:
            return self._error()
        self.state = ChannelState.LISTEN_ONLY
        return OK

    def _close(self, text: str) -> bytes:
        # Closing a closed channel is harmless: python-can sends C before S.
        if text != "C":
            return self._error()
        self.state = ChannelState.CLOSED
        return OK

    def _set_bitrate(self, text: str) -> bytes:
        if self.is_open or len(text) != 2 or not text[1].isdigit() or int(text[1]) not in BITRATES:
            return self._error()
        self.bitrate = BITRATES[int(text[1])]
        return OK

    def _set_btr(self, text: str) -> bytes:
        if self.is_open or len(text) != 5:
            return self._error()
        try:
            int(text[1:], 16)
        except ValueError:
            return self._error()
        self.bitrate = -1  # custom timing: we do not model it, but the channel may open
        return OK

    def _version(self, text: str) -> bytes:
        if len(text) != 1:
            return self._error()
        return f"{text}{self.version}\r".encode()

    def _serial(self, text: str) -> bytes:
        if text != "N":
            return self._error()
        return f"N{self.serial_number}\r".encode()

    def _flags(self, text: str) -> bytes:
        if text != "F" or not self.is_open:
            return self._error()
        return b"F00\r"

    def _timestamps(self, text: str) -> bytes:
        if text not in ("Z0", "Z1") or self.is_open:
            return self._error()
        self.timestamps = text == "Z1"
        return OK

    def _transmit(self, text: str) -> bytes:
        if self.state is not ChannelState.OPEN:
            return self._error()
        frame = parse_frame_line(text)
        if frame is None:
            return self._error()
        self.transmitted.append(frame)
        return b""


def parse_frame_line(text: str) -> HostFrame | None:
    """``t1238AABB…`` (and T/r/R) → a frame, or None if malformed."""
    kind = text[:1]
    extended = kind in ("T", "R")
    remote = kind in ("r", "R")
    id_len = 8 if extended else 3
    id_text, dlc_text, payload = (
        text[1 : 1 + id_len],
        text[1 + id_len : 2 + id_len],
        text[2 + id_len :],
    )
    if len(id_text) != id_len or not dlc_text.isdigit() or not _is_hex(id_text + payload):
        return None
    can_id, dlc = int(id_text, 16), int(dlc_text)
    valid = dlc <= 8 and can_id <= (0x1FFFFFFF if extended else 0x7FF)
    valid = valid and len(payload) == (0 if remote else 2 * dlc)
    if not valid:
        return None
    return HostFrame(can_id, bytes.fromhex(payload), extended, remote)


def _is_hex(text: str) -> bool:
    return all(c in "0123456789abcdefABCDEF" for c in text)
