"""The SoC reported to the SI: monitor, estimate, floor, reset at full, and grid assist."""

from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from smavenus.controller.grid import in_window
from tests.unit.controller.rig import Rig, config


def test_the_monitors_soc_is_reported_as_is() -> None:
    rig = Rig(config())
    rig.set(soc_pct=63.4)
    rig.run(5)
    assert (rig.last.soc_pct, rig.last.soc_reason) == (63.4, "battery_monitor")


@pytest.mark.parametrize(
    ("voltage_v", "min_cell_v", "reported"),
    [(50.0, None, 1.0), (50.0, 3.0, 1.0), (44.8, None, 0.0), (50.0, 2.5, 0.0)],
)
def test_zero_soc_only_when_truly_empty(
    voltage_v: float, min_cell_v: float | None, reported: float
) -> None:
    rig = Rig(config())
    rig.set(soc_pct=0.0, voltage_v=voltage_v, min_cell_v=min_cell_v)
    rig.run(5)
    assert rig.last.soc_pct == 1.0  # not yet: truly empty must hold for empty_hold_s
    rig.run(rig.cfg.controller.empty_hold_s)
    assert rig.last.soc_pct == reported
    assert rig.last.battery_empty == (reported == 0.0)


def test_one_sagging_sample_is_not_empty() -> None:
    rig = Rig(config())
    rig.set(soc_pct=0.0, voltage_v=44.8)
    rig.run(rig.cfg.controller.empty_hold_s - 2)
    rig.set(voltage_v=46.0)  # the load stepped off: the voltage recovers
    rig.run(1)
    rig.set(voltage_v=44.8)
    rig.run(rig.cfg.controller.empty_hold_s - 2)
    assert rig.last.soc_pct == 1.0 and not rig.last.battery_empty


def test_without_the_monitor_the_soc_is_carried_by_the_sis_current() -> None:
    rig = Rig(config())
    rig.set(soc_pct=50.0)
    rig.run(10)
    rig.monitor_values = None  # the monitor vanished
    assert rig.si_values is not None
    rig.si_values["current_a"] = -28.0  # 0.1 C discharge for an hour: -10 %
    rig.run(3600)
    assert rig.last.soc_reason == "estimated"
    assert rig.last.soc_pct == pytest.approx(40.0, abs=0.05)


@pytest.mark.parametrize(
    ("echo", "expected", "reason"), [(63.0, 63.0, "si_echo"), (None, 50.0, "fallback")]
)
def test_a_start_without_monitor_begins_from_the_si_echo_or_the_fallback(
    echo: float | None, expected: float, reason: str
) -> None:
    rig = Rig(config())
    rig.monitor_values = None
    assert rig.si_values is not None
    rig.si_values["soc_echo_pct"] = echo
    rig.run(0)
    assert (rig.last.soc_pct, rig.last.soc_reason) == (expected, reason)


def test_soc_reset_at_full_corrects_a_low_monitor_until_it_catches_up() -> None:
    rig = Rig(config(controller={"soc_reset_at_full": True}))
    rig.set(voltage_v=56.0, current_a=60.0, soc_pct=95.0)
    rig.run(1)
    rig.set(current_a=10.0, soc_pct=96.0)
    rig.run(70)
    assert rig.state == "float"
    assert (rig.last.soc_pct, rig.last.soc_reason) == (100.0, "battery_monitor_reset")
    rig.set(voltage_v=53.2, current_a=-30.0, soc_pct=90.0)
    rig.run(1)
    assert rig.last.soc_pct == pytest.approx(90.0 + 4.0 * 90.0 / 96.0)  # fading with the SoC
    rig.set(soc_pct=48.0)
    rig.run(1)
    assert rig.last.soc_pct == pytest.approx(50.0)  # half the SoC, half the correction
    rig.set(soc_pct=0.0)
    rig.run(1)
    assert rig.last.soc_pct == pytest.approx(1.0)  # gone at 0 % (the floor: not truly empty)
    rig.set(soc_pct=90.0)
    rig.run(1)
    rig.set(soc_pct=99.0)
    rig.run(1)
    assert rig.last.soc_pct == pytest.approx(100.0)  # never above 100 %; correction shrinks to 1
    rig.set(soc_pct=100.0)  # the monitor synchronised itself
    rig.run(1)
    rig.set(soc_pct=90.0)
    rig.run(1)
    assert (rig.last.soc_pct, rig.last.soc_reason) == (90.0, "battery_monitor")


def test_without_soc_reset_the_monitor_is_reported_after_absorption() -> None:
    rig = Rig(config())
    rig.set(voltage_v=56.0, current_a=60.0, soc_pct=95.0)
    rig.run(1)
    rig.set(current_a=10.0, soc_pct=96.0)
    rig.run(70)
    assert rig.state == "float" and rig.last.soc_pct == 96.0


# -- grid assist ---------------------------------------------------------------------------


def test_off_never_lowers_the_soc() -> None:
    rig = Rig(config())
    rig.set(soc_pct=5.0, voltage_v=47.0)
    rig.run(600)
    assert not rig.last.grid_requested and rig.last.soc_pct == 5.0


def test_low_battery_by_voltage_requests_after_the_delay_and_releases_with_hysteresis() -> None:
    rig = Rig(config(controller={"grid_assist_mode": "low_battery"}))
    rig.set(soc_pct=60.0, voltage_v=49.5)  # a monitor whose SoC drifted high
    rig.run(59)
    assert not rig.last.grid_requested and rig.last.soc_pct == 60.0
    rig.run(1)
    assert rig.last.grid_requested and rig.last.grid_reason == "low_battery_voltage"
    assert (rig.last.soc_pct, rig.last.soc_reason) == (30.0, "grid_request")
    rig.set(voltage_v=49.9)  # charging: back above 49.6 but not by 0.4 V yet
    rig.run(30)
    assert rig.last.grid_requested
    rig.set(voltage_v=50.1)
    rig.run(1)
    assert not rig.last.grid_requested and rig.last.soc_pct == 60.0
    assert [e["requested"] for e in rig.events("grid_request_changed")] == [True, False]


def test_low_battery_by_soc_reports_the_true_soc_when_it_is_lower() -> None:
    rig = Rig(config(controller={"grid_assist_mode": "low_battery"}))
    rig.set(soc_pct=15.0)
    rig.run(1)
    assert rig.last.grid_requested and rig.last.grid_reason == "low_battery_soc"
    assert (rig.last.soc_pct, rig.last.soc_reason) == (15.0, "battery_monitor")


def test_keep_charged_holds_a_minimum_soc_with_hysteresis() -> None:
    rig = Rig(config(controller={"grid_assist_mode": "keep_charged", "keep_charged_soc_pct": 70.0}))
    rig.set(soc_pct=69.0)
    rig.run(1)
    assert rig.last.grid_requested and rig.last.soc_pct == 30.0
    rig.set(soc_pct=74.0)
    rig.run(1)
    assert rig.last.grid_requested
    rig.set(soc_pct=75.0)
    rig.run(1)
    assert not rig.last.grid_requested and rig.last.soc_pct == 75.0


BERLIN = ZoneInfo("Europe/Berlin")


def unix(local: str, tz: ZoneInfo = BERLIN) -> float:
    return datetime.fromisoformat(local).replace(tzinfo=tz).timestamp()


@pytest.mark.parametrize(
    ("local_time", "inside"),
    [
        ("2026-01-15 21:59", False),
        ("2026-01-15 22:00", True),  # 21:00 UTC in winter (CET)
        ("2026-07-15 22:00", True),  # 20:00 UTC in summer (CEST): same local window
        ("2026-07-16 05:59", True),
        ("2026-07-16 06:00", False),
        ("2026-03-29 02:30", True),  # the spring-forward night (02:30 does not exist: 03:30)
    ],
)
def test_time_window_follows_the_systems_time_zone(local_time: str, inside: bool) -> None:
    cfg = config(
        controller={
            "grid_assist_mode": "time_window",
            "grid_window1_start": "22:00",
            "grid_window1_end": "06:00",
        }
    )
    rig = Rig(cfg, tz=BERLIN, unix0=unix(local_time))
    rig.set(soc_pct=60.0)
    rig.run(0)
    assert rig.last.grid_requested is inside
    assert rig.last.grid_reason == ("time_window" if inside else "outside_window")


def test_time_window_is_not_naive_utc() -> None:
    """22:30 UTC is 23:30 in Berlin (inside 23:00-23:59) but outside if read as UTC."""
    cfg = config(
        controller={
            "grid_assist_mode": "time_window",
            "grid_window2_start": "23:00",
            "grid_window2_end": "23:59",
        }
    )
    at = datetime(2026, 1, 15, 22, 30, tzinfo=timezone.utc).timestamp()
    berlin, utc = Rig(cfg, tz=BERLIN, unix0=at), Rig(cfg, tz=timezone.utc, unix0=at)
    for rig in (berlin, utc):
        rig.set(soc_pct=60.0)
        rig.run(0)
    assert berlin.last.grid_requested and not utc.last.grid_requested


def test_time_window_always_keeps_the_low_battery_rule() -> None:
    cfg = config(controller={"grid_assist_mode": "time_window"})  # no window configured
    rig = Rig(cfg)
    rig.set(soc_pct=10.0)
    rig.run(0)
    assert rig.last.grid_requested and rig.last.grid_reason == "low_battery_soc"


@pytest.mark.parametrize(
    ("start", "end", "minute", "inside"),
    [
        ("08:00", "10:00", 8 * 60, True),
        ("08:00", "10:00", 10 * 60, False),
        ("22:00", "02:00", 23 * 60, True),
        ("22:00", "02:00", 60, True),
        ("22:00", "02:00", 12 * 60, False),
        ("05:00", "05:00", 5 * 60, False),
    ],
)
def test_in_window(start: str, end: str, minute: int, inside: bool) -> None:
    assert in_window(start, end, minute) is inside
