"""The persisted command: what is saved, when, and how old it is judged to be after a restart.

How the age is judged across a restart (``CLOCK_MONOTONIC`` restarts at every boot):

* **Same boot** (the saved ``boot_id`` equals ``/proc/sys/kernel/random/boot_id``): the age
  is ``now_monotonic - command.sent_monotonic``, exact whatever the wall clock does.
* **After a reboot**: the only common clock is the wall clock, so the age is
  ``now_unix - command.sent_unix``. A Raspberry Pi has no RTC and may boot with a clock
  behind the record (fake-hwclock, no NTP yet); then the age is *unknown* and the command is
  treated as too old: the gateway cold-starts, keeping only the record's SoC and SoH.

A reboot takes longer than ``command_max_age_s`` (10 s by default) anyway, so in practice
a persisted command is resumed after a gateway restart and only its SoC after a reboot.

Writing spares the SD card: an accepted command is written when it differs *materially*
from the last one written (:func:`materially_different`: an alarm or warning, a limit by a
wire step or a few amperes, the SoC by 1 %), otherwise at most every ``persist_interval_s``
(10 s). A controller renewing the same command every second costs one write in ten seconds,
not ten. The price: after a kill -9 the record may be older than ``command_max_age_s``, and
the restarted gateway cold-starts with its SoC (CCL 0 A) until the controller's next command
a second later; a SIGTERM writes the latest command on the way out.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from smavenus.gateway.policy import ResumePoint
from smavenus.ipc.messages import BmsCommand

STATE_FILE_NAME = "can-gateway-command.json"


class PersistedCommand(BaseModel):
    """The file's content. Validated on load like any other input crossing a boundary."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    format: Literal[1] = 1
    boot_id: str | None
    command: BmsCommand


def resume_point(
    record: PersistedCommand, boot_id: str | None, now_monotonic: float, now_unix: float
) -> ResumePoint:
    """The record's command with its age judged as described in the module docstring."""
    command = record.command
    if boot_id is not None and record.boot_id == boot_id:
        age = now_monotonic - command.sent_monotonic
        if age >= 0:
            return ResumePoint(command, age, "monotonic clock, same boot")
        return ResumePoint(command, None, "monotonic clock behind the record on the same boot")
    age = now_unix - command.sent_unix
    if age >= 0:
        return ResumePoint(command, age, "wall clock, after a reboot")
    return ResumePoint(command, None, f"wall clock {-age:.0f} s behind the record after a reboot")


#: A voltage limit that moved by a wire step (0.1 V) is a material change.
VOLTAGE_STEP_V = 0.1
#: A current limit that moved by this much, or this fraction, is a material change.
CURRENT_STEP_A = 2.0
CURRENT_STEP_FRACTION = 0.05
#: The SoC moved by this much.
SOC_STEP_PCT = 1.0


def materially_different(new: BmsCommand, old: BmsCommand) -> bool:
    """Would resuming ``old`` instead of ``new`` after a restart matter?"""
    flags = ("alarms", "warnings", "battery_empty")
    if any(getattr(new, name) != getattr(old, name) for name in flags):
        return True
    for name in ("charge_voltage_v", "discharge_voltage_v"):
        if abs(getattr(new, name) - getattr(old, name)) >= VOLTAGE_STEP_V - 1e-9:
            return True
    for name in ("charge_current_a", "discharge_current_a"):
        a, b = getattr(new, name), getattr(old, name)
        if abs(a - b) >= max(CURRENT_STEP_A, CURRENT_STEP_FRACTION * max(abs(a), abs(b))):
            return True
        if (a == 0) != (b == 0):  # charging or discharging allowed or forbidden
            return True
    return abs(new.soc_pct - old.soc_pct) >= SOC_STEP_PCT or abs(new.soh_pct - old.soh_pct) >= 1.0


class PersistSchedule:
    """Decides which accepted commands are written. Time is passed in."""

    def __init__(self, interval_s: float) -> None:
        self._interval_s = interval_s
        self._written: BmsCommand | None = None
        self._written_at = float("-inf")

    def should_write(self, command: BmsCommand, now: float) -> bool:
        last = self._written
        if (
            last is None
            or materially_different(command, last)
            or now - self._written_at >= self._interval_s
        ):
            self._written, self._written_at = command, now
            return True
        return False
