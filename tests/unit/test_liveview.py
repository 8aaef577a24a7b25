"""The bench's live view renders whatever it has: nothing yet, part of it, odd values."""

from __future__ import annotations

from smavenus.liveview import DASH, ViewState, render
from tests.unit.vebus.si import controller_status, gateway_health, scene, snapshot


def text(state: ViewState, now: float = 100.0) -> str:
    return "\n".join(render(state, now))


def test_an_empty_state_says_what_it_waits_for() -> None:
    shown = text(ViewState())
    assert "waiting for the can-gateway's first snapshot" in shown
    assert "waiting for the bms-controller" in shown
    assert "waiting for com.victronenergy.vebus" in shown
    assert f"simulated Sunny Island on {DASH}" in shown


def test_simulator_values_not_yet_known_show_as_a_dash() -> None:
    # smavenus-sim's status before its first BMS frame: no longest gap yet; and a status
    # from before the clock started, or from another version, may lack keys altogether.
    for simulator in (
        {"sim_time_s": 0.0, "true_soc_pct": 60.0, "f952": False, "longest_bms_gap_s": None},
        {"sim_time_s": None, "true_soc_pct": None, "longest_bms_gap_s": None},
        {"f952": False},
    ):
        (line,) = [
            line for line in render(ViewState(simulator=simulator), 0.0) if "simulated time" in line
        ]
        assert f"longest BMS gap {DASH}" in line


def test_a_known_simulator_status_is_shown_with_its_units() -> None:
    simulator = {"sim_time_s": 12.4, "true_soc_pct": 60.0, "f952": True, "longest_bms_gap_s": 1.0}
    (line,) = [
        line for line in render(ViewState(simulator=simulator), 0.0) if "simulated time" in line
    ]
    assert line == ("  simulated time 12 s, true SoC 60.00 %, F952 YES, longest BMS gap 1.00 s")


def test_vebus_values_invalid_or_of_another_kind_never_raise() -> None:
    state = ViewState(
        vebus_service="com.victronenergy.vebus.sma_can0",
        vebus={"/Soc": None, "/Dc/0/Voltage": "52.8", "/Ac/Out/P": [], "/State": 9,
               "/Energy/InverterToAcOut": "n/a"},
    )  # fmt: skip
    shown = text(state)
    assert f"SoC {DASH}" in shown
    assert "DC 52.8" in shown  # a string where a number was expected: shown as it is
    assert "State 9" in shown


def test_a_whole_state_renders_every_part() -> None:
    state = ViewState(
        channel="/tmp/ttyACM-sim",
        snapshot=snapshot(scene(), 99.0, seq=7),
        health=gateway_health("controller", sent=99.0),
        status=controller_status(sent=99.0),
        vebus_service="com.victronenergy.vebus.sma_can0",
        vebus={"/Soc": 61.2, "/Dc/0/Voltage": 52.8, "/Energy/InverterToAcOut": 1.5},
    )
    shown = text(state)
    assert "snapshot #7" in shown
    assert "waiting" not in shown
    assert "InverterToAcOut 1.500" in shown
