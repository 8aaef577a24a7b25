"""One coherent snapshot per SI cycle, published as soon as the cycle is known complete."""

from __future__ import annotations

import pytest

from smavenus.gateway.actions import PublishSnapshot
from smavenus.gateway.snapshot import SnapshotAssembler
from smavenus.ipc.messages import SiSnapshot
from smavenus.protocol.specs import SI_STATUS_IDS

from .helpers import at, logs, opened_core

CYCLE = SI_STATUS_IDS  # 0x300 … 0x30A


def feed(assembler: SnapshotAssembler, ids: tuple[int, ...], start: float) -> list[str]:
    """Feed one burst, 1 ms apart; return how each cycle that closed was closed."""
    closed: list[str] = []
    for n, can_id in enumerate(ids):
        closed += [c.closed_by for c in assembler.add(can_id, n, start + n * 0.001)]
    return closed


def test_the_first_cycle_closes_when_an_id_repeats_then_each_on_its_last_frame() -> None:
    assembler = SnapshotAssembler(gap_s=0.05, expect_window_s=5.0)
    assert feed(assembler, CYCLE, 0.0) == []  # learning: the set is not known yet
    assert feed(assembler, CYCLE, 1.0) == ["repeat", "complete"]
    assert feed(assembler, CYCLE, 2.0) == ["complete"]
    assert assembler.next_deadline() == float("inf")  # nothing left open


def test_a_skipped_frame_closes_the_cycle_after_the_gap() -> None:
    assembler = SnapshotAssembler(gap_s=0.05, expect_window_s=5.0)
    feed(assembler, CYCLE, 0.0)
    feed(assembler, CYCLE, 1.0)
    assert feed(assembler, CYCLE[:-1], 2.0) == []  # 0x30A left out this cycle (SMA-TI §6)
    deadline = assembler.next_deadline()
    assert deadline == 2.0 + 9 * 0.001 + 0.05
    assert assembler.on_timer(deadline - 0.001) is None
    cycle = assembler.on_timer(deadline)
    assert cycle is not None and cycle.closed_by == "gap"
    assert cycle.ids == frozenset(CYCLE[:-1])
    assert cycle.frames[0x30A].at == 1.0 + 10 * 0.001  # the older value, with its own time


def spread(
    assembler: SnapshotAssembler, ids: tuple[int, ...], start: float, step: float
) -> list[str]:
    """Feed a cycle whose frames are ``step`` apart, running the timer as time passes."""
    closed: list[str] = []
    for n, can_id in enumerate(ids):
        t = start + n * step
        cycle = assembler.on_timer(t) if assembler.next_deadline() <= t else None
        closed += [] if cycle is None else [cycle.closed_by]
        closed += [c.closed_by for c in assembler.add(can_id, n, t)]
    return closed


def test_nothing_closes_on_a_gap_before_the_cycle_is_learned() -> None:
    """Unknown spacing: a gap rule here could publish one snapshot per frame."""
    assembler = SnapshotAssembler(gap_s=0.05, expect_window_s=5.0)
    assert spread(assembler, CYCLE, 0.0, 0.09) == []
    assert assembler.next_deadline() == float("inf")


def test_an_si_that_spreads_its_frames_wider_than_the_gap_still_gives_one_snapshot_a_cycle() -> (
    None
):
    assembler = SnapshotAssembler(gap_s=0.05, expect_window_s=5.0)
    closes = [spread(assembler, CYCLE, float(t), 0.09) for t in range(4)]
    assert closes == [[], ["repeat", "complete"], ["complete"], ["complete"]]
    # A skipped last frame now waits twice the SI's own spacing, not the 50 ms minimum.
    assert spread(assembler, CYCLE[:-1], 4.0, 0.09) == []
    assert assembler.next_deadline() == pytest.approx(4.0 + 9 * 0.09 + 2 * 0.09)


def test_an_id_that_stopped_is_no_longer_waited_for_after_the_expect_window() -> None:
    assembler = SnapshotAssembler(gap_s=0.05, expect_window_s=2.5)
    feed(assembler, CYCLE, 0.0)
    feed(assembler, CYCLE, 1.0)
    closes = []
    for t in range(2, 6):
        closes.append(feed(assembler, CYCLE[:-1], float(t)))
        cycle = assembler.on_timer(t + 0.5)
        closes[-1] += [] if cycle is None else [cycle.closed_by]
    # The cycles at 2 s and 3 s wait for the gap; from 4 s on the missing ID is out of the
    # window and the cycle closes on its last frame again.
    assert closes == [["gap"], ["gap"], ["complete"], ["complete"]]


def test_each_snapshot_carries_every_frame_with_its_receive_time_and_a_sequence() -> None:
    core, _ = opened_core()
    capture = [bytes.fromhex("10029CFFE600DE03")] * len(CYCLE)
    snapshots: list[SiSnapshot] = []
    for cycle in range(3):
        for n, can_id in enumerate(CYCLE):
            data = capture[n] if can_id != 0x307 else bytes.fromhex("0100C00200000000")
            t = cycle + n * 0.001
            snapshots += [
                e.snapshot
                for e in core.on_frame(can_id, data, at(t))
                if isinstance(e, PublishSnapshot)
            ]
    assert [s.seq for s in snapshots] == [1, 2, 3]  # repeat, then complete, complete
    latest = snapshots[-1]
    assert latest.si_present
    assert latest.battery_status is not None
    assert latest.battery_status.value.voltage_v == 52.8
    assert latest.battery_status.value.current_a == -10.0
    assert latest.battery_status.received_monotonic == 2.005
    assert latest.relay_status is not None and latest.relay_status.value.ac2_connected
    # The JSON a subscriber receives validates back to the same snapshot.
    assert SiSnapshot.model_validate_json(latest.model_dump_json()) == latest


def test_an_si_that_falls_silent_is_reported_absent_once_with_a_last_snapshot() -> None:
    core, _ = opened_core()
    for n, can_id in enumerate(CYCLE):
        core.on_frame(can_id, bytes.fromhex("10029CFFE600DE03"), at(n * 0.001))
    deadline = core.next_deadline()
    events = []
    t = 0.0
    while t < 12.0:
        t = min(core.next_deadline(), 12.0)
        events += core.on_timer(at(t))
    assert deadline <= 1.0
    (absent,) = logs(events, "si_absent")
    assert "5.0 s" in absent.fields["reason"]
    last = [e.snapshot for e in events if isinstance(e, PublishSnapshot)][-1]
    assert not last.si_present
    assert last.battery_status is not None  # the last values stay, with their old times
    assert not core.health(at(t)).si_present


def test_malformed_frames_are_counted_and_logged_once_per_minute() -> None:
    core, _ = opened_core()
    events = []
    for n in range(100):
        events += core.on_frame(0x305, bytes(3), at(n * 0.1))
    (warning,) = logs(events, "si_frame_malformed")
    assert warning.fields["can_id"] == "0x305"
    assert "expected 8 bytes, got 3" in warning.fields["reason"]
    assert core.counters.frames_malformed == 100
    assert core.counters.frames_received == 0
    # A later good frame is still taken.
    core.on_frame(0x305, bytes.fromhex("10029CFFE600DE03"), at(11.0))
    assert core.counters.frames_received == 1


def test_frames_of_other_ids_extended_or_remote_are_counted_as_foreign() -> None:
    core, _ = opened_core()
    core.on_frame(0x123, bytes(8), at(0.0))
    core.on_frame(0x305, bytes(8), at(0.0), extended=True)
    core.on_frame(0x305, b"", at(0.0), remote=True)
    assert core.counters.frames_foreign == 3
    assert core.counters.frames_received == 0
