"""The core's timing and bookkeeping: the send grid, health, persistence, clamping notices."""

from __future__ import annotations

import math

import pytest

from smavenus.gateway.actions import PersistCommand, PublishHealth
from smavenus.gateway.core import GatewayCore
from smavenus.gateway.persist import PersistedCommand, resume_point

from .helpers import UNIX_OFFSET, at, command, limits_of, logs, opened_core, sent, settings


def test_frame_sets_follow_a_fixed_grid_and_a_late_loop_skips_rather_than_bursts() -> None:
    core, _ = opened_core(0.0, can={"bms_period_s": 0.5})
    assert core.next_deadline() <= 0.5
    # Woken 2 ms late: the next set is still due at 1.0, not 1.002.
    assert len(sent(core.on_timer(at(0.502)))) == 1
    assert core.next_deadline() == pytest.approx(1.0)
    # Woken 1.7 s late (a stalled loop): one set now, the missed ones are not replayed.
    events = core.on_timer(at(2.7))
    assert len(sent(events)) == 1
    assert logs(events, "bms_send_late")[0].fields["missed_periods"] == 3
    assert core.next_deadline() == pytest.approx(3.0)


def test_no_frames_are_scheduled_before_the_bus_is_open() -> None:
    core = GatewayCore(settings(), at(0.0))
    core.start()
    core.on_bus_opening(at(0.0))
    events = []
    for t in (0.5, 1.0, 1.5):
        events += core.on_timer(at(t))
    assert sent(events) == []


def test_clamping_is_logged_when_it_starts_and_when_it_ends_not_every_period() -> None:
    core, _ = opened_core()
    core.on_command(command(0.1, charge_current_a=500.0), at(0.1))
    events = []
    for t in range(1, 6):
        core.on_command(command(t - 0.5, charge_current_a=400.0 + t), at(t - 0.5))
        events += core.on_timer(at(float(t)))
    (clamped,) = logs(events, "command_clamped")
    assert "battery.max_charge_current_a" in clamped.fields["fields"]["charge_current_a"]
    assert all(limits_of(s).charge_current_a == 140.0 for s in sent(events))
    core.on_command(command(5.5, charge_current_a=100.0), at(5.5))
    assert logs(core.on_timer(at(6.0)), "command_within_limits")


def test_health_is_published_every_period_and_on_every_change() -> None:
    core, events = opened_core()
    assert [type(e) for e in events].count(PublishHealth) == 1  # bus opened
    periodic = []
    for t in (1.0, 2.0, 3.0):
        periodic += [e for e in core.on_timer(at(t)) if isinstance(e, PublishHealth)]
    assert [h.health.seq for h in periodic] == [2, 3, 4]
    health = periodic[-1].health
    assert health.bus_state == "active"
    assert health.command_source == "cold_start"
    assert health.sent is not None and health.sent.charge_current_a == 0.0
    assert "cold start" in health.sent.reasons["charge_current_a"]
    assert health.frames_scheduled == 0  # counted by the edge when the frames really leave
    core.on_frames_scheduled(7)
    assert core.health(at(3.5)).frames_scheduled == 7


def test_commands_are_persisted_on_a_material_change_else_every_persist_interval() -> None:
    core, _ = opened_core()
    written = []
    for t in range(40):
        soc = 60.0 + 0.05 * t if t < 15 else 62.0  # 0.05 %/s drift: not material alone
        cmd = command(float(t), soc_pct=soc, charge_current_a=100.0 if t < 30 else 101.0)
        if t == 33:
            cmd = command(float(t), soc_pct=soc, charge_current_a=60.0)
        written += [
            e.command.sent_monotonic
            for e in core.on_command(cmd, at(float(t)))
            if isinstance(e, PersistCommand)
        ]
    # First; every persist_interval_s (10 s) while nothing changes materially; SoC +1.3 % at
    # 15 s; 101 A at 30 s is no material change (< 2 A), 60 A at 33 s is; back to 101 A at 34.
    assert written == [0.0, 10.0, 15.0, 25.0, 33.0, 34.0]


def test_a_persisted_record_judges_age_by_the_monotonic_clock_on_the_same_boot() -> None:
    record = PersistedCommand(boot_id="boot-a", command=command(100.0))
    same_boot = resume_point(record, "boot-a", now_monotonic=103.0, now_unix=0.0)
    assert (same_boot.age_s, same_boot.basis) == (3.0, "monotonic clock, same boot")


def test_after_a_reboot_the_age_comes_from_the_wall_clock() -> None:
    record = PersistedCommand(boot_id="boot-a", command=command(100.0))
    rebooted = resume_point(record, "boot-b", now_monotonic=5.0, now_unix=UNIX_OFFSET + 160.0)
    assert rebooted.age_s == pytest.approx(60.0)
    assert "reboot" in rebooted.basis


def test_a_wall_clock_behind_the_record_makes_the_age_unknown() -> None:
    """A Raspberry Pi without RTC may boot before the record's time."""
    record = PersistedCommand(boot_id="boot-a", command=command(100.0))
    early = resume_point(record, None, now_monotonic=5.0, now_unix=UNIX_OFFSET - 3600.0)
    assert early.age_s is None


def test_the_next_deadline_is_never_in_the_past_after_handling_the_timer() -> None:
    core, _ = opened_core()
    core.on_command(command(0.0), at(0.0))
    t = 0.0
    for _ in range(200):
        t = core.next_deadline()
        assert math.isfinite(t)
        core.on_timer(at(t))
        assert core.next_deadline() > t


def test_frames_now_is_what_the_next_slot_sends_and_changes_nothing() -> None:
    core, _ = opened_core(0.0)
    core.on_command(command(0.3, charge_current_a=42.0), at(0.3))
    deadline, health = core.next_deadline(), core.health(at(0.3))
    early = core.frames_now(at(0.3))
    assert core.next_deadline() == deadline
    assert core.health(at(0.3)) == health
    (next_slot,) = sent(core.on_timer(at(1.0)))
    assert early == next_slot.frames
    assert limits_of(next_slot).charge_current_a == 42.0
