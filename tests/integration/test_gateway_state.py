"""The persisted command on a real filesystem: atomic replacement, and what a bad file means."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from smavenus.gateway.persist import PersistedCommand
from smavenus.io.gateway.command_file import CommandPersister, load_resume, read_boot_id, state_file
from smavenus.ipc.messages import BmsCommand


def command(charge_current_a: float) -> BmsCommand:
    return BmsCommand(
        seq=1,
        sent_monotonic=time.monotonic(),
        sent_unix=time.time(),
        charge_voltage_v=56.0,
        charge_current_a=charge_current_a,
        discharge_current_a=150.0,
        discharge_voltage_v=46.0,
        soc_pct=60.0,
    )


async def test_the_newest_command_wins_and_the_file_is_always_whole(tmp_path: Path) -> None:
    errors: list[Exception] = []
    persister = CommandPersister(tmp_path / "state", read_boot_id(), errors.append)
    for current in range(50):
        persister.submit(command(float(current)))
        await asyncio.sleep(0)
    await persister.flush()
    assert errors == []
    record = PersistedCommand.model_validate_json(state_file(tmp_path / "state").read_bytes())
    assert record.command.charge_current_a == 49.0
    assert record.boot_id == read_boot_id()
    assert 1 <= persister.writes < 50  # coalesced: a slow disk is not asked for every one
    assert [p.name for p in (tmp_path / "state").iterdir()] == ["can-gateway-command.json"]


async def test_an_unwritable_state_dir_is_reported_not_raised(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    errors: list[Exception] = []
    persister = CommandPersister(blocker / "state", None, errors.append)
    persister.submit(command(10.0))
    await persister.flush()
    assert len(errors) == 1


def test_a_resumed_command_on_the_same_boot_is_judged_by_the_monotonic_clock(
    tmp_path: Path,
) -> None:
    boot_id = read_boot_id()
    record = PersistedCommand(boot_id=boot_id, command=command(70.0))
    state_file(tmp_path).write_text(record.model_dump_json())
    now = record.command.sent_monotonic + 2.0  # two seconds after it was sent, on its clock
    resume, problem = load_resume(tmp_path, boot_id, now, 0.0)
    assert problem is None and resume is not None
    assert resume.command.charge_current_a == 70.0
    assert resume.age_s == pytest.approx(2.0)


def test_a_missing_or_corrupt_file_means_a_cold_start_with_the_reason(tmp_path: Path) -> None:
    resume, problem = load_resume(tmp_path, None, 0.0, 0.0)
    assert resume is None and problem is not None and "no persisted command" in problem
    state_file(tmp_path).write_text('{"format": 1, "boot_id": null, "command": {"seq": 1')
    resume, problem = load_resume(tmp_path, None, 0.0, 0.0)
    assert resume is None and problem is not None and "not a valid record" in problem
