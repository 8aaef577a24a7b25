"""The staleness policy, seen as the frames the SI receives over time."""

from __future__ import annotations

import pytest

from smavenus.gateway.actions import SendFrames
from smavenus.gateway.core import GatewayCore
from smavenus.gateway.policy import ResumePoint
from smavenus.protocol import AlarmCondition, AlarmsWarnings, BatteryMeasurements, SocSoh, decode

from .helpers import at, command, limits_of, logs, opened_core, sent, settings


def frame(send: SendFrames, can_id: int) -> object:
    return decode(can_id, next(f.data for f in send.frames if f.can_id == can_id))


def tick(core: GatewayCore, t: float) -> SendFrames:
    """Run the timer at ``t`` and return the frame set it sends."""
    (send,) = sent(core.on_timer(at(t)))
    return send


def test_cold_start_sends_conservative_frames_from_the_config_at_once() -> None:
    core, events = opened_core()
    (send,) = sent(events)
    limits = limits_of(send)
    assert (limits.charge_voltage_v, limits.charge_current_a) == (54.0, 0.0)  # float, 0 A
    assert (limits.discharge_current_a, limits.discharge_voltage_v) == (50.0, 44.8)
    soc = frame(send, 0x355)
    assert isinstance(soc, SocSoh) and soc.soc_pct == 50  # gateway.fallback_soc_pct
    alarms = frame(send, 0x35A)
    assert isinstance(alarms, AlarmsWarnings)
    assert alarms.raised_warnings == {AlarmCondition.GENERAL}
    assert alarms.raised_alarms == frozenset()
    assert core.policy.source == "cold_start"
    assert logs(events, "command_source")[0].fields["source"] == "cold_start"


def test_cold_start_takes_the_soc_the_si_echoes_but_only_the_first_echo() -> None:
    core, _ = opened_core()
    si_status = bytes.fromhex("10029CFFE600DE03")  # 0x305: SoC echo 99.0 %
    events = core.on_frame(0x305, si_status, at(0.5))
    assert logs(events, "cold_start_soc")
    assert frame(tick(core, 1.0), 0x355) == SocSoh(99, 100, 99.0)
    # Later echoes are our own value coming back: ignored.
    core.on_frame(0x305, bytes.fromhex("10029CFFE600F401"), at(1.5))
    assert frame(tick(core, 2.0), 0x355) == SocSoh(99, 100, 99.0)


def test_an_echo_of_zero_is_the_si_default_and_is_not_used() -> None:
    """SMA-TI: an SI that never heard a BMS reports SoC 0 %, which would make it shut down."""
    core, _ = opened_core()
    core.on_frame(0x305, bytes.fromhex("10029CFFE6000000"), at(0.5))
    assert frame(tick(core, 1.0), 0x355) == SocSoh(50, 100, 50.0)


def test_a_controller_command_is_sent_from_the_next_period() -> None:
    core, _ = opened_core()
    events = core.on_command(command(0.3), at(0.3))
    (change,) = logs(events, "command_source_changed")
    assert (change.fields["old"], change.fields["new"]) == ("cold_start", "controller")
    limits = limits_of(tick(core, 1.0))
    assert (limits.charge_voltage_v, limits.charge_current_a) == (56.0, 100.0)
    assert (limits.discharge_current_a, limits.discharge_voltage_v) == (150.0, 46.0)
    # A second command changes nothing worth a log line.
    assert not logs(core.on_command(command(1.2), at(1.2)))


def test_stale_commands_ramp_the_charge_current_to_zero_while_frames_keep_flowing() -> None:
    core, _ = opened_core(gateway={"command_max_age_s": 10.0, "stale_charge_ramp_a_per_s": 10.0})
    core.on_command(command(0.5, alarms=["high_temperature"]), at(0.5))
    charge_currents = []
    stale_logs = []
    for t in range(1, 26):
        events = core.on_timer(at(float(t)))
        stale_logs += logs(events, "command_source_changed")
        (send,) = sent(events)
        charge_currents.append(limits_of(send).charge_current_a)
    # Fresh until 10.5 s; then 10 A/s down from 100 A: 95 at 11 s, …, 0 from 20.5 s.
    assert charge_currents[:10] == [100.0] * 10
    assert charge_currents[10:14] == [95.0, 85.0, 75.0, 65.0]
    assert charge_currents[20:] == [0.0] * 5
    assert [e.fields["new"] for e in stale_logs] == ["stale"]  # logged once, not per period
    final = sent(core.on_timer(at(26.0)))[0]
    limits = limits_of(final)
    assert limits.discharge_current_a == 50.0  # at most gateway.safe_discharge_current_a
    assert limits.charge_voltage_v == 56.0  # kept: a lower CVL would discharge the battery
    alarms = frame(final, 0x35A)
    assert isinstance(alarms, AlarmsWarnings)
    assert alarms.raised_warnings == {AlarmCondition.GENERAL}
    assert alarms.raised_alarms == {AlarmCondition.HIGH_TEMPERATURE}  # never cleared by silence
    measurements = frame(final, 0x356)
    assert measurements == BatteryMeasurements(None, None, None)  # not repeated frozen


def test_commands_returning_end_the_stale_state_at_once() -> None:
    core, _ = opened_core()
    core.on_command(command(0.0), at(0.0))
    core.on_timer(at(15.0))
    assert core.policy.source == "stale"
    events = core.on_command(command(15.5, charge_current_a=80.0), at(15.5))
    assert logs(events, "command_source_changed")[0].fields["new"] == "controller"
    send = tick(core, 16.0)
    assert limits_of(send).charge_current_a == 80.0
    alarms = frame(send, 0x35A)
    assert isinstance(alarms, AlarmsWarnings) and alarms.raised_warnings == frozenset()


@pytest.mark.parametrize(
    ("sent_at", "reason"),
    [
        (-20.0, "stale on arrival"),
        (5.0, "in the future"),
    ],
)
def test_commands_from_another_time_are_refused(sent_at: float, reason: str) -> None:
    core, _ = opened_core()
    events = core.on_command(command(sent_at), at(0.0))
    (refused,) = logs(events, "command_refused")
    assert reason in refused.fields["reason"]
    assert core.counters.commands_rejected == 1
    assert core.policy.source == "cold_start"


def test_a_command_older_than_the_one_in_use_is_refused() -> None:
    core, _ = opened_core()
    core.on_command(command(2.0, charge_current_a=20.0), at(2.0))
    core.on_command(command(1.5, charge_current_a=90.0), at(2.1))
    assert core.counters.commands_rejected == 1
    assert limits_of(tick(core, 3.0)).charge_current_a == 20.0


def test_repeated_refusals_are_logged_once_per_minute_with_a_count() -> None:
    core, _ = opened_core()
    refusals = []
    for t in range(0, 120, 2):
        refusals += logs(core.on_command_refused("unauthorized", "x", at(float(t))))
    assert [r.fields["suppressed"] for r in refusals] == [0, 29]
    assert core.counters.commands_unauthorized == 60


def resumed(age: float | None, **values: float) -> GatewayCore:
    core = GatewayCore(settings(), at(100.0), ResumePoint(command(0.0, **values), age, "test"))
    core.start()
    core.on_bus_opening(at(100.0))
    return core


def test_a_fresh_persisted_command_is_resumed_at_once_and_goes_stale_on_its_own_age() -> None:
    core = resumed(4.0, charge_current_a=70.0)
    (send,) = sent(core.on_bus_opened(at(100.0)))
    assert core.policy.source == "persisted"
    assert limits_of(send).charge_current_a == 70.0
    # 4 s old at start; command_max_age_s 10 → stale 6 s later.
    assert core.policy.next_deadline() == pytest.approx(106.0)
    core.on_timer(at(106.0))
    assert core.health(at(106.0)).command_source == "stale"


@pytest.mark.parametrize("age", [10.0, 3600.0, None])
def test_a_persisted_command_too_old_or_of_unknown_age_gives_a_cold_start_with_its_soc(
    age: float | None,
) -> None:
    core = resumed(age, soc_pct=37.0)
    (send,) = sent(core.on_bus_opened(at(100.0)))
    assert core.policy.source == "cold_start"
    assert limits_of(send).charge_current_a == 0.0
    assert frame(send, 0x355) == SocSoh(37, 100, 37.0)


@pytest.mark.parametrize(("battery_empty", "expected"), [(False, 1.0), (True, 0.0)])
def test_zero_soc_only_when_the_controller_says_the_battery_is_empty(
    battery_empty: bool, expected: float
) -> None:
    core, _ = opened_core()
    core.on_command(command(0.5, soc_pct=0.0, battery_empty=battery_empty), at(0.5))
    soc = frame(tick(core, 1.0), 0x355)
    assert isinstance(soc, SocSoh) and soc.soc_pct == expected


def test_a_stale_command_never_sends_zero_soc() -> None:
    core, _ = opened_core()
    core.on_command(command(0.5, soc_pct=0.0, battery_empty=True), at(0.5))
    soc = frame(tick(core, 12.0), 0x355)  # past command_max_age_s: stale
    assert core.policy.source == "stale"
    assert isinstance(soc, SocSoh) and soc.soc_pct == 1.0
