"""Every row of the charge state machine, as scenario tables on a simulated clock.

A scenario is a list of steps: ``set`` what the battery monitor reports, ``run`` simulated
seconds (one controller step per period), ``expect`` the state (and the condition that
fired last). Hours of battery time run in milliseconds.
"""

from __future__ import annotations

import functools
from typing import Any

import pytest

from smavenus.controller.charger import TRANSITIONS, ChargeState
from tests.unit.controller.rig import UNIX0, Rig, config

Step = tuple[Any, ...]

ABSORBING: list[Step] = [("set", {"voltage_v": 56.0, "current_a": 60.0}), ("run", 1)]
FLOATING: list[Step] = [
    *ABSORBING,
    ("set", {"current_a": 10.0}),
    ("run", 70),
    ("expect", "float", "tail_current"),
    ("set", {"voltage_v": 54.0, "current_a": 0.0}),
]

SCENARIOS: list[tuple[str, dict[str, Any], list[Step]]] = [
    (
        "bulk stays bulk while the regulator is saturated (the full bulk current)",
        {},
        [
            ("set", {"voltage_v": 55.4, "current_a": 140.0}),
            ("run", 600),
            ("expect", "bulk", "start"),
        ],
    ),
    (
        "bulk -> absorption once the regulator shapes the current near the absorption voltage",
        {},
        [*ABSORBING, ("expect", "absorption", "absorption_voltage_reached")],
    ),
    (
        "bulk -> absorption when the highest cell nears its regulation voltage",
        {},
        [
            ("set", {"voltage_v": 54.5, "current_a": 80.0, "max_cell_v": 3.50, "min_cell_v": 3.38}),
            ("run", 5),
            ("expect", "bulk", "start"),
            ("set", {"max_cell_v": 3.55}),
            ("run", 2),
            ("expect", "absorption", "absorption_voltage_reached"),
        ],
    ),
    (
        "absorption -> float on tail current, held tail_current_hold_s",
        {},
        [
            *ABSORBING,
            ("set", {"current_a": 13.9}),
            ("run", 60),
            ("expect", "absorption", "absorption_voltage_reached"),
            ("run", 1),
            ("expect", "float", "tail_current"),
        ],
    ),
    (
        "absorption: a tail current that comes back up restarts the hold",
        {},
        [
            *ABSORBING,
            ("set", {"current_a": 10.0}),
            ("run", 50),
            ("set", {"current_a": 20.0}),
            ("run", 1),
            ("set", {"current_a": 10.0}),
            ("run", 50),
            ("expect", "absorption", "absorption_voltage_reached"),
        ],
    ),
    (
        "absorption: a runner cell held at its limit at low current is not a full battery",
        {},
        [
            ("set", {"voltage_v": 55.4, "current_a": 30.0, "max_cell_v": 3.55, "min_cell_v": 3.44}),
            ("run", 1),
            ("expect", "absorption", "absorption_voltage_reached"),
            ("set", {"current_a": 1.0}),
            ("run", 600),
            ("expect", "absorption", "absorption_voltage_reached"),
        ],
    ),
    (
        "absorption -> float after absorption_max_s without tail current",
        {"absorption_max_s": 3600},
        [
            *ABSORBING,
            ("run", 3599),  # entered at t = 1
            ("expect", "absorption", "absorption_voltage_reached"),
            ("run", 1),
            ("expect", "float", "absorption_time_up"),
        ],
    ),
    (
        "absorption -> bulk when the voltage stays below rebulk for rebulk_delay_s",
        {},
        [
            *ABSORBING,
            ("set", {"voltage_v": 52.7, "current_a": -100.0}),
            ("run", 60),
            ("expect", "absorption", "absorption_voltage_reached"),
            ("run", 1),
            ("expect", "bulk", "voltage_below_rebulk"),
        ],
    ),
    (
        "float: a short dip below rebulk (a load step) does not rebulk",
        {},
        [
            *FLOATING,
            ("set", {"voltage_v": 52.0, "current_a": -150.0}),
            ("run", 30),
            ("set", {"voltage_v": 53.5, "current_a": -20.0}),
            ("run", 600),
            ("expect", "float", "tail_current"),
        ],
    ),
    (
        "float -> bulk when the voltage stays below rebulk",
        {},
        [
            *FLOATING,
            ("set", {"voltage_v": 52.7, "current_a": -40.0}),
            ("run", 61),
            ("expect", "bulk", "voltage_below_rebulk"),
        ],
    ),
    (
        "float -> bulk when a periodic full charge is due (wall clock, days)",
        {"full_charge_interval_days": 1, "period_s": 5.0},
        [
            *FLOATING,
            ("run", 86400 - 100),
            ("expect", "float", "tail_current"),
            ("run", 100),
            ("expect", "bulk", "full_charge_due"),
        ],
    ),
    (
        "reaching absorption needs the monitor: on the SI's voltage bulk stays bulk",
        {},
        [
            ("monitor", None),
            ("set_si", {"voltage_v": 56.2, "current_a": 20.0}),
            ("run", 120),
            ("expect", "bulk", "start"),
        ],
    ),
]


def play(rig: Rig, steps: list[Step]) -> None:
    for step in steps:
        kind = step[0]
        if kind == "set":
            rig.set(**step[1])
        elif kind == "set_si":
            assert rig.si_values is not None
            rig.si_values.update(step[1])
        elif kind == "monitor":
            rig.monitor_values = step[1]
        elif kind == "run":
            rig.run(step[1])
        elif kind == "expect":
            _, state, reason = step
            assert (rig.state, rig.controller.charger.reason) == (state, reason), f"at t={rig.t}"


@functools.cache
def played(index: int) -> Rig:
    _name, overrides, steps = SCENARIOS[index]
    rig = Rig(config(controller=overrides))
    play(rig, steps)
    return rig


@pytest.mark.parametrize("index", range(len(SCENARIOS)), ids=[s[0] for s in SCENARIOS])
def test_charge_state_scenarios(index: int) -> None:
    played(index)


def test_every_transition_row_has_a_scenario() -> None:
    fired = {
        (event["old"], event["new"], event["reason"])
        for index in range(len(SCENARIOS))
        for event in played(index).events("charge_state_changed")
    }
    rows = {
        (state.value, target.value, condition)
        for state, transitions in TRANSITIONS.items()
        for condition, target in transitions
    }
    assert rows <= fired


def test_a_completed_absorption_is_remembered_as_a_full_charge() -> None:
    rig = Rig(config(controller={"soc_reset_at_full": True}))
    play(rig, FLOATING)
    assert rig.controller.last_full_charge_unix == UNIX0 + 62
    assert rig.events("full_charge_completed")


def test_absorption_ended_by_time_is_not_a_full_charge() -> None:
    rig = Rig(config(controller={"absorption_max_s": 600}))
    play(rig, [*ABSORBING, ("run", 600)])  # absorption from t = 1 to 601
    assert rig.state == ChargeState.FLOAT.value
    assert rig.controller.last_full_charge_unix is None
