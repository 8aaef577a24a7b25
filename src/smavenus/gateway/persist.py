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

Writing: every accepted command whose values differ from the last saved one, and otherwise
at least every ``command_max_age_s / 2`` so that a restart within the freshness window
finds a fresh record. At one command a second this is at most one small write a second.
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


def persist_key(command: BmsCommand) -> tuple[object, ...]:
    """The values that matter on resume; a change in any of them is written at once."""
    return (
        command.charge_voltage_v,
        command.charge_current_a,
        command.discharge_current_a,
        command.discharge_voltage_v,
        round(command.soc_pct, 1),
        round(command.soh_pct),
        command.alarms,
        command.warnings,
    )


class PersistSchedule:
    """Decides which accepted commands are written. Time is passed in."""

    def __init__(self, refresh_s: float) -> None:
        self._refresh_s = refresh_s
        self._key: tuple[object, ...] | None = None
        self._written_at = float("-inf")

    def should_write(self, command: BmsCommand, now: float) -> bool:
        key = persist_key(command)
        if key != self._key or now - self._written_at >= self._refresh_s:
            self._key, self._written_at = key, now
            return True
        return False
