"""The battery's own word, end to end: the simulated battery's BMS and monitor on D-Bus, the
simulated SI on a pty, the can-gateway and the bms-controller as real processes.

The simulator runs :data:`~tests.integration.controller_harness.SPEED` times faster than real
time, so the controller's timers are scaled by the same factor where the schema allows
(``alarm_min_hold_s`` cannot go below 5 s and ``frozen_after_s`` below 10 s: those run in real
seconds).
"""

from __future__ import annotations

import json
import signal
import time
from typing import Any

import pytest

from smavenus.testing.waiting import eventually
from tests.integration.controller_harness import SPEED, Chain, scenario

BMS = """
[bms]
enabled = true
service = "{service}"
max_charge_voltage_v = {cvl}
max_charge_current_a = {ccl}
"""
EPS = 1e-6
#: The reason of the charge current once bms_lost_timeout_s has passed.
TIMED_OUT = "past bms_lost_timeout_s"


def bms(service: str = "monitor", cvl: float = 55.2, ccl: float = 30.0) -> str:
    return BMS.format(service=service, cvl=cvl, ccl=ccl)


def scaled(seconds: float) -> float:
    return seconds / SPEED


async def cycles(chain: Chain, count: int) -> None:
    """Wait until the controller has sent ``count`` more statuses (proof it had the chance)."""
    seen = len(chain.listener.statuses)
    await eventually(lambda: len(chain.listener.statuses) >= seen + count, 30, f"{count} cycles")


def alarm_episodes(chain: Chain) -> list[tuple[str, float, float | None]]:
    """(code, raised, cleared) in simulated seconds, from the simulated SI's record."""
    open_: dict[str, float] = {}
    episodes: list[tuple[str, float, float | None]] = []
    for event in chain.sim_events():
        code = str(event.get("code") or event.get("condition"))
        if event["event"] == "alarm_raised":
            open_[code] = float(event["t_s"])
        elif event["event"] == "alarm_cleared" and code in open_:
            episodes.append((code, open_.pop(code), float(event["t_s"])))
    episodes.extend((code, raised, None) for code, raised in open_.items())
    return episodes


@pytest.mark.slow
async def test_the_bms_limits_are_ceilings_on_our_own_charge(chain: Chain) -> None:
    await chain.start(scenario(soc_pct=50.0, extra=bms(cvl=55.2, ccl=30.0)))
    await eventually(lambda: chain.status.bms_fresh, 30, "the BMS followed", chain.processes.logs)
    await eventually(
        lambda: chain.sim()["bms_values"]["charge_current_a"] >= 25.0, 30, "charging at the BMS's"
    )
    await cycles(chain, 20)
    commands = [c for _t, c in chain.listener.commands]
    assert max(c.charge_current_a for c in commands) <= 30.0 + EPS
    assert max(c.charge_voltage_v for c in commands) <= 55.2 + EPS
    status = chain.status
    assert status.candidates["charge_current_a"]["bms_info"] <= 30.0
    assert status.limits.charge_current_a.reason == "bms_info"
    assert status.charge_control == "own" and status.bms_service is not None
    assert chain.sim()["bms_values"]["charge_current_a"] <= 30.0 + EPS


@pytest.mark.slow
async def test_allow_to_charge_0_stops_charging(chain: Chain) -> None:
    await chain.start(scenario(soc_pct=50.0, extra=bms(ccl=60.0)))
    await eventually(lambda: chain.sim()["bms_values"]["charge_current_a"] > 0, 30, "charging")
    chain.apply("bms_limits", allow_to_charge=False)
    await eventually(
        lambda: chain.sim()["bms_values"]["charge_current_a"] == 0.0, 30, "0 A at the SI"
    )
    assert chain.status.limits.charge_current_a.reason == "bms_charge_blocked"
    assert "bms_charge_blocked" in {p.name for p in chain.status.protections}
    assert chain.status.alarms == frozenset()  # a BMS that says "no charging" is normal
    chain.apply("bms_limits", allow_to_charge=True)
    await eventually(
        lambda: chain.sim()["bms_values"]["charge_current_a"] > 0.0, 30, "charging again"
    )


@pytest.mark.slow
@pytest.mark.parametrize(("cell_max_v", "expected_a"), [(3.45, 8.0), (3.25, 0.0)])
async def test_a_lost_bms_allows_reduced_charging_only_in_the_safe_cell_window_and_briefly(
    chain: Chain, cell_max_v: float, expected_a: float
) -> None:
    await chain.start(
        scenario(soc_pct=50.0, extra=bms(service="separate", ccl=60.0)),
        charge_control="follow_bms",
        bms_lost_grace_s=scaled(10.0),
        bms_lost_timeout_s=8.0,  # real seconds: long enough to see the reduced charge
        bms_lost_cell_min_v=3.0,
        bms_lost_cell_max_v=cell_max_v,
    )
    await eventually(lambda: chain.status.charge_control == "follow_bms", 30, "following")
    cells = chain.status.max_cell_voltage_v
    assert cells is not None and 3.0 < cells < 3.45
    chain.apply("bms", state="vanish")
    await eventually(lambda: chain.status.bms_connection_lost, 30, "the BMS lost")
    await eventually(
        lambda: (
            chain.status.limits.charge_current_a.value == 0.0
            and TIMED_OUT in chain.status.limits.charge_current_a.reason
        ),
        60,
        "0 A after the timeout",
    )
    # The controller's own record of the window between the loss and the timeout (its
    # status every cycle): however late this test looked, the window is all there.
    window = [
        status
        for _t, status in chain.listener.statuses
        if status.bms_connection_lost and TIMED_OUT not in status.limits.charge_current_a.reason
    ]
    assert len(window) > 10, "ten cycles at least between the loss and the timeout"
    for status in window[10:]:  # ten cycles into the loss, until the timeout
        assert "general" in status.warnings and status.charge_control == "bms_lost"
        assert status.limits.charge_voltage_v.value <= 54.0 + EPS  # at most the float voltage
        assert status.limits.charge_current_a.value <= expected_a + EPS
    assert chain.sim()["f952"] is False  # the SI was fed all along


@pytest.mark.slow
async def test_cells_that_vanish_during_an_alarm_keep_it_and_the_si_in_standby(
    chain: Chain,
) -> None:
    await chain.start(scenario(soc_pct=50.0))
    cell = chain.status.max_cell_voltage_v
    assert cell is not None
    # thresholds just below the cells: a real over-voltage would look the same to the rules
    await chain.restart_controller(
        cell_regulate_voltage_v=round(cell - 0.08, 3),
        cell_high_voltage_v=round(cell - 0.05, 3),
        cell_high_voltage_alarm_v=round(cell - 0.03, 3),
    )
    await eventually(lambda: "high_voltage" in chain.status.alarms, 30, "the cell alarm")
    await eventually(lambda: "F921" in chain.sim()["alarms"], 30, "the SI's F921")
    chain.apply("monitor", state="cells_invalid")
    await eventually(lambda: chain.status.max_cell_voltage_v is None, 30, "cells gone")
    gone_at = chain.status.sent_monotonic
    # Every cycle for longer than alarm_min_hold_s (5 s), on the controller's own clock.
    while chain.status.sent_monotonic - gone_at < 8.0:
        await cycles(chain, 1)
        assert "high_voltage" in chain.status.alarms
        assert chain.status.limits.charge_current_a.value <= 1.0
    assert "general" in chain.status.warnings  # cells_unknown


@pytest.mark.slow
async def test_a_nan_monitor_is_missing_data_and_a_frozen_one_is_left_out(chain: Chain) -> None:
    await chain.start(scenario(soc_pct=40.0), frozen_after_s=10.0)
    chain.apply("monitor", state="nan")
    await eventually(lambda: chain.status.measurement_source == "si", 30, "the SI regulates")
    await cycles(chain, 10)
    assert chain.processes.started["smavenus-bms-controller"].poll() is None  # alive
    assert chain.status.battery_voltage_v is not None
    chain.apply("monitor", state="restore")
    await eventually(
        lambda: chain.status.measurement_source == "battery_monitor", 30, "the monitor back"
    )
    chain.apply("monitor", state="freeze")  # stays on the bus, values never change again
    await eventually(
        lambda: "battery_monitor" in chain.status.frozen_sources, 30, "frozen", chain.processes.logs
    )
    status = chain.status
    assert status.measurement_source == "si"
    assert "general" in status.warnings
    assert status.limits.charge_current_a.value <= 8.0 + EPS  # degraded


async def monitor_at_58_8_v(chain: Chain) -> None:
    """A nearly empty battery (about 52.8 V) whose monitor says 58.8 V (reference §4)."""
    await chain.start(scenario(soc_pct=15.0), mismatch_clear_s=scaled(60.0))
    battery_v = chain.sim()["battery_voltage_v"]
    chain.apply("monitor", state="lie", voltage_offset_v=round(58.8 - battery_v, 2))


@pytest.mark.slow
async def test_a_monitor_at_58_8_v_while_the_si_sees_52_8_v_blocks_charging_and_never_flickers(
    chain: Chain,
) -> None:
    await monitor_at_58_8_v(chain)
    await eventually(lambda: "high_voltage" in chain.status.warnings, 30, "the worst reading")
    await eventually(lambda: "high_voltage" in chain.status.alarms, 30, "F921")
    await cycles(chain, 5)
    assert chain.status.limits.charge_current_a.value == 0.0
    assert chain.status.sensor_disagreement
    chain.apply("monitor", state="restore")
    await eventually(lambda: chain.status.alarms == frozenset(), 30, "the alarm released")
    await eventually(lambda: not chain.status.sensor_disagreement, 30, "sensors agree again")
    hold_sim_s = 5.0 * SPEED  # alarm_min_hold_s, in simulated seconds
    episodes = alarm_episodes(chain)
    assert episodes, "the SI saw the alarm"
    # A flicker would last a cycle or two (5 or 10 simulated seconds); each raise and clear
    # reaches the SI a loaded machine's moment late, so half the hold is the bound.
    for code, raised, cleared in episodes:
        assert cleared is None or cleared - raised >= hold_sim_s * 0.5, (code, raised, cleared)


def latched_alarm(chain: Chain) -> bool:
    """The controller's state file holds pack_high_voltage at alarm level."""
    path = chain.tmp_path / "bms-controller.json"
    try:
        saved = json.loads(path.read_text())
    except (OSError, ValueError):
        return False  # not written yet
    return any(
        p["name"] == "pack_high_voltage" and p["level"] == 2 for p in saved.get("protections", [])
    )


@pytest.mark.slow
async def test_a_controller_killed_during_an_alarm_keeps_it_latched_after_restart(
    chain: Chain,
) -> None:
    await monitor_at_58_8_v(chain)
    await eventually(lambda: "high_voltage" in chain.status.alarms, 30, "F921")
    await eventually(lambda: latched_alarm(chain), 30, "the latched alarm saved")
    controller = chain.processes.started.pop("smavenus-bms-controller")
    controller.send_signal(signal.SIGKILL)
    controller.wait(10)
    chain.apply("monitor", state="restore")  # while it is away, the readings become fine
    restarted_at = time.monotonic()
    chain.processes.start("smavenus-bms-controller", "--config", str(chain.config))

    def new_process(messages: list[tuple[float, Any]]) -> list[Any]:
        # Sent after the restart (the controller's clock): none of the killed one's, however
        # late the bus delivers what that one sent.
        return [m for _t, m in messages if m.sent_monotonic > restarted_at]

    await eventually(
        lambda: new_process(chain.listener.statuses) and new_process(chain.listener.commands),
        60,
        "the restarted controller",
    )
    first_status = new_process(chain.listener.statuses)[0]
    first_command = new_process(chain.listener.commands)[0]
    assert first_status.seq == 0 and first_command.seq == 0  # the new process
    assert "high_voltage" in first_status.alarms and "high_voltage" in first_command.alarms
    assert first_command.charge_current_a <= 1.0
    assert "controller_state_restored" in chain.processes.log("smavenus-bms-controller")


@pytest.mark.slow
async def test_follow_bms_charges_to_the_bms_voltage_and_never_floats(chain: Chain) -> None:
    await chain.start(
        scenario(noise=0.0, soc_pct=70.0, extra=bms(cvl=55.2, ccl=40.0)),
        charge_control="follow_bms",
    )
    await eventually(lambda: chain.status.charge_control == "follow_bms", 30, "following")
    await eventually(
        lambda: chain.status.charge_state == "absorption", 240, "regulating at the BMS's CVL"
    )
    # the approach governor creeps the last 0.5 V up in real seconds (0.3 mV per cell and s)
    await eventually(
        lambda: max(chain.monitor_voltages, default=0.0) >= 55.2 - 0.05, 240, "at the BMS's CVL"
    )
    await cycles(chain, 50)
    monitor_v = chain.monitor_voltages
    assert max(monitor_v) <= 55.2 + 0.05
    states = {s.charge_state for _t, s in chain.listener.statuses}
    assert "float" not in states
    assert chain.status.limits.charge_voltage_v.reason.startswith("bms_charge_voltage")


@pytest.mark.slow
async def test_dvcc_and_the_users_charge_limit_reach_the_si(chain: Chain) -> None:
    """DVCC on, no BMS, the user's 25 A limit: systemcalc writes /Dc/0/MaxChargeCurrent
    into our vebus service every 3 s, the publisher stamps and forwards it, the controller
    obeys while it is fresh."""
    dvcc = "[dvcc]\nenabled = true\nmax_charge_current_a = 25\n"
    await chain.start(scenario(soc_pct=40.0, extra=dvcc), publisher=True)
    await eventually(lambda: chain.status.dvcc_on, 60, "DVCC on", chain.processes.logs)
    await eventually(
        lambda: "dvcc_charger" in chain.status.candidates.get("charge_current_a", {}),
        60,
        "DVCC's write forwarded",
        chain.processes.logs,
    )
    written_at = chain.status.sent_monotonic  # the cycle that first knew it, on its clock
    await cycles(chain, 20)
    later = [c for _t, c in chain.listener.commands if c.sent_monotonic >= written_at]
    assert later and max(c.charge_current_a for c in later) <= 25.0 + EPS
    await eventually(
        lambda: chain.sim()["bms_values"]["charge_current_a"] <= 25.0, 30, "25 A at the SI"
    )
    assert chain.sim()["dvcc"]["writes"] >= 1
