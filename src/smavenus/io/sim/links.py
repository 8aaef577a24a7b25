"""How the simulated SI reaches the bus: as the USB adapter itself on a pty, or on python-can.

Both links deliver frames from the host (the BMS side) to one callback and put the SI's frames
on the bus. Both can be "unplugged" and "plugged" for fault tests: the pty link closes the pty
as a pulled USB cable would; the python-can link shuts its bus down and reopens it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NamedTuple, Protocol

import can
import structlog

from smavenus.io.sim.slcan_pty import SlcanPty
from smavenus.slcan.device import ChannelState, HostFrame

log = structlog.get_logger(__name__)

#: (can_id, data, extended) of a frame the host put on the bus.
FrameCallback = Callable[[int, bytes, bool], None]
OpenCallback = Callable[[], None]

SMA_BITRATE = 500_000


class InjectedFrame(NamedTuple):
    """A frame another device (or the soak) puts on the bus for the host to hear."""

    can_id: int
    data: bytes
    extended: bool = False
    remote: bool = False


class SiLink(Protocol):
    """The simulated SI's link to the bus: :class:`SlcanLink` or :class:`PythonCanLink`."""

    description: str

    async def start(self, on_frame: FrameCallback, on_open: OpenCallback | None = None) -> None:
        """Begin; ``on_open`` runs once the host side can hear us (at once if not a pty)."""

    def send(self, can_id: int, data: bytes) -> bool: ...

    def inject(self, frames: Sequence[InjectedFrame], raw: Sequence[bytes]) -> int:
        """Frames and raw bytes for the host only; how many were delivered."""

    def unplug(self) -> None: ...

    def plug(self) -> None: ...

    async def stop(self) -> None: ...


class SlcanLink:
    """The simulated SI *is* the USB adapter: an slcan device on a pseudo-terminal.

    The host opens :attr:`path` (the stable ``link_path`` symlink, or the pty itself) exactly
    as it would open a CANable. A host that opens the channel at another bitrate than the SI's
    500 kbit/s hears nothing and is heard by nobody, as on a real bus.
    """

    def __init__(self, link_path: Path | None = None) -> None:
        self.link_path = link_path
        self.pty: SlcanPty | None = None
        self.wrong_bitrate_frames = 0
        self.description = f"slcan pty {link_path or ''}".strip()
        self._on_frame: FrameCallback | None = None
        self._on_open: OpenCallback | None = None
        self._warned_bitrate = False

    @property
    def path(self) -> str:
        if self.pty is None:
            raise RuntimeError("the link is not started")
        return self.pty.path

    async def start(self, on_frame: FrameCallback, on_open: OpenCallback | None = None) -> None:
        self._on_frame, self._on_open = on_frame, on_open
        self.pty = SlcanPty(
            self._host_frame, link_path=self.link_path, on_channel_change=self._channel
        )
        self.pty.plug()

    def _bitrate_ok(self) -> bool:
        assert self.pty is not None
        bitrate = self.pty.device.bitrate
        ok = bitrate in (SMA_BITRATE, -1)  # -1: custom BTR timing, not modelled
        if not ok and not self._warned_bitrate:
            self._warned_bitrate = True
            log.warning("slcan_bitrate_mismatch", host_bitrate=bitrate, bus_bitrate=SMA_BITRATE)
        return ok

    def _channel(self, state: ChannelState) -> None:
        log.info("slcan_channel_changed", state=state.value)
        if state is not ChannelState.CLOSED and self._on_open is not None:
            self._on_open()

    def _host_frame(self, frame: HostFrame) -> None:
        if frame.remote or self._on_frame is None:
            return
        if not self._bitrate_ok():
            self.wrong_bitrate_frames += 1
            return
        self._on_frame(frame.can_id, frame.data, frame.extended)

    def send(self, can_id: int, data: bytes) -> bool:
        if self.pty is None or not self.pty.device.is_open or not self._bitrate_ok():
            return False
        return self.pty.send_frame(can_id, data)

    def inject(self, frames: Sequence[InjectedFrame], raw: Sequence[bytes]) -> int:
        """All in one write (nothing interleaves), or nothing if the host cannot hear it."""
        if self.pty is None or not self.pty.device.is_open or not self._bitrate_ok():
            return 0
        line = self.pty.device.frame_line
        payload = b"".join(
            line(f.can_id, f.data, extended=f.extended, remote=f.remote) for f in frames
        )
        return len(frames) + len(raw) if self.pty.send_raw(payload + b"".join(raw)) else 0

    def unplug(self) -> None:
        if self.pty is not None:
            self.pty.unplug()

    def plug(self) -> None:
        if self.pty is not None:
            self.pty.plug()

    async def stop(self) -> None:
        self.unplug()


class PythonCanLink:
    """The simulated SI on any python-can interface (``virtual`` in-process, ``socketcan``)."""

    def __init__(self, interface: str, channel: str) -> None:
        self.interface = interface
        self.channel = channel
        self.description = f"{interface}:{channel}"
        self.bus: can.BusABC | None = None
        self.send_errors = 0
        self._notifier: can.Notifier | None = None
        self._on_frame: FrameCallback | None = None

    async def start(self, on_frame: FrameCallback, on_open: OpenCallback | None = None) -> None:
        self._on_frame = on_frame
        self.plug()
        if on_open is not None:
            on_open()

    def _on_message(self, msg: can.Message) -> None:
        if msg.is_error_frame or msg.is_remote_frame or self._on_frame is None:
            return
        self._on_frame(msg.arbitration_id, bytes(msg.data), msg.is_extended_id)

    def send(self, can_id: int, data: bytes) -> bool:
        if self.bus is None:
            return False
        try:
            self.bus.send(can.Message(arbitration_id=can_id, data=data, is_extended_id=False))
        except can.CanError as exc:
            self.send_errors += 1
            if self.send_errors == 1 or self.send_errors % 1000 == 0:
                log.warning("can_send_failed", errors=self.send_errors, reason=str(exc))
            return False
        return True

    def inject(self, frames: Sequence[InjectedFrame], raw: Sequence[bytes]) -> int:
        if raw:
            raise ValueError("raw bytes need the slcan adapter (--slcan-link)")
        if self.bus is None:
            return 0
        delivered = 0
        for f in frames:
            msg = can.Message(
                arbitration_id=f.can_id,
                data=f.data,
                is_extended_id=f.extended,
                is_remote_frame=f.remote,
                dlc=len(f.data),
            )
            try:
                self.bus.send(msg)
            except can.CanError:
                continue
            delivered += 1
        return delivered

    def plug(self) -> None:
        if self.bus is not None:
            return
        if self.interface in ("virtual", "socketcan"):  # the bitrate is the interface's own
            self.bus = can.Bus(interface=self.interface, channel=self.channel)
        else:
            self.bus = can.Bus(interface=self.interface, channel=self.channel, bitrate=SMA_BITRATE)
        # Buses without fileno() (virtual) are read by a thread; a short timeout lets it stop fast.
        self._notifier = can.Notifier(
            self.bus, [self._on_message], timeout=0.1, loop=asyncio.get_running_loop()
        )
        log.info("can_link_up", interface=self.interface, channel=self.channel)

    def unplug(self) -> None:
        if self._notifier is not None:
            self._notifier.stop()
            self._notifier = None
        if self.bus is not None:
            self.bus.shutdown()
            self.bus = None
            log.info("can_link_down", interface=self.interface, channel=self.channel)

    async def stop(self) -> None:
        self.unplug()
