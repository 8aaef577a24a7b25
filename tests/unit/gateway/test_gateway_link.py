"""The CAN link: re-open with backoff, bus states from error frames, each outage logged twice
(and each failed re-open once more at debug level)."""

from __future__ import annotations

import pytest

from smavenus.gateway.actions import Action, CloseBus, ReopenBus
from smavenus.gateway.core import GatewayCore
from smavenus.gateway.link import LinkSupervisor, state_from_error_frame

from .helpers import at, logs, opened_core, sent, settings


def run_until(core: GatewayCore, end: float) -> list[Action]:
    """Run the core's timer deadline by deadline up to ``end``; failing every re-open."""
    events: list[Action] = []
    while (t := core.next_deadline()) <= end:
        for event in core.on_timer(at(t)):
            events.append(event)
            if isinstance(event, ReopenBus):
                events += core.on_bus_open_failed(at(t), "no such device")
    return events


def test_a_lost_bus_is_reopened_with_exponential_backoff_and_logged_twice() -> None:
    core, _ = opened_core()
    lost = core.on_bus_lost(at(10.0), "adapter closed the line")
    assert [e.name for e in logs(lost)] == ["can_bus_lost"]
    events = run_until(core, 20.0)
    attempts = [e for e in events if isinstance(e, ReopenBus)]
    # At 10.1, 10.3, 10.7, 11.5, 13.1, 16.3 and 19.5 s: the wait doubles from 0.1 s.
    assert len(attempts) == 7
    assert logs(events, "can_bus_open_failed") == []  # the loss was already logged
    # ... but each failed attempt says why at debug level
    reopen_failures = logs(events, "can_bus_reopen_failed")
    assert len(reopen_failures) == 7
    assert {e.level for e in reopen_failures} == {"debug"}
    assert reopen_failures[0].fields == {"reason": "no such device", "retry_in_s": 0.1}
    assert sent(events) == []  # nothing to send while the bus is down
    core.on_bus_opening(at(20.5))
    recovered = core.on_bus_opened(at(21.0))
    (line,) = logs(recovered, "can_bus_recovered")
    assert line.fields["down_for_s"] == 11.0
    assert len(sent(recovered)) == 1  # frames at once
    assert core.health(at(21.0)).bus_reopens == 1


def test_backoff_delays_double_up_to_the_maximum() -> None:
    link = LinkSupervisor(0.1, 1.0, 2.0)
    link.opening(0.0)
    delays = []
    t = 0.0
    for _ in range(6):
        link.open_failed(t, "x")
        delays.append(round(link.next_deadline() - t, 3))
        t = link.next_deadline()
        assert link.reopen_due(t)
        link.opening(t)
    assert delays == [0.1, 0.2, 0.4, 0.8, 1.0, 1.0]


def test_a_missing_adapter_at_start_is_logged_once_however_long_it_stays_missing() -> None:
    core = GatewayCore(settings(), at(0.0))
    core.on_bus_opening(at(0.0))
    first = core.on_bus_open_failed(at(0.0), "No such file or directory")
    assert [e.name for e in logs(first)] == ["can_bus_open_failed"]
    # only the cold start's own escalation speaks in ten minutes, never the link again
    later = logs(run_until(core, 600.0))
    assert [e.name for e in later if e.level != "debug"] == ["stale_escalated"], later


@pytest.mark.parametrize(
    ("error_class", "data", "state"),
    [
        (0x040, bytes(8), "bus_off"),
        (0x100, bytes(8), "active"),
        (0x004, bytes([0, 0x10, 0, 0, 0, 0, 0, 0]), "passive"),
        (0x004, bytes([0, 0x20, 0, 0, 0, 0, 0, 0]), "passive"),
        (0x004, bytes([0, 0x40, 0, 0, 0, 0, 0, 0]), "active"),
        (0x004, bytes([0, 0x04, 0, 0, 0, 0, 0, 0]), None),  # warning level only
        (0x020, bytes(8), None),  # no ACK: the SI is off, the bus is fine
    ],
)
def test_error_frames_announce_bus_states(error_class: int, data: bytes, state: str | None) -> None:
    assert state_from_error_frame(error_class, data) == state


def test_bus_off_that_does_not_recover_closes_and_reopens_the_bus() -> None:
    core, _ = opened_core()
    events = core.on_error_frame(0x040, bytes(8), at(5.0))
    (change,) = logs(events, "can_bus_state_changed")
    assert change.fields["new"] == "bus_off"
    assert core.on_error_frame(0x040, bytes(8), at(5.5)) == []  # same state: no new line
    deadline = core.next_deadline()
    events = []
    while (t := core.next_deadline()) <= 7.0:
        events += core.on_timer(at(t))
    assert any(isinstance(e, CloseBus) for e in events)
    assert logs(events, "can_bus_lost")[0].fields["reason"] == "bus-off for 2.0 s"
    assert deadline <= 6.0  # the frame set keeps its period meanwhile


def test_a_restart_error_frame_ends_bus_off_before_the_deadline() -> None:
    core, _ = opened_core()
    core.on_error_frame(0x040, bytes(8), at(5.0))
    events = core.on_error_frame(0x100, bytes(8), at(5.1))
    assert logs(events, "can_bus_state_changed")[0].fields["new"] == "active"
    events = []
    while (t := core.next_deadline()) <= 8.0:
        events += core.on_timer(at(t))
    assert not any(isinstance(e, CloseBus) for e in events)
