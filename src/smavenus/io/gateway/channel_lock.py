"""One can-gateway per CAN channel: an flock'ed file in the state directory, held for life.

Two gateways on one bus would both feed the SI: two frame sets per period with different
limits, each overwriting the other's (and on socketcan two broadcast-manager jobs). A
supervisor started twice, or a hand-started copy next to the service, must not get that far:
the second one exits 1 with a line naming the first one's pid.

Why flock on a file: the kernel releases it when its holder dies however it dies (SIGKILL, the
watchdog's ``os._exit``), so a lock never outlives a crash and never blocks a restart; no pid
file has to be judged stale. The file is never deleted (deleting a lock file lets a waiter lock
the unlinked inode while a newcomer locks a new file). The holder writes its pid into it only
so that the second gateway can name it.

The file is named after the interface and channel; an slcan device path is resolved first, so
``/dev/serial/by-id/…`` and the ``/dev/ttyACM0`` it points to are one channel.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
from pathlib import Path

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class ChannelBusyError(Exception):
    """Another process holds the channel's lock."""

    def __init__(self, path: Path, holder_pid: int | None) -> None:
        holder = "an unknown process" if holder_pid is None else f"pid {holder_pid}"
        super().__init__(f"{path} is locked by {holder}")
        self.path = path
        self.holder_pid = holder_pid


def lock_path(state_dir: Path, interface: str, channel: str) -> Path:
    key = channel
    if interface == "slcan" and "://" not in channel:  # a device, not a pyserial URL
        key = os.path.realpath(channel)
    return state_dir / f"can-{interface}-{_UNSAFE.sub('_', key).strip('_') or '_'}.lock"


class ChannelLock:
    """Held from :meth:`acquire` until :meth:`release` or the process ends."""

    def __init__(self, fd: int, path: Path) -> None:
        self._fd: int | None = fd
        self.path = path

    @classmethod
    def acquire(cls, state_dir: Path, interface: str, channel: str) -> ChannelLock:
        """Raises :class:`ChannelBusyError` if held elsewhere, OSError if it cannot be made."""
        path = lock_path(state_dir, interface, channel)
        state_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_pid(fd)
            os.close(fd)
            raise ChannelBusyError(path, holder) from None
        except BaseException:
            os.close(fd)
            raise
        with contextlib.suppress(OSError):  # the pid is for the message only
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        return cls(fd, path)

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _read_pid(fd: int) -> int | None:
    """The holder's pid; None if it has not written it yet (it has just locked) or garbage."""
    try:
        text = os.pread(fd, 32, 0).decode("ascii").strip()
        return int(text) if text else None
    except (OSError, ValueError):
        return None
