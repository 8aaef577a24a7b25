"""The simulated Venus side, pure: BMS values and alarms, fault states, DVCC's write computation,
the record of BMS and DVCC changes, and the scenario keys that describe them."""

from __future__ import annotations

import math
from typing import Any

import pytest

from smavenus.errors import ConfigError
from smavenus.sim import EventKind, Recorder, parse_scenario
from smavenus.sim.bms import BMS_SERVICE_SPECS, BmsLimits, BmsReading, BmsUpdate, bms_values
from smavenus.sim.dvcc import (
    BOL_BATTERY_LOW_VOLTAGE,
    BOL_MAX_CHARGE_CURRENT,
    BOL_MAX_CHARGE_VOLTAGE,
    BOL_MAX_DISCHARGE_CURRENT,
    DVCC_OFF,
    NO_LIMIT_A,
    VEBUS_MAX_CHARGE_CURRENT,
    BmsView,
    DvccPlan,
    DvccSettings,
    LastCurrent,
    Unset,
    VebusView,
    controlling_bms,
    dvcc_plan,
)
from smavenus.sim.faults import disconnected_values, shown_values
from smavenus.sim.monitor import IDENTITY_SPECS
from smavenus.sim.scenario_venus import BmsLimitsEvent, BmsSection
from tests.unit.sim.support import event, feed, make, outputs

SPECS = {spec.path: spec for spec in BMS_SERVICE_SPECS}
CFG = BmsSection(enabled=True)


def reading(**changes: float) -> BmsReading:
    values: dict[str, float] = {
        "time_s": 0.0,
        "voltage_v": 53.0,
        "current_a": 20.0,
        "soc_pct": 60.0,
        "temperature_c": 25.0,
        "min_cell_v": 3.30,
        "max_cell_v": 3.32,
    }
    return BmsReading(**(values | changes))


def values(cfg: BmsSection = CFG, **changes: float) -> dict[str, Any]:
    return bms_values(reading(**changes), cfg, BmsLimits.from_section(cfg), cells=16)


# -- the BMS -------------------------------------------------------------------------------


def test_a_healthy_bank_gives_the_configured_limits_and_no_alarm() -> None:
    published = values()
    assert set(published) == set(SPECS) - {s.path for s in IDENTITY_SPECS}
    assert published["/Info/MaxChargeVoltage"] == 55.2  # 16 × 3.45 V
    assert published["/Info/MaxChargeCurrent"] == 140.0  # 0.5 C of 280 Ah
    assert published["/Info/MaxDischargeCurrent"] == 200.0
    assert published["/Info/BatteryLowVoltage"] == 46.4  # 16 × 2.9 V
    assert (published["/Io/AllowToCharge"], published["/Io/AllowToDischarge"]) == (1, 1)
    assert published["/Info/ChargeRequest"] == 0
    assert published["/Dc/0/Current"] == 20.0  # + while charging
    assert published["/System/MinCellTemperature"] == published["/System/MaxCellTemperature"]
    assert published["/System/NrOfModulesOnline"] == 1
    assert all(v == 0 for p, v in published.items() if p.startswith("/Alarms/"))


@pytest.mark.parametrize(
    ("max_cell_v", "level", "allowed"), [(3.50, 0, 1), (3.56, 1, 1), (3.65, 2, 0), (3.80, 2, 0)]
)
def test_high_cell_alarm_follows_the_top_cell_and_blocks_charging_at_2(
    max_cell_v: float, level: int, allowed: int
) -> None:
    published = values(max_cell_v=max_cell_v)
    assert published["/Alarms/HighCellVoltage"] == level
    assert published["/Io/AllowToCharge"] == allowed
    assert published["/Io/AllowToDischarge"] == 1
    lenient = BmsSection(enabled=True, block_at_cell_alarm=False)
    assert values(lenient, max_cell_v=max_cell_v)["/Io/AllowToCharge"] == 1


def test_low_cell_alarm_blocks_discharging_and_pack_imbalance_soc_temperature_follow() -> None:
    low = values(min_cell_v=2.75, voltage_v=44.0, soc_pct=3.0)
    assert low["/Alarms/LowCellVoltage"] == 2 and low["/Io/AllowToDischarge"] == 0
    assert low["/Alarms/LowVoltage"] == 2  # 44.0 V <= 16 × 2.80 V
    assert low["/Alarms/LowSoc"] == 2
    assert low["/Alarms/CellImbalance"] == 2  # 3.32 - 2.75 V
    assert values(voltage_v=56.9)["/Alarms/HighVoltage"] == 1  # >= 16 × 3.55 V
    assert values(temperature_c=42.0)["/Alarms/HighChargeTemperature"] == 1
    assert values(temperature_c=61.0)["/Alarms/HighTemperature"] == 2
    assert values(temperature_c=-1.0)["/Alarms/LowChargeTemperature"] == 2


def test_bms_limits_events_set_invalidate_and_force_alarms() -> None:
    limits = BmsLimits.from_section(CFG)
    limits.apply(
        BmsLimitsEvent(
            action="bms_limits",
            max_charge_current_a=0,
            allow_to_charge=False,
            charge_request=True,
            alarms={"HighCellVoltage": 2, "BmsCable": 1},
            invalid=("battery_low_voltage_v",),
        )
    )
    published = bms_values(reading(), CFG, limits, 16)
    assert published["/Info/MaxChargeCurrent"] == 0
    assert published["/Info/BatteryLowVoltage"] is None
    assert (published["/Io/AllowToCharge"], published["/Info/ChargeRequest"]) == (0, 1)
    assert (published["/Alarms/HighCellVoltage"], published["/Alarms/BmsCable"]) == (2, 1)
    limits.apply(BmsLimitsEvent(action="bms_limits", alarms={"HighCellVoltage": 0}))
    published = bms_values(reading(max_cell_v=3.58), CFG, limits, 16)
    assert published["/Alarms/HighCellVoltage"] == 1  # the cell's own level comes back


def test_an_overcharged_cell_raises_the_alarm_1_then_2_and_charging_is_refused() -> None:
    sim = make(
        grid={"request": "always", "valid_time_s": 0},
        battery={"soc_pct": 97.0},
        si={"noise": 0},
        bms={"enabled": True},
    )
    feed(sim, 0, 200, cvl=58.0, ccl=100.0)  # a charger that does not listen to the BMS
    changes = [e.detail["changed"] for e in sim.recorder.of_kind(EventKind.BMS_LIMITS)]
    levels = [c["/Alarms/HighCellVoltage"] for c in changes if "/Alarms/HighCellVoltage" in c]
    assert levels[:3] == [0, 1, 2]
    at_alarm = next(c for c in changes if c.get("/Alarms/HighCellVoltage") == 2)
    assert at_alarm["/Io/AllowToCharge"] == 0  # refused in the same update
    assert sim.status()["bms"]["values"]["/Io/AllowToCharge"] == 0
    updates = [o for o in outputs(sim) if isinstance(o, BmsUpdate)]
    assert len(updates) >= 200  # one per second


def test_bms_state_changes_are_recorded_and_a_shared_service_counts_monitor_events() -> None:
    sim = make(bms={"enabled": True})
    sim.apply(event("bms", state="lie", voltage_offset_v=2.5), 1.0)
    sim.apply(event("monitor", state="freeze"), 2.0)  # the same service
    sim.apply(event("bms", state="restore"), 3.0)
    sim.apply(event("bms", state="restore"), 4.0)  # already normal: nothing to record
    states = [(e.time_s, e.detail["new"]) for e in sim.recorder.of_kind(EventKind.BMS_STATE)]
    assert states == [(1.0, "lie"), (2.0, "freeze"), (3.0, "normal")]
    separate = make(bms={"enabled": True, "service": "separate"})
    separate.apply(event("monitor", state="vanish"), 1.0)
    assert separate.recorder.of_kind(EventKind.BMS_STATE) == []
    with pytest.raises(ValueError, match="no BMS"):
        make().apply(event("bms_limits", allow_to_charge=False), 1.0)


# -- fault states ----------------------------------------------------------------------------


def test_fault_states_change_only_what_they_say() -> None:
    true = values()
    lie = shown_values(true, "lie", SPECS, 6.0)
    assert lie["/Dc/0/Voltage"] == true["/Dc/0/Voltage"] + 6.0
    assert lie["/Dc/0/Power"] == pytest.approx(59.0 * 20.0)
    assert lie["/System/MaxCellVoltage"] == true["/System/MaxCellVoltage"]
    nan = shown_values(true, "nan", SPECS)
    assert math.isnan(nan["/Dc/0/Voltage"]) and math.isnan(nan["/Info/MaxChargeCurrent"])
    assert nan["/Io/AllowToCharge"] == 1 and nan["/Alarms/HighCellVoltage"] == 0  # integers
    cells = shown_values(true, "cells_invalid", SPECS)
    assert cells["/System/MinCellVoltage"] is None and cells["/System/MaxCellVoltage"] is None
    assert cells["/Dc/0/Voltage"] == true["/Dc/0/Voltage"]
    assert shown_values(true, "normal", SPECS) == true
    gone = disconnected_values(SPECS, ("/Dc/0/Voltage", "/Soc"))
    assert gone == {
        "/Connected": 0,
        "/Dc/0/Voltage": None,
        "/Soc": None,
        "/System/NrOfModulesOnline": 0,
    }


# -- DVCC ------------------------------------------------------------------------------------

BMS_45 = BmsView(
    "com.victronenergy.battery.sim",
    512,
    {
        "/Info/MaxChargeVoltage": 58.2,
        "/Info/MaxChargeCurrent": 45.0,
        "/Info/MaxDischargeCurrent": 50.0,
        "/Info/BatteryLowVoltage": 47.0,
    },
)
VEBUS = VebusView("com.victronenergy.vebus.sim", 276, True, 999.0, True)


def settings(user_a: float = -1.0, user_v: float = 0.0, *, enabled: bool = True) -> DvccSettings:
    return DvccSettings(enabled, False, user_a, user_v, 3.0)


def plan(
    dvcc: DvccSettings,
    bms: BmsView | None = BMS_45,
    vebus: VebusView | None = VEBUS,
    pv_a: float = 0.0,
    last: LastCurrent = Unset.NOTSET,
) -> DvccPlan:
    return dvcc_plan(dvcc, bms, vebus, pv_a, last)


def test_bms_45_a_with_30_a_of_pv_gives_the_vebus_15_a() -> None:
    # systemcalc's test_hub1_control_vedirect_solarcharger_bms_battery
    result = plan(settings(), pv_a=30.0)
    assert result.writes == {
        BOL_MAX_CHARGE_VOLTAGE: 58.2,
        BOL_MAX_CHARGE_CURRENT: 15,
        VEBUS_MAX_CHARGE_CURRENT: 999.0,  # max(its value, 15): left at 999
        BOL_MAX_DISCHARGE_CURRENT: 50.0,
        BOL_BATTERY_LOW_VOLTAGE: 47.0,
    }
    assert type(result.writes[BOL_MAX_CHARGE_CURRENT]) is int  # arrives as Int32
    assert result.system == {
        "/Control/Dvcc": 1,
        "/Dc/Battery/ChargeVoltage": 58.2,
        "/Control/MaxChargeCurrent": 1,
        "/Control/BmsParameters": 1,
    }


def test_no_bms_user_40_a_with_30_a_of_pv_limits_dc0_to_10_a() -> None:
    # systemcalc's test_no_bms_max_charge_current_setting
    result = plan(settings(40.0), bms=None, pv_a=30.0)
    assert result.writes == {VEBUS_MAX_CHARGE_CURRENT: 10}
    assert result.system["/Control/BmsParameters"] == 0
    assert plan(settings(40.0), bms=None, pv_a=38.6).writes == {VEBUS_MAX_CHARGE_CURRENT: 0}


@pytest.mark.parametrize(("user_v", "expected"), [(0.0, 58.2), (54.5, 54.5), (59.0, 58.2)])
def test_user_charge_voltage_only_lowers_the_bms_cvl(user_v: float, expected: float) -> None:
    # systemcalc's test_charge_voltage_override
    result = plan(settings(user_v=user_v))
    assert result.writes[BOL_MAX_CHARGE_VOLTAGE] == expected
    assert result.system["/Dc/Battery/ChargeVoltage"] == expected


def test_the_smaller_of_user_limit_and_bms_ccl_minus_pv_never_below_zero() -> None:
    assert plan(settings(25.0)).writes[BOL_MAX_CHARGE_CURRENT] == 25
    assert plan(settings(60.0)).writes[BOL_MAX_CHARGE_CURRENT] == 45
    assert plan(settings(25.0), pv_a=40.0).writes[BOL_MAX_CHARGE_CURRENT] == 0


def test_invalid_bms_values_are_copied_invalid_and_a_missing_ccl_writes_no_current() -> None:
    partial = BmsView("s", 512, {"/Info/MaxChargeVoltage": 55.2, "/Info/MaxDischargeCurrent": None})
    writes = plan(settings(), bms=partial).writes
    assert writes == {
        BOL_MAX_CHARGE_VOLTAGE: 55.2,
        BOL_MAX_DISCHARGE_CURRENT: None,
        BOL_BATTERY_LOW_VOLTAGE: None,
    }


def test_no_limit_is_10000_written_once_and_again_after_the_vebus_was_lost() -> None:
    first = plan(settings(), bms=None)
    assert first.writes == {VEBUS_MAX_CHARGE_CURRENT: NO_LIMIT_A}
    second = plan(settings(), bms=None, last=first.last_current)
    assert second.writes == {}
    lost = plan(settings(), bms=None, vebus=None, last=second.last_current)
    assert lost.last_current is Unset.NOTSET
    assert plan(settings(), bms=None, last=lost.last_current).writes == {
        VEBUS_MAX_CHARGE_CURRENT: NO_LIMIT_A
    }
    limited = plan(settings(40.0), bms=None, last=second.last_current)
    assert plan(settings(), bms=None, last=limited.last_current).writes == {
        VEBUS_MAX_CHARGE_CURRENT: NO_LIMIT_A  # the user removed the limit
    }


def test_a_disconnected_vebus_gets_bol_but_not_dc0_and_dvcc_off_writes_nothing() -> None:
    offline = VebusView("com.victronenergy.vebus.sim", 276, False, 999.0, True)
    writes = plan(settings(), vebus=offline).writes
    assert VEBUS_MAX_CHARGE_CURRENT not in writes and BOL_MAX_CHARGE_CURRENT in writes
    assert plan(settings(), bms=None, vebus=offline).writes == {}
    off = plan(settings(25.0, enabled=False))
    assert (off.writes, off.system) == ({}, dict(DVCC_OFF))
    nobody = plan(settings())
    assert plan(settings(), vebus=None).writes == {} and nobody.system["/Control/Dvcc"] == 1


def test_a_service_is_a_bms_only_with_a_finite_cvl() -> None:
    assert controlling_bms("s", {"/Info/MaxChargeVoltage": 55.2, "/DeviceInstance": 3}) == (
        BmsView("s", 3, {"/Info/MaxChargeVoltage": 55.2, "/DeviceInstance": 3})
    )
    assert controlling_bms("s", {"/Info/MaxChargeVoltage": None}) is None
    assert controlling_bms("s", {"/Info/MaxChargeVoltage": math.nan}) is None
    assert controlling_bms("s", {"/Soc": 50.0}) is None  # a plain shunt
    assert controlling_bms("s", None) is None  # vanished


def test_dvcc_events_change_the_settings_and_the_record_counts_writes() -> None:
    dvcc = settings(25.0)
    dvcc.apply(event("dvcc", stalled=True, max_charge_current_a=-1))
    assert (dvcc.enabled, dvcc.stalled, dvcc.max_charge_current_a) == (True, True, -1.0)
    rec = Recorder()
    writes = {BOL_MAX_CHARGE_CURRENT: 25}
    for t in (3.0, 6.0, 9.0):
        rec.dvcc_cycle(t, "com.victronenergy.vebus.sim", writes)
    rec.dvcc_cycle(12.0, "com.victronenergy.vebus.sim", {BOL_MAX_CHARGE_CURRENT: 15})
    rec.dvcc_cycle(15.0, None, {}, "no vebus service")
    rec.dvcc_cycle(18.0, None, {}, "no vebus service")
    rec.dvcc_cycle(21.0, "com.victronenergy.vebus.sim", {BOL_MAX_CHARGE_CURRENT: 15})
    assert [(e.time_s, e.kind.value) for e in rec.events] == [
        (3.0, "dvcc_write"),
        (12.0, "dvcc_write"),
        (15.0, "dvcc_write_failed"),
    ]
    assert rec.dvcc.to_dict() == {
        "writes": 5,
        "failures": 2,
        "last_t_s": 21.0,
        "last_service": "com.victronenergy.vebus.sim",
        "last_values": {BOL_MAX_CHARGE_CURRENT: 15},
        "failing": None,
    }
    assert rec.summary(21.0)["dvcc"]["writes"] == 5


# -- scenario keys -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"events": [{"action": "bms", "state": "vanish"}]}, "needs [bms] enabled = true"),
        (
            {"bms": {"enabled": True}, "events": [{"action": "bms_limits"}]},
            "bms_limits changes nothing",
        ),
        (
            {"bms": {"enabled": True}, "events": [{"action": "bms_limits", "alarms": {"Hot": 2}}]},
            "unknown alarm Hot",
        ),
        (
            {
                "bms": {"enabled": True},
                "events": [
                    {
                        "action": "bms_limits",
                        "max_charge_current_a": 5,
                        "invalid": ["max_charge_current_a"],
                    }
                ],
            },
            "given a value and made invalid",
        ),
        (
            {"events": [{"action": "monitor", "state": "freeze", "voltage_offset_v": 1}]},
            "voltage_offset_v goes with state = 'lie' only",
        ),
        (
            {"bms": {"high_cell_alarm_v": 3.5}},
            "high_cell_warning_v must be below high_cell_alarm_v",
        ),
        ({"bms": {"service": "both"}}, "bms.service"),
        ({"dvcc": {"max_charge_current_a": -2}}, "dvcc.max_charge_current_a"),
        ({"events": [{"action": "dvcc"}]}, "dvcc changes nothing"),
    ],
)
def test_bad_bms_and_dvcc_keys_say_where_and_why(data: dict[str, Any], expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_scenario(data)
    assert any(expected in line for line in info.value.problems), info.value.problems


def test_without_bms_and_dvcc_nothing_new_happens() -> None:
    sim = make()
    sim.advance_to(30.0)
    assert not [o for o in outputs(sim) if isinstance(o, BmsUpdate)]
    assert sim.status()["bms"] is None and sim.status()["dvcc"]["enabled"] is False
    assert not {e.kind for e in sim.recorder.events} & {
        EventKind.BMS_LIMITS,
        EventKind.BMS_STATE,
        EventKind.DVCC_WRITE,
    }
