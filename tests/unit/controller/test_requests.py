"""What a person may ask while the controller runs: a full charge now, acknowledging alarms."""

from __future__ import annotations

from smavenus.controller.requests import acknowledge_alarms, start_full_charge
from tests.unit.controller.rig import BMS, Rig, config
from tests.unit.controller.test_charger import FLOATING, play
from tests.unit.controller.test_protections import rig_at_rest


def test_a_full_charge_now_goes_to_bulk_and_ends_as_a_full_charge() -> None:
    rig = Rig(config())
    play(rig, FLOATING)
    first_full = rig.controller.last_full_charge_unix
    assert rig.state == "float"
    assert start_full_charge(rig.controller, rig.t) is None
    rig.run(1)
    assert (rig.state, rig.controller.charger.reason) == ("bulk", "full_charge_requested")
    assert rig.events("charge_state_changed")[-1]["reason"] == "full_charge_requested"
    play(rig, FLOATING)  # absorbs again and ends on the tail current
    assert rig.controller.last_full_charge_unix is not None
    assert first_full is not None and rig.controller.last_full_charge_unix > first_full


def test_a_full_charge_is_refused_while_a_battery_bms_sets_the_voltage() -> None:
    rig = Rig(config(controller={"charge_control": "follow_bms"}))
    rig.bms_values = {"service": BMS}
    rig.run(5)
    state = rig.state
    reason = start_full_charge(rig.controller, rig.t)
    assert reason is not None and "BMS" in reason
    rig.run(1)
    assert rig.state == state


def test_acknowledge_releases_a_held_alarm_but_never_one_still_raised() -> None:
    rig = rig_at_rest()
    rig.set(temperature_c=55.0)  # warning first, then past the alarm threshold
    rig.run(1)
    rig.set(temperature_c=60.0)
    rig.run(11)
    assert "high_temperature" in rig.last.alarms
    assert acknowledge_alarms(rig.controller, rig.t) == []  # the rule still raises it
    rig.run(1)
    assert "high_temperature" in rig.last.alarms
    rig.set(temperature_c=53.1)  # a warning again: the rule let go, the SMA alarm is held
    rig.run(2)
    assert "high_temperature" in rig.last.alarms, "held for alarm_min_hold_s"
    assert acknowledge_alarms(rig.controller, rig.t) == ["high_temperature"]
    rig.run(1)
    assert "high_temperature" not in rig.last.alarms
    assert "high_temperature" in rig.last.warnings  # the warning is the rule's, not held
    assert rig.events("sma_alarm_acknowledged")[0]["condition"] == "high_temperature"
