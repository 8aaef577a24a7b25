"""What Venus's GUIs and venus-platform need from the vebus service, one rule per test.

Each rule is taken from ``shared/reference/venus-gui.md`` (gui-v2 ``VeBusAcIODisplay.qml``,
``ListCurrentLimitButton.qml``, venus-platform ``alarm_item.cpp`` …) and checked against the
path table and the core: the GUI itself cannot run here (it needs Qt ≥ 6.8.3).
"""

from __future__ import annotations

import pytest

from smavenus.protocol import FunctionBits2
from smavenus.vebus.alarm_paths import PHASE_ALARMS
from smavenus.vebus.core import VebusCore
from smavenus.vebus.inputs import Options
from smavenus.vebus.paths import vebus_paths
from smavenus.vebus.state import PublisherState
from smavenus.victron.items import ItemStore
from tests.unit.vebus.si import controller_status, relay, scene, snapshot
from tests.unit.vebus.test_core import T0, make_core


def first_publish(core: VebusCore, now: float = T0) -> ItemStore:
    """What a scan sees before the SI has said anything: fixed values and one cycle."""
    store = ItemStore(p.spec for p in core.paths)
    store.update(core.fixed_values())
    store.update(core.values(now))
    return store


@pytest.mark.parametrize("generator", [False, True])
def test_number_of_ac_inputs_n_implies_each_inputs_current_limit_rows(generator: bool) -> None:
    # gui-v2 AcInputSettingsModel: one current-limit row per input; a missing
    # CurrentLimitIsAdjustable counts as adjustable and opens a dialog that writes nowhere.
    core = make_core(options=Options(generator_as_ac_in_2=generator))
    store = first_publish(core)
    inputs = store["/Ac/NumberOfAcInputs"]
    assert inputs == (2 if generator else 1)
    for n in range(1, inputs + 1):
        assert f"/Ac/In/{n}/CurrentLimit" in store.specs
        assert store[f"/Ac/In/{n}/CurrentLimitIsAdjustable"] == 0
    assert f"/Ac/In/{inputs + 1}/CurrentLimit" not in store.specs


def test_number_of_ac_inputs_is_at_least_one_from_the_first_publish() -> None:
    # 0 makes gui-v2 treat the SI as a Phoenix inverter: no AC table, no SoC, "Inverter" card.
    assert first_publish(make_core())["/Ac/NumberOfAcInputs"] >= 1


@pytest.mark.parametrize("phases", [1, 2, 3])
def test_number_of_phases_is_valid_from_the_first_publish(phases: int) -> None:
    # Invalid hides the AC table, and venus-platform sets up no vebus alarm until it is valid.
    store = first_publish(make_core(phases=phases))
    assert store["/Connected"] == 0
    assert store["/Ac/NumberOfPhases"] == phases


def test_number_of_phases_follows_the_si_once_seen_and_survives_a_restart() -> None:
    core = make_core(phases=1)
    core.on_snapshot(snapshot(scene(out_v=(230, 230, 230)), T0), T0)
    assert core.values(T0)["/Ac/NumberOfPhases"] == 3
    assert make_core(core.state(), phases=1).values(T0)["/Ac/NumberOfPhases"] == 3


def test_redetect_forgets_the_lines_learnt_and_learns_them_again() -> None:
    core = make_core(PublisherState(si_seen=True, phases_seen=3, ac_input_seen=True))
    core.redetect()
    assert core.values(T0)["/Ac/NumberOfPhases"] == 1  # the configured count meanwhile
    assert [e.name for e in core.drain_events()] == ["si_installation_forgotten"]
    core.on_snapshot(snapshot(scene(out_v=(230, 230)), T0 + 1), T0 + 1)
    assert core.values(T0 + 1)["/Ac/NumberOfPhases"] == 2


def test_every_phase_alarm_has_its_per_line_copy_in_the_table() -> None:
    # venus-platform watches HighTemperature and Overload only per line (unless VE.Can).
    paths = {p.path for p in vebus_paths(mode_control=False)}
    for name in ("Overload", "HighTemperature"):
        assert name in PHASE_ALARMS
    for line in (1, 2, 3):
        for name in PHASE_ALARMS:
            assert f"/Alarms/L{line}/{name}" in paths
            assert f"/Alarms/{name}" in paths


@pytest.mark.parametrize("phases", [1, 3])
def test_per_line_alarms_copy_the_si_alarm_on_the_lines_it_has(phases: int) -> None:
    core = make_core(phases=phases)
    core.on_controller(controller_status(sent=T0, alarms=frozenset({"high_temperature"})))
    overloaded = relay(functions2=FunctionBits2.OVERLOAD)
    lines = (230.0,) * phases
    core.on_snapshot(snapshot(scene(out_v=lines, relay_status=overloaded), T0), T0)
    values = core.values(T0)
    assert values["/Alarms/Overload"] == 2
    assert values["/Alarms/HighTemperature"] == 2
    for line in (1, 2, 3):
        expected = 2 if line <= phases else None
        assert values[f"/Alarms/L{line}/Overload"] == expected
        assert values[f"/Alarms/L{line}/HighTemperature"] == expected
        assert values[f"/Alarms/L{line}/LowBattery"] == (0 if line <= phases else None)


def test_per_line_alarms_go_invalid_with_the_si() -> None:
    core = make_core()
    core.on_snapshot(snapshot(scene(), T0), T0)
    assert core.values(T0)["/Alarms/L1/Overload"] == 0
    assert core.values(T0 + 60)["/Alarms/L1/Overload"] is None


def test_gui_v1_reads_the_active_input_limit_as_fixed() -> None:
    # gui-v1 makes it editable only when CurrentLimitIsAdjustable == 1.
    assert first_publish(make_core())["/Ac/ActiveIn/CurrentLimitIsAdjustable"] == 0


def test_the_buttons_gui_v2_always_shows_are_published_writable() -> None:
    table = {p.path: p for p in vebus_paths(mode_control=False)}
    for path in ("/RedetectSystem", "/SystemReset"):
        assert table[path].spec.writable, path
    store = first_publish(make_core())
    assert store["/RedetectSystem"] == 0
    assert store["/SystemReset"] == 0
