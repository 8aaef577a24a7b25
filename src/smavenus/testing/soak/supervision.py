"""Watching the supervised services during a soak: each process's life, memory and log.

* **Lives.** ``supervise/status`` (daemontools' own record, 18 bytes: TAI64N of the last
  change, the pid little-endian, paused, want) is read every poll, so every pid a service has
  had is seen with when it appeared and when it ended — also exits that are followed by an
  instant restart (supervise restarts a process that ran more than a second at once). Reading
  the file costs nothing next to running ``svstat`` four times a tenth of a second.
* **Memory.** ``VmRSS`` of each live pid from ``/proc/<pid>/status``; a restarted process is a
  new series.
* **Logs.** Each service's multilog ``current`` is followed as it grows; multilog renames it
  when it is full (25 kB), so the old file is read to its end through the handle still open
  before the new one is opened. Lines at warning level and above are counted by event, and
  the ones that explain an exit (``service_failing``, ``bms_stream_stalled``, a traceback)
  are kept with their time.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

#: daemontools stamps TAI64N labels as 2^62 + 10 + Unix seconds (libtai's TAI − UTC of 1970).
_TAI64_UNIX_OFFSET = (1 << 62) + 10
_LINE = re.compile(r"^@([0-9a-f]{16})([0-9a-f]{8}) (.*)$")
_FIELD = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|\S*)')
#: Events that say why a process ended (besides a kill).
EXIT_EVENTS = frozenset({"service_failing", "bms_stream_stalled", "loop_callback_failed"})
KEEP_UNSTRUCTURED = 200


@dataclass
class Life:
    """One process of a service: its pid, when it was first and last seen, its memory."""

    service: str
    pid: int
    started: float  #: monotonic s, when the soak first saw it
    ended: float | None = None  #: monotonic s, when the soak saw it gone
    rss_kib: list[tuple[float, int]] = field(default_factory=list)


@dataclass(frozen=True)
class LogLine:
    service: str
    unix: float
    level: str
    event: str
    fields: dict[str, str]
    text: str


def read_supervise_pid(service_dir: Path) -> int | None:
    """The pid supervise runs now, or None (down, or supervise not there yet)."""
    try:
        status = (service_dir / "supervise" / "status").read_bytes()
    except OSError:
        return None
    if len(status) < 16:
        return None
    pid = int.from_bytes(status[12:16], "little")
    return pid or None


def read_rss_kib(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def parse_log_line(service: str, raw: str) -> LogLine | None:
    match = _LINE.match(raw)
    if match is None:
        return None
    seconds, nanos, text = match.groups()
    unix = int(seconds, 16) - _TAI64_UNIX_OFFSET + int(nanos, 16) / 1e9
    fields = {k: v.strip('"') for k, v in _FIELD.findall(text)}
    return LogLine(service, unix, fields.get("level", ""), fields.get("event", ""), fields, text)


class LogFollower:
    """Complete new lines of a multilog directory's ``current``, across renames."""

    def __init__(self, directory: Path) -> None:
        self.current = directory / "current"
        self._handle: IO[str] | None = None
        self._partial = ""

    def read(self) -> list[str]:
        lines: list[str] = []
        if self._handle is None:
            try:
                self._handle = self.current.open(errors="replace")
            except OSError:
                return lines
        lines += self._drain()
        with contextlib.suppress(OSError):
            renamed = self.current.stat().st_ino != _inode(self._handle)
            if renamed:  # multilog rotated: the rest of the old file first
                lines += self._drain()
                self._handle.close()
                self._handle = self.current.open(errors="replace")
                lines += self._drain()
        return lines

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def _drain(self) -> list[str]:
        assert self._handle is not None
        text = self._partial + self._handle.read()
        *complete, self._partial = text.split("\n")
        return complete


def _inode(handle: IO[str]) -> int:
    return os.fstat(handle.fileno()).st_ino


class ServiceWatch:
    """Lives, memory and notable log lines of the services under ``service_dir``."""

    def __init__(self, service_dir: Path, log_dir: Path, services: tuple[str, ...]) -> None:
        self.service_dir = service_dir
        self.services = services
        self.lives: list[Life] = []
        self.current: dict[str, Life | None] = dict.fromkeys(services)
        self.log_counts: dict[str, Counter[str]] = {s: Counter() for s in services}
        self.exit_lines: list[LogLine] = []
        self.unstructured: list[tuple[str, float, str]] = []
        self._followers = {s: LogFollower(log_dir / s) for s in services}

    def poll(self, now: float | None = None) -> None:
        """Note every pid change since the last poll."""
        now = time.monotonic() if now is None else now
        for service in self.services:
            pid = read_supervise_pid(self.service_dir / service)
            life = self.current[service]
            if life is not None and life.pid == pid:
                continue
            if life is not None:
                life.ended = now
            self.current[service] = None
            if pid is not None:
                new = Life(service, pid, now)
                self.lives.append(new)
                self.current[service] = new

    def sample_rss(self, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        for life in self.current.values():
            if life is not None and (kib := read_rss_kib(life.pid)) is not None:
                life.rss_kib.append((now, kib))

    def read_logs(self) -> None:
        for service, follower in self._followers.items():
            for raw in follower.read():
                line = parse_log_line(service, raw)
                if line is None or not line.level:
                    # a traceback or anything else not from structlog: always worth reading
                    if raw.strip() and len(self.unstructured) < KEEP_UNSTRUCTURED:
                        self.unstructured.append((service, time.time(), raw[:300]))
                    continue
                if line.level in ("warning", "error", "critical"):
                    self.log_counts[service][f"{line.level}:{line.event}"] += 1
                if line.event in EXIT_EVENTS:
                    self.exit_lines.append(line)

    def pid(self, service: str) -> int | None:
        life = self.current[service]
        return None if life is None else life.pid

    def up_for(self, service: str, now: float) -> float:
        """How long the current process has been seen running (0 when down)."""
        life = self.current[service]
        return 0.0 if life is None else now - life.started

    def close(self) -> None:
        for follower in self._followers.values():
            follower.close()
