"""Sending the BMS frame set: from the loop's timer (slcan, virtual) or by the kernel (BCM)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import can
from smavenus.gateway.frameset import Frame, FrameSet
from smavenus.io.can.errors import is_fatal


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
    #: True where the kernel keeps the period (BCM): new data may be installed at any time
    #: without changing the spacing on the wire; see :meth:`update`.
    keeps_time: bool

    def send_set(self, frames: FrameSet) -> SendResult: ...

    def update(self, frames: FrameSet) -> None: ...

    def send_once(self, frame: Frame) -> None: ...

    def force(self, frames: FrameSet) -> None: ...

    def stop(self) -> None: ...


class LoopSender:
    """Sends each frame set from the loop's timer, never blocking (slcan, virtual)."""

    keeps_time = False

    def __init__(self, bus: can.BusABC) -> None:
        self._bus = bus

    def update(self, frames: FrameSet) -> None:
        """Nothing: new data leaves with the next set, on the loop's own grid."""

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
    watchdog (:mod:`smavenus.io.gateway.watchdog`) forces safe frames and exits when the loop
    stalls; process exit deletes the tasks with their socket. Each period's frames count as
    *scheduled* (``frames_scheduled``): held in the kernel's job, not seen on the wire.
    """

    keeps_time = True

    def __init__(self, bus: can.BusABC, period_s: float) -> None:
        self._bus = bus
        self._period_s = period_s
        self._tasks: dict[int, Any] = {}
        self._installed: dict[int, bytes] = {}

    def update(self, frames: FrameSet) -> None:
        """Install new data in the running jobs now; it leaves at each job's next tick.

        Without this a new command would wait for the loop's next slot and then for the
        kernel's next tick after it: up to two periods. ``modify_data`` leaves the kernel's
        timer alone, so the spacing the SI sees does not change. Best effort: a failure here
        shows again, and is reported, at the next slot's :meth:`send_set`.
        """
        for frame in frames:
            task = self._tasks.get(frame.can_id)
            if task is None or self._installed.get(frame.can_id) == frame.data:
                continue
            try:
                task.modify_data(to_message(frame))
            except Exception:  # noqa: S112 - reported by the next send_set
                continue
            self._installed[frame.can_id] = frame.data

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
