"""A simulated USB-CAN adapter (slcan) on a pseudo-terminal.

The host (python-can's ``slcan`` interface, hence the can-gateway) opens ``link_path``, a
stable symlink to the pty's slave side, exactly as it would open ``/dev/ttyACM0`` or a
``/dev/serial/by-id/…`` link. :meth:`SlcanPty.unplug` closes the pty (the host's reads fail as
with a pulled USB cable) and removes the link; :meth:`SlcanPty.plug` creates a new pty and
points the link at it again, as udev does on replug.

Reading is event-driven (``loop.add_reader`` on the master side); writes never block: what the
pty does not take at once waits in the adapter's own buffer (``OUTGOING_LIMIT``), written as
the host reads, so a line is never cut by another; when that fills too, frames are dropped and
counted, as a real adapter's USB buffer would drop them. :meth:`SlcanPty.send_raw` puts any
bytes on the line (the soak's malformed input and bursts).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import termios
import tty
from collections.abc import Callable
from pathlib import Path

import structlog

from smavenus.slcan.device import ChannelState, HostFrame, SlcanDevice

log = structlog.get_logger(__name__)

HostFrameCallback = Callable[[HostFrame], None]
#: What the adapter holds for a host that reads slower than the bus delivers (a CANable's
#: USB buffer is of this order); beyond it, frames are dropped.
OUTGOING_LIMIT = 64 * 1024
ChannelCallback = Callable[[ChannelState], None]


class SlcanPty:
    """One simulated adapter: :meth:`plug` it, then :meth:`send_frame` bus traffic to the host."""

    def __init__(
        self,
        on_host_frame: HostFrameCallback,
        link_path: Path | None = None,
        device: SlcanDevice | None = None,
        on_channel_change: ChannelCallback | None = None,
    ) -> None:
        self.device = device or SlcanDevice()
        self.link_path = link_path
        self._on_host_frame = on_host_frame
        #: Called with the new state when the host opens or closes the channel.
        self._on_channel_change = on_channel_change
        self._master: int | None = None
        self._slave: int | None = None
        self.slave_name: str | None = None
        self.frames_to_host = 0
        self.frames_dropped = 0
        self.frames_from_host = 0
        self.raw_sent = 0  #: send_raw payloads taken (queued or written)
        self.raw_dropped = 0
        self._wedged = False
        self._outgoing = bytearray()  #: taken but not yet written to the pty
        self._writer_armed = False

    @property
    def path(self) -> str:
        """What the host should open: the stable link if there is one, else the pty itself."""
        if self.link_path is not None:
            return str(self.link_path)
        if self.slave_name is None:
            raise RuntimeError("the adapter is unplugged")
        return self.slave_name

    @property
    def plugged(self) -> bool:
        return self._master is not None

    def plug(self) -> str:
        """Create the pty (and the link); start answering the host. Returns :attr:`path`."""
        if self._master is not None:
            return self.path
        master, slave = os.openpty()
        tty.setraw(slave)  # no echo, no CR/NL translation: the host sees bytes as sent
        os.set_blocking(master, False)
        self._master, self._slave = master, slave
        self.slave_name = os.ttyname(slave)
        self.device = SlcanDevice(
            version=self.device.version, serial_number=self.device.serial_number
        )
        if self.link_path is not None:
            temporary = self.link_path.with_name(self.link_path.name + ".new")
            with contextlib.suppress(FileNotFoundError):
                temporary.unlink()
            temporary.symlink_to(self.slave_name)
            temporary.replace(self.link_path)
        if not self._wedged:
            asyncio.get_running_loop().add_reader(master, self._readable)
        log.info("slcan_adapter_plugged", path=self.path, pty=self.slave_name)
        return self.path

    def unplug(self) -> None:
        """Close the pty as a pulled USB cable would; the host's next read fails."""
        if self._master is None:
            return
        if not self._wedged:
            asyncio.get_running_loop().remove_reader(self._master)
        self._disarm_writer()
        self._outgoing.clear()
        for fd in (self._master, self._slave):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._master = self._slave = None
        if self.link_path is not None:
            with contextlib.suppress(FileNotFoundError):
                self.link_path.unlink()
        log.info("slcan_adapter_unplugged", pty=self.slave_name)

    def wedge(self) -> None:
        """Take nothing more from the host, as a hung adapter firmware does: the host's
        writes pile up until it answers "buffer full" to every frame."""
        if self._master is not None and not self._wedged:
            asyncio.get_running_loop().remove_reader(self._master)
            if self._slave is not None:
                # Output of the tty stopped (as by XOFF): the host's writes fill its small
                # output buffer in seconds rather than the pty's large one in minutes.
                termios.tcflow(self._slave, termios.TCOOFF)
        self._wedged = True

    def unwedge(self) -> None:
        """The adapter recovers (a reset): what piled up is discarded, reading resumes."""
        if not self._wedged:
            return
        self._wedged = False
        if self._master is None:
            return
        if self._slave is not None:
            termios.tcflow(self._slave, termios.TCOON)
        with contextlib.suppress(OSError):
            while os.read(self._master, 65536):
                pass
        asyncio.get_running_loop().add_reader(self._master, self._readable)

    def send_frame(self, can_id: int, data: bytes, *, extended: bool = False) -> bool:
        """Deliver a bus frame to the host if its channel is open. False if not delivered."""
        if self._master is None or not self.device.is_open:
            return False
        if self._write(self.device.frame_line(can_id, data, extended=extended)):
            self.frames_to_host += 1
            return True
        self.frames_dropped += 1
        return False

    def send_raw(self, payload: bytes) -> bool:
        """Put ``payload`` on the line as it is, if the host has the channel open."""
        if self._master is None or not self.device.is_open:
            return False
        if self._write(payload):
            self.raw_sent += 1
            return True
        self.raw_dropped += 1
        return False

    def _write(self, payload: bytes) -> bool:
        """Write or queue all of ``payload``; False (nothing taken) when the buffer is full."""
        if self._master is None:
            return False
        if self._outgoing:
            if len(self._outgoing) + len(payload) > OUTGOING_LIMIT:
                return False
            self._outgoing += payload
            return True
        try:
            written = os.write(self._master, payload)
        except BlockingIOError:
            written = 0
        except OSError as exc:
            if exc.errno in (errno.EIO, errno.EBADF):
                return False
            raise
        if written < len(payload):
            # The rest waits: a partly written line must be finished before any other.
            self._outgoing += payload[written:]
            self._arm_writer()
        return True

    def _arm_writer(self) -> None:
        if not self._writer_armed and self._master is not None:
            asyncio.get_running_loop().add_writer(self._master, self._flush)
            self._writer_armed = True

    def _disarm_writer(self) -> None:
        if self._writer_armed and self._master is not None:
            asyncio.get_running_loop().remove_writer(self._master)
        self._writer_armed = False

    def _flush(self) -> None:
        if self._master is None:
            return
        try:
            written = os.write(self._master, self._outgoing)
        except BlockingIOError:
            return
        except OSError as exc:
            if exc.errno not in (errno.EIO, errno.EBADF):
                raise
            written = len(self._outgoing)  # the host is gone: nothing can be delivered
        del self._outgoing[:written]
        if not self._outgoing:
            self._disarm_writer()

    def _readable(self) -> None:
        if self._master is None:
            return
        try:
            data = os.read(self._master, 65536)
        except BlockingIOError:
            return
        except OSError as exc:
            if exc.errno == errno.EIO:
                return
            raise
        state_before = self.device.state
        reply = self.device.feed(data)
        if not self.device.is_open and self._outgoing:
            # A closed channel forwards nothing: what waited for the host is not delivered.
            self._outgoing.clear()
            self._disarm_writer()
        if reply:
            self._write(reply)
        if self.device.state is not state_before and self._on_channel_change is not None:
            self._on_channel_change(self.device.state)
        if self.device.transmitted:
            frames, self.device.transmitted = self.device.transmitted, []
            for frame in frames:
                self.frames_from_host += 1
                self._on_host_frame(frame)
