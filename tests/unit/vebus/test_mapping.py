"""SI frames → vebus values: signs, units, lines, state, alarms, LEDs."""

from __future__ import annotations

from typing import Any

import pytest

from smavenus.protocol import FunctionBits1, FunctionBits2, RelayBits, decode
from smavenus.vebus.alarms import GridLostLatch, bms_alarm_values
from smavenus.vebus.enums import ActiveInput, AlarmLevel, Led, VebusChargeState, VebusState
from smavenus.vebus.inputs import ChargePhase, Conditions, Fresh, Options
from smavenus.vebus.leds import led_values
from smavenus.vebus.measurements import (
    ac_values,
    active_input_values,
    dc_values,
    lines_with_voltage,
)
from smavenus.vebus.operating_state import charge_state, state_facts, vebus_state
from tests.unit.vebus.si import GRID_ON, GRID_WAITING, NO_GRID, fresh_frames, relay, scene, wire


def fresh(**kwargs: Any) -> Fresh:
    return Fresh(**fresh_frames(scene(**kwargs)))


def test_battery_worked_example_in_victron_signs() -> None:
    # original-driver.md §1.1: 0x305 10 02 9C FF E6 00 DE 03 = 52.8 V, −10.0 A (SMA: charging)
    battery = decode(0x305, bytes.fromhex("10029CFFE600DE03"))
    values = dc_values(Fresh(battery_status=battery))
    assert values == {
        "/Dc/0/Voltage": 52.8,
        "/Dc/0/Current": 10.0,  # + = charging in Victron's sign
        "/Dc/0/Power": pytest.approx(528.0),
        "/Dc/0/Temperature": 23.0,
        "/Soc": 99.0,
    }


def test_output_power_per_line_is_external_plus_inverter() -> None:
    values = ac_values(
        fresh(ext_w=(1500, -1000), inv_w=(-500, 2200), out_v=(120.0, 119.8), ext_v=(120, 120)),
        lines=2,
    )
    assert values["/Ac/Out/L1/P"] == 1000
    assert values["/Ac/Out/L2/P"] == 1200
    assert values["/Ac/Out/P"] == 2200
    assert values["/Ac/ActiveIn/L2/P"] == -1000  # + = import, SMA's sign already
    assert values["/Ac/ActiveIn/P"] == 500
    assert values["/Ac/Out/L1/I"] == pytest.approx(1000 / 120.0)
    assert values["/Ac/ActiveIn/L2/I"] == pytest.approx(-1000 / 120.0)  # signed like P


def test_frequency_and_voltage_per_line() -> None:
    values = ac_values(fresh(out_v=(230.4,), ext_v=(229.1,), out_hz=50.02, ext_hz=49.98), lines=1)
    assert values["/Ac/Out/L1/V"] == 230.4
    assert values["/Ac/Out/L1/F"] == 50.02
    assert values["/Ac/ActiveIn/L1/V"] == 229.1
    assert values["/Ac/ActiveIn/L1/F"] == 49.98


def test_apparent_power_uses_the_reactive_power_frames() -> None:
    values = ac_values(fresh(ext_w=(300,), inv_w=(100,), ext_var=(400,), inv_var=(-100,)), lines=1)
    assert values["/Ac/ActiveIn/L1/S"] == pytest.approx(500.0)  # √(300² + 400²)
    assert values["/Ac/Out/L1/S"] == pytest.approx(500.0)  # √(400² + 300²)


def test_lines_beyond_the_installation_are_invalid_not_zero() -> None:
    values = ac_values(fresh(ext_w=(1500,), inv_w=(0,)), lines=1)
    assert values["/Ac/Out/L2/P"] is None
    assert values["/Ac/ActiveIn/L3/V"] is None
    assert values["/Ac/Out/P"] == 1500


def test_no_current_without_voltage_unless_there_is_no_power() -> None:
    off = ac_values(fresh(ext_w=(0,), inv_w=(0,), out_v=(0,), ext_v=(0,)), lines=1)
    assert off["/Ac/Out/L1/I"] == 0.0
    odd = ac_values(fresh(ext_w=(0,), inv_w=(300,), out_v=(0,)), lines=1)
    assert odd["/Ac/Out/L1/I"] is None


@pytest.mark.parametrize(
    ("out_v", "ext_v", "lines"),
    [((230,), (0,), 1), ((120, 120), (0, 0), 2), ((0, 0, 0), (230, 231, 229), 3), ((0,), (0,), 0)],
)
def test_number_of_lines_from_the_voltages_the_si_reports(
    out_v: tuple[float, ...], ext_v: tuple[float, ...], lines: int
) -> None:
    assert lines_with_voltage(fresh(out_v=out_v, ext_v=ext_v)) == lines


@pytest.mark.parametrize(
    ("functions1", "functions2", "relays", "generator", "expected"),
    [
        (GRID_ON, FunctionBits2(0), RelayBits(0), False, (ActiveInput.AC_IN_1, 1)),
        (GRID_WAITING, FunctionBits2(0), RelayBits(0), False, (ActiveInput.DISCONNECTED, 0)),
        (NO_GRID, FunctionBits2(0), RelayBits(0), False, (ActiveInput.DISCONNECTED, 0)),
        # generator mode reports ExtSrcConn rather than GdOn (ESSdev2's observation)
        (GRID_WAITING, FunctionBits2.EXT_SRC_CONN, RelayBits(0), False, (ActiveInput.AC_IN_1, 1)),
        (GRID_ON, FunctionBits2(0), RelayBits.GN_RN, True, (ActiveInput.AC_IN_2, 1)),
        (GRID_ON, FunctionBits2(0), RelayBits.GN_RN, False, (ActiveInput.AC_IN_1, 1)),
    ],
)
def test_active_input(
    functions1: FunctionBits1,
    functions2: FunctionBits2,
    relays: RelayBits,
    generator: bool,
    expected: tuple[ActiveInput, int],
) -> None:
    si = fresh(relay_status=relay(functions1, functions2, relays))
    values = active_input_values(si, Options(generator_as_ac_in_2=generator))
    assert (values["/Ac/ActiveIn/ActiveInput"], values["/Ac/ActiveIn/Connected"]) == expected
    assert type(values["/Ac/ActiveIn/ActiveInput"]) is int


CHARGING, DISCHARGING, RESTING = -20.0, 20.0, 0.3  # SMA's sign: negative = charging


@pytest.mark.parametrize(
    ("case", "kwargs", "phase", "expected"),
    [
        ("SI failure", {"operating_state": 4}, ChargePhase.BULK, VebusState.FAULT),
        ("no output voltage", {"out_v": (0,)}, None, VebusState.OFF),
        ("off grid", {"relay_status": relay(NO_GRID)}, None, VebusState.INVERTING),
        (
            "off grid, AC-PV charging",
            {"relay_status": relay(NO_GRID), "battery_a_sma": CHARGING},
            ChargePhase.ABSORPTION,
            VebusState.INVERTING,
        ),
        ("on grid, bulk", {"battery_a_sma": CHARGING}, ChargePhase.BULK, VebusState.BULK),
        (
            "on grid, absorption",
            {"battery_a_sma": CHARGING},
            ChargePhase.ABSORPTION,
            VebusState.ABSORPTION,
        ),
        ("on grid, float at rest", {"battery_a_sma": RESTING}, ChargePhase.FLOAT, VebusState.FLOAT),
        ("on grid, charging, no controller", {"battery_a_sma": CHARGING}, None, VebusState.BULK),
        ("on grid, resting, no controller", {"battery_a_sma": RESTING}, None, VebusState.PASSTHRU),
        (
            "on grid, discharging",
            {"battery_a_sma": DISCHARGING},
            ChargePhase.FLOAT,
            VebusState.INVERTING,
        ),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_state(
    case: str, kwargs: dict[str, Any], phase: ChargePhase | None, expected: VebusState
) -> None:
    state = vebus_state(state_facts(fresh(**kwargs), phase))
    assert state == expected
    assert type(state) is int


def test_state_is_invalid_when_the_output_voltage_is_unknown() -> None:
    si = Fresh(relay_status=wire(relay()))
    assert vebus_state(state_facts(si, ChargePhase.BULK)) is None


@pytest.mark.parametrize(
    ("phase", "expected"),
    [
        (ChargePhase.BULK, VebusChargeState.BULK),
        (ChargePhase.ABSORPTION, VebusChargeState.ABSORPTION),
        (ChargePhase.FLOAT, VebusChargeState.FLOAT),
        (None, None),
    ],
)
def test_charge_state(phase: ChargePhase | None, expected: int | None) -> None:
    assert charge_state(phase) == expected


def test_grid_lost_needs_two_consecutive_frames() -> None:
    latch = GridLostLatch()
    latch.observe(1.0, ac2_voltage_valid=True)
    latch.observe(2.0, ac2_voltage_valid=False)  # relay transfer glitch: one frame
    assert latch.level is AlarmLevel.OK
    latch.observe(3.0, ac2_voltage_valid=True)
    latch.observe(4.0, ac2_voltage_valid=False)
    latch.observe(4.0, ac2_voltage_valid=False)  # the same frame in a second snapshot
    assert latch.level is AlarmLevel.OK
    latch.observe(5.0, ac2_voltage_valid=False)
    assert latch.level is AlarmLevel.ALARM
    latch.observe(6.0, ac2_voltage_valid=True)
    assert latch.level is AlarmLevel.OK


def test_bms_conditions_map_to_victron_alarms() -> None:
    values = bms_alarm_values(
        Conditions(
            alarms=frozenset({"high_voltage"}),
            warnings=frozenset({"low_voltage", "cell_imbalance", "high_voltage"}),
        ),
        "controller",
    )
    assert values == {
        "/Alarms/LowBattery": AlarmLevel.WARNING,
        "/Alarms/HighDcVoltage": AlarmLevel.ALARM,  # the alarm wins over the warning
        "/Alarms/HighDcCurrent": AlarmLevel.OK,
        "/Alarms/HighTemperature": AlarmLevel.OK,
        "/Alarms/BmsPreAlarm": AlarmLevel.WARNING,  # no Victron alarm of its own
        "/Alarms/BmsConnectionLost": AlarmLevel.OK,
    }


@pytest.mark.parametrize(
    ("source", "level"),
    [("controller", 0), ("persisted", 0), ("cold_start", 1), ("stale", 2), ("new_kind", 2)],
)
def test_bms_connection_lost_follows_the_gateways_command_source(source: str, level: int) -> None:
    assert bms_alarm_values(None, source)["/Alarms/BmsConnectionLost"] == level


@pytest.mark.parametrize(
    ("source", "bms_lost", "level"),
    [
        ("controller", False, 0),
        ("controller", True, 2),  # the controller is heard, its BMS is not
        ("stale", False, 2),  # the controller is gone
        ("stale", True, 2),
        ("cold_start", False, 1),
        ("cold_start", True, 2),
        (None, True, 2),  # only the controller is known
        (None, False, 0),
        ("stale", None, 2),  # only the gateway is known
        ("persisted", None, 0),
    ],
)
def test_bms_connection_lost_is_the_worst_of_both_links(
    source: str | None, bms_lost: bool | None, level: int
) -> None:
    values = bms_alarm_values(None, source, bms_lost)
    assert values["/Alarms/BmsConnectionLost"] == level


def test_unknown_bms_side_is_invalid() -> None:
    assert set(bms_alarm_values(None, None).values()) == {None}
    assert set(bms_alarm_values(None, None, None).values()) == {None}


def test_leds_follow_state_and_alarms() -> None:
    values = {
        "/State": VebusState.ABSORPTION,
        "/Ac/ActiveIn/Connected": 0,
        "/Alarms/Overload": AlarmLevel.ALARM,
        "/Alarms/LowBattery": AlarmLevel.WARNING,
        "/Alarms/HighTemperature": None,
    }
    leds = led_values(values, fresh(relay_status=relay(GRID_WAITING)))
    assert leds == {
        "/Leds/Mains": Led.BLINK,  # AC2 is there, the SI has not connected yet
        "/Leds/Bulk": Led.OFF,
        "/Leds/Absorption": Led.ON,
        "/Leds/Float": Led.OFF,
        "/Leds/Inverter": Led.OFF,
        "/Leds/Overload": Led.ON,
        "/Leds/LowBattery": Led.BLINK,
        "/Leds/Temperature": None,
    }
