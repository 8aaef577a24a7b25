"""Degraded values escalate with age; a link that makes no progress is re-opened; the
watchdog's deadline moves only with frames handed to the bus or the link's recovery."""

from __future__ import annotations

from smavenus.gateway.actions import Action, CloseBus, ReopenBus, SendFrames
from smavenus.gateway.core import GatewayCore
from smavenus.protocol import AlarmCondition, BatteryStatus, PairState, encode
from smavenus.protocol.frames import AlarmsWarnings

from .helpers import at, command, limits_of, logs, opened_core, sent
from .test_gateway_policy import frame

FAST = {"stale_soc_hold_s": 30.0, "stale_discharge_limit_s": 60.0}


def raised(send: SendFrames, kind: str = "warnings") -> set[AlarmCondition]:
    decoded: AlarmsWarnings = frame(send, 0x35A)  # type: ignore[assignment]
    return {c for c, state in getattr(decoded, kind).items() if state == PairState.RAISED}


def run(core: GatewayCore, start: float, end: float, current_a: float = 0.0) -> list[Action]:
    """Every second from ``start`` to ``end``: the SI reports ``current_a``, the timer runs,
    and every frame set goes whole to the bus."""
    events: list[Action] = []
    t = start
    while t <= end:
        core.on_frame(*encode(BatteryStatus(52.0, current_a, 20.0, 50.0)), at(t))
        for event in core.on_timer(at(t)):
            events.append(event)
            if isinstance(event, SendFrames):
                core.on_frames_scheduled(len(event.frames), len(event.frames))
        t += 1.0
    return events


def test_a_stale_command_escalates_step_by_step_and_logs_each_step_once() -> None:
    core, _ = opened_core(gateway=FAST)
    run(core, 0.0, 0.0)
    core.on_command(command(0.5, soc_pct=60.0, discharge_current_a=150.0), at(0.5))
    fresh = run(core, 1.0, 9.0, current_a=56.0)  # discharging 56 A = 0.2 C of 280 Ah
    assert frame(sent(fresh)[-1], 0x355).soc_hires_pct == 60.0  # fresh: the controller's SoC

    # stale from 10.5 s: the SoC keeps moving with the SI's current (56 A for 1 h = 20 %)
    stale = run(core, 10.0, 41.0, current_a=56.0)
    socs = [frame(s, 0x355).soc_hires_pct for s in sent(stale)]
    assert socs[0] == 60.0 and socs[-1] < socs[1] < 60.0
    # 56 A counted from the first reading after the command (1 s) to the last (41 s)
    assert abs((60.0 - socs[-1]) - 20.0 * 40.0 / 3600) < 0.011
    # W947 once the stale time passes stale_soc_hold_s (30 s after 10.5 s)
    assert AlarmCondition.BMS_INTERNAL not in raised(sent(stale)[0])
    assert AlarmCondition.BMS_INTERNAL in raised(sent(stale)[-1])
    (step,) = logs(stale, "stale_escalated")
    assert step.fields["step"] == "warning"
    before = limits_of(sent(stale)[-1])
    assert (before.discharge_voltage_v, before.discharge_current_a) == (46.0, 50.0)

    # after stale_discharge_limit_s: DVL up to controller.low_voltage_v, DCL down
    late = run(core, 42.0, 80.0, current_a=56.0)
    after = limits_of(sent(late)[-1])
    assert (after.discharge_voltage_v, after.discharge_current_a) == (48.0, 20.0)
    assert [e.fields["step"] for e in logs(late, "stale_escalated")] == ["discharge_limited"]
    assert logs(run(core, 81.0, 200.0), "stale_escalated") == []  # each step once

    # a command ends it all at once, and the next stale episode starts from the beginning
    core.on_command(command(200.5, soc_pct=40.0), at(200.5))
    renewed = run(core, 201.0, 202.0)
    limits = limits_of(sent(renewed)[-1])
    assert (limits.discharge_voltage_v, limits.discharge_current_a) == (46.0, 150.0)
    assert AlarmCondition.BMS_INTERNAL not in raised(sent(renewed)[-1])


def test_escalation_only_tightens_never_relaxes() -> None:
    """A controller that had already cut discharge keeps its lower DCL and higher DVL."""
    core, _ = opened_core(gateway=FAST)
    core.on_command(command(0.5, discharge_current_a=5.0, discharge_voltage_v=48.0), at(0.5))
    events = run(core, 1.0, 90.0)
    for send in sent(events):
        limits = limits_of(send)
        assert limits.discharge_current_a <= 5.0 and limits.discharge_voltage_v == 48.0


def test_a_charging_current_moves_a_cold_start_soc_up_and_the_floor_holds() -> None:
    core, _ = opened_core(gateway=FAST)
    charged = run(core, 0.0, 30.0, current_a=-280.0)  # SMA's sign: charging at 1 C
    socs = [frame(s, 0x355).soc_hires_pct for s in sent(charged)]
    assert socs[-1] > socs[1]
    core2, _ = opened_core(gateway={**FAST, "fallback_soc_pct": 1.0})
    drained = run(core2, 0.0, 120.0, current_a=1000.0)
    assert min(frame(s, 0x355).soc_pct for s in sent(drained)) >= 1.0


def test_the_watchdog_safe_set_keeps_the_escalation_it_has_reached() -> None:
    core, _ = opened_core(gateway=FAST)
    core.on_command(command(0.5), at(0.5))
    run(core, 1.0, 20.0)  # stale, not yet escalated
    safe = core.safe_frames(at(20.0))
    limits = limits_of(SendFrames(safe, None))  # type: ignore[arg-type]
    assert (limits.charge_current_a, limits.discharge_voltage_v) == (0.0, 46.0)


def test_an_adapter_that_takes_no_frame_is_reopened_after_send_stall_reopen_after_s() -> None:
    core, _ = opened_core()
    core.on_frames_scheduled(7, 7)
    events: list[Action] = []
    for t in (1.0, 2.0, 3.0, 4.0):  # "buffer full": not one frame goes
        for event in core.on_timer(at(t)):
            events.append(event)
            if isinstance(event, SendFrames):
                core.on_frames_scheduled(0, len(event.frames))
        if core.link.state == "down":
            break
    assert any(isinstance(e, CloseBus) for e in events)
    (lost,) = logs(events, "can_bus_lost")
    assert "no whole BMS frame set" in lost.fields["reason"]
    assert t == 3.0  # 3 s after the last whole set (at the open, 0 s)


def test_a_silent_si_on_a_quiet_link_is_reopened_with_a_growing_interval() -> None:
    core, _ = opened_core(gateway={"si_silent_reopen_after_s": 10.0})
    reopened_at: list[float] = []
    t = 0.0
    while t < 200.0:
        t = round(t + 0.5, 1)
        for event in core.on_timer(at(t)):
            if isinstance(event, SendFrames):
                core.on_frames_scheduled(len(event.frames), len(event.frames))
            if isinstance(event, ReopenBus):
                core.on_bus_opened(at(t))
        if core.link.state == "down" and (not reopened_at or reopened_at[-1] != t):
            reopened_at.append(t)
    # 10 s, then 20, 40, 80 s after each re-open (half a tick later) the SI did not answer
    assert reopened_at == [10.0, 30.5, 71.0, 151.5]
    # an SI that speaks again resets the interval
    core.on_frame(*encode(BatteryStatus(52.0, 0.0, 20.0, 50.0)), at(t))
    assert core.link.next_deadline() <= t + 10.0 + 1e-9


def test_the_watchdog_deadline_moves_only_with_whole_sets_handed_over() -> None:
    core, _ = opened_core()
    core.on_frames_scheduled(7, 7)
    first = core.watchdog_deadline()
    assert first == 0.0 + 1.0 + 5.0  # one period and watchdog_stall_s after the open
    for event in core.on_timer(at(1.0)):
        if isinstance(event, SendFrames):
            core.on_frames_scheduled(3, 7)  # part of the set only
    assert core.watchdog_deadline() == first
    for event in core.on_timer(at(2.0)):
        if isinstance(event, SendFrames):
            core.on_frames_scheduled(7, 7)
    assert core.watchdog_deadline() == 2.0 + 1.0 + 5.0
    # commands, frames and health keep coming: none of them moves it
    core.on_command(command(2.5), at(2.5))
    core.on_frame(*encode(BatteryStatus(52.0, 0.0, 20.0, 50.0)), at(2.6))
    assert core.watchdog_deadline() == 8.0


def test_while_the_bus_is_down_the_deadline_is_the_scheduled_reopen() -> None:
    core, _ = opened_core()
    core.on_bus_lost(at(1.0), "ENODEV")
    retry_at = core.link.next_deadline()
    assert core.watchdog_deadline() == retry_at + 5.0


def test_alarms_kept_when_stale_even_after_escalation() -> None:
    core, _ = opened_core(gateway=FAST)
    core.on_command(command(0.5, alarms=frozenset({"high_voltage"})), at(0.5))
    events = run(core, 1.0, 90.0)
    assert AlarmCondition.HIGH_VOLTAGE in raised(sent(events)[-1], "alarms")
