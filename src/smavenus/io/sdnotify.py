"""systemd's notification protocol (``sd_notify``), without a dependency.

The protocol is one datagram per notification to the ``AF_UNIX`` socket named in
``NOTIFY_SOCKET`` (a leading ``@`` means the abstract namespace), carrying newline-separated
``KEY=VALUE`` assignments. ``WATCHDOG_USEC`` (for our PID, if ``WATCHDOG_PID`` is set) asks
for ``WATCHDOG=1`` at least that often. Under daemontools (Venus OS) none of this is set
and every call does nothing.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping

import structlog

log = structlog.get_logger(__name__)


class SdNotifier:
    def __init__(self, address: str | None, watchdog_interval_s: float | None) -> None:
        self._address = address
        self.watchdog_interval_s = watchdog_interval_s
        self._socket: socket.socket | None = None
        self._failed = False

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> SdNotifier:
        env = os.environ if environ is None else environ
        address = env.get("NOTIFY_SOCKET") or None
        interval: float | None = None
        usec = env.get("WATCHDOG_USEC", "")
        pid = env.get("WATCHDOG_PID", "")
        if usec.isdigit() and int(usec) > 0 and (not pid or pid == str(os.getpid())):
            interval = int(usec) / 1e6
        return cls(address, interval)

    @property
    def enabled(self) -> bool:
        return self._address is not None

    def notify(self, *assignments: str) -> bool:
        """Send one notification; never blocks, never raises. False if not delivered."""
        if self._address is None:
            return False
        target = "\0" + self._address[1:] if self._address.startswith("@") else self._address
        try:
            if self._socket is None:
                self._socket = socket.socket(
                    socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC
                )
                self._socket.setblocking(False)
            self._socket.sendto("\n".join(assignments).encode(), target)
        except OSError as exc:
            if not self._failed:  # once: a broken notify socket is not worth a line per ping
                self._failed = True
                log.warning("sd_notify_failed", socket=self._address, reason=str(exc))
            return False
        return True

    def ready(self, status: str) -> bool:
        return self.notify("READY=1", f"STATUS={status}")

    def status(self, status: str) -> bool:
        return self.notify(f"STATUS={status}")

    def watchdog(self) -> bool:
        return self.notify("WATCHDOG=1")

    def stopping(self) -> bool:
        return self.notify("STOPPING=1")

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None
