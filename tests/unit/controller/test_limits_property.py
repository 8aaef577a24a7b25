"""For any input, the limits sent never exceed what a fresh source allows, nor the hard limits.

Hypothesis drives the real controller through sequences of cycles with arbitrary BMS limits
and permissions, DVCC writes of arbitrary age, the user's DVCC limits, monitor and SI values
(NaN, ±inf, negative and absurd numbers included) and freshness. After every cycle:

* CCL ≤ ``[battery] max_charge_current_a`` and ≤ every fresh source's charge current
  (the BMS's ``/Info``, DVCC's BOL, DVCC's ``/Dc/0/MaxChargeCurrent``) — except the 1 A step
  on the way to 0 A (some SIs ignore a jump to 0);
* CVL ≤ the hard limit, and ≤ every fresh plausible source's charge voltage — unless CCL is
  at most 1 A (a CVL is then held a margin above the battery: below it the SI would
  discharge the battery to it, SMA-TI §5.3); a fresh implausible charge voltage means no
  charging (CCL ≤ 1 A);
* DCL ≤ the hard limit and every fresh source's discharge current; 0 when the BMS forbids
  discharging;
* DVL ≥ the hard floor and every fresh source's discharge voltage within SMA's voltages (at
  most 48 V, SMA's maximum DVL);
* and no input makes the controller raise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from hypothesis import event, given, settings
from hypothesis import strategies as st

from smavenus.config import AppConfig, parse_config
from smavenus.controller import ChargeController, MonitorSample
from smavenus.controller.battery_limits import NO_LIMIT_A, usable_bms
from smavenus.controller.inputs import (
    BmsSample,
    DvccWrite,
    DvccWrites,
    SystemSample,
    UserDvccLimits,
    finite,
)
from smavenus.controller.limits import STEP_CURRENT_A
from tests.unit.controller.plant import si_snapshot

EPS = 1e-6
BMS = "com.victronenergy.battery.ttyUSB0"
MONITOR = "com.victronenergy.battery.ttyS5"

weird = st.sampled_from([math.nan, math.inf, -math.inf, -5.0, 0.0, 655.34, 1e9])


def mostly(usual: st.SearchStrategy[float]) -> st.SearchStrategy[float | None]:
    """Usual values three times in five; missing or absurd ones the rest of the time."""
    return st.one_of(usual, usual, usual, st.none(), weird)


volts = mostly(st.floats(44.0, 60.0))
amps = mostly(st.floats(0.0, 300.0))
cells = mostly(st.floats(2.4, 3.9))
ages = st.one_of(st.floats(0.0, 3.0), st.floats(0.0, 3.0), st.floats(0.0, 40.0), st.none())


@dataclass(frozen=True)
class Cycle:
    bms_age: float | None
    bms_connected: bool
    bms_same_as_monitor: bool
    bms_cvl: float | None
    bms_ccl: float | None
    bms_dcl: float | None
    bms_dvl: float | None
    allow_charge: bool | None
    allow_discharge: bool | None
    bms_voltage: float | None
    bms_cells: tuple[float | None, float | None]
    modules_online: int | None
    dvcc_on: bool | None
    bol: tuple[float | None, float | None, float | None, float | None]
    bol_age: float | None
    dc_max_charge: float | None
    user_mcc: float | None
    user_mcv: float | None
    monitor_age: float | None
    monitor_voltage: float | None
    monitor_current: float | None
    monitor_cells: tuple[float | None, float | None]
    temperature: float | None
    si_voltage: float | None
    si_current: float | None


cycles = st.builds(
    Cycle,
    bms_age=ages,
    bms_connected=st.sampled_from([True, True, True, False]),
    bms_same_as_monitor=st.booleans(),
    bms_cvl=volts,
    bms_ccl=amps,
    bms_dcl=amps,
    bms_dvl=volts,
    allow_charge=st.sampled_from([None, True, False]),
    allow_discharge=st.sampled_from([None, True, False]),
    bms_voltage=volts,
    bms_cells=st.tuples(cells, cells),
    modules_online=st.sampled_from([None, None, 1, 4, 0]),
    dvcc_on=st.sampled_from([True, True, None, False]),
    bol=st.tuples(volts, amps, amps, volts),
    bol_age=ages,
    dc_max_charge=st.one_of(amps, st.just(NO_LIMIT_A)),
    user_mcc=st.one_of(st.none(), st.just(-1.0), st.floats(0.0, 200.0)),
    user_mcv=st.one_of(st.none(), st.just(0.0), st.floats(40.0, 60.0)),
    monitor_age=ages,
    monitor_voltage=volts,
    monitor_current=st.one_of(st.none(), st.floats(-200.0, 200.0), weird),
    monitor_cells=st.tuples(cells, cells),
    temperature=st.one_of(st.none(), st.floats(-30.0, 70.0), weird),
    si_voltage=volts,
    si_current=st.one_of(st.none(), st.floats(-200.0, 200.0)),
)

configs = st.sampled_from(
    [
        parse_config({}),
        parse_config({"controller": {"charge_control": "follow_bms"}}),
        parse_config({"controller": {"charge_control": "auto", "limit_ramp_up_s": 0}}),
        parse_config(
            {
                "battery": {"max_charge_current_a": 50.0, "cable_resistance_ohm": 0.01},
                "controller": {"bulk_current_a": 50.0, "degraded_charge_current_a": 10.0},
            }
        ),
    ]
)


def feed(c: ChargeController, cyc: Cycle, now: float) -> None:
    def at(age: float | None) -> float | None:
        return None if age is None else now - age

    monitor_at = at(cyc.monitor_age)
    c.update_monitor(
        None
        if monitor_at is None
        else MonitorSample(
            service=MONITOR, updated_at=monitor_at, voltage_v=cyc.monitor_voltage,
            current_a=cyc.monitor_current, temperature_c=cyc.temperature, soc_pct=50.0,
            min_cell_v=cyc.monitor_cells[0], max_cell_v=cyc.monitor_cells[1],
        )
    )  # fmt: skip
    bms_at = at(cyc.bms_age)
    c.update_bms(
        None
        if bms_at is None
        else BmsSample(
            service=MONITOR if cyc.bms_same_as_monitor else BMS, updated_at=bms_at,
            connected=cyc.bms_connected, voltage_v=cyc.bms_voltage,
            min_cell_v=cyc.bms_cells[0], max_cell_v=cyc.bms_cells[1],
            max_charge_voltage_v=cyc.bms_cvl, max_charge_current_a=cyc.bms_ccl,
            max_discharge_current_a=cyc.bms_dcl, battery_low_voltage_v=cyc.bms_dvl,
            allow_to_charge=cyc.allow_charge, allow_to_discharge=cyc.allow_discharge,
            modules_online=cyc.modules_online,
        )
    )  # fmt: skip
    c.update_system(SystemSample(updated_at=now, dvcc_on=cyc.dvcc_on))
    written = at(cyc.bol_age)
    c.update_dvcc(
        DvccWrites()
        if written is None
        else DvccWrites(
            *(DvccWrite(v, written) for v in cyc.bol),
            dc_max_charge_current_a=DvccWrite(cyc.dc_max_charge, written),
        )
    )
    c.update_user_dvcc(UserDvccLimits(cyc.user_mcc, cyc.user_mcv))
    if cyc.si_voltage is not None and math.isfinite(cyc.si_voltage):
        c.update_snapshot(
            si_snapshot(now, voltage_v=cyc.si_voltage, current_a=cyc.si_current,
                        temperature_c=20.0)
        )  # fmt: skip


def fresh_limits(
    c: ChargeController, cyc: Cycle, now: float, cfg: AppConfig
) -> dict[str, list[float]]:
    """What the fresh sources allow this cycle, as the test reads the rules (not the code)."""
    out: dict[str, list[float]] = {k: [] for k in ("cvl", "implausible_cvl", "ccl", "dcl", "dvl")}
    bms = usable_bms(c.bms, now, cfg)
    frozen = c.sources.bms.frozen or (cyc.bms_same_as_monitor and c.sources.monitor.frozen)
    if bms is not None and not frozen:
        add_voltage(out, bms.max_charge_voltage_v)
        if bms.max_charge_current_a is not None:
            out["ccl"].append(max(bms.max_charge_current_a, 0.0))
        if bms.max_discharge_current_a is not None:
            out["dcl"].append(max(bms.max_discharge_current_a, 0.0))
        if bms.allow_to_discharge is False:
            out["dcl"].append(0.0)
        if bms.allow_to_charge is False:
            out["ccl"].append(0.0)
        if bms.battery_low_voltage_v is not None:
            out["dvl"].append(bms.battery_low_voltage_v)
    else:
        bms = None
    dvcc_on = cyc.dvcc_on is True
    fresh_bol = cyc.bol_age is not None and cyc.bol_age <= cfg.controller.bol_max_age_s
    if dvcc_on and fresh_bol:
        add_voltage(out, finite(cyc.bol[0]))
        for key, value in (("ccl", cyc.bol[1]), ("dcl", cyc.bol[2]), ("dvl", cyc.bol[3])):
            number = finite(value)
            if number is not None:
                out[key].append(max(number, 0.0) if key != "dvl" else number)
    if dvcc_on and bms is None and cyc.bol_age is not None:
        number = finite(cyc.dc_max_charge)
        if number is not None and number < NO_LIMIT_A:
            out["ccl"].append(max(number, 0.0))
    return out


def add_voltage(out: dict[str, list[float]], value: float | None) -> None:
    if value is None:
        return
    (out["cvl"] if 41.0 <= value <= 63.0 else out["implausible_cvl"]).append(value)


@settings(max_examples=200, deadline=None)
@given(cfg=configs, run=st.lists(cycles, min_size=1, max_size=15))
def test_limits_never_exceed_a_fresh_source_nor_the_hard_limits(
    cfg: AppConfig, run: list[Cycle]
) -> None:
    c = ChargeController(cfg, started_at=0.0)
    bat = cfg.battery
    for i, cyc in enumerate(run):
        now = float(i) + 20.0
        feed(c, cyc, now)
        d = c.step(now, 1.77e9 + now)
        cvl = d.limits.charge_voltage_v.value
        ccl = d.limits.charge_current_a.value
        dcl = d.limits.discharge_current_a.value
        dvl = d.limits.discharge_voltage_v.value
        for value in (cvl, ccl, dcl, dvl, d.soc_pct):
            assert math.isfinite(value)
        assert 0.0 <= ccl <= bat.max_charge_current_a + EPS
        assert 0.0 <= dcl <= bat.max_discharge_current_a + EPS
        assert cvl <= bat.max_charge_voltage_v + EPS
        assert dvl >= bat.min_discharge_voltage_v - EPS
        allowed = fresh_limits(c, cyc, now, cfg)
        for key, values in allowed.items():
            if values:
                event(f"a fresh {key}")
        if allowed["ccl"] and ccl > 0:
            event("charging under a fresh CCL")
        stepping = ccl <= STEP_CURRENT_A + EPS
        if allowed["ccl"]:
            assert ccl <= min(allowed["ccl"]) + EPS or stepping, (ccl, allowed)
        if allowed["cvl"]:
            assert cvl <= min(allowed["cvl"]) + EPS or stepping, (cvl, ccl, allowed)
        if allowed["implausible_cvl"]:
            assert stepping, (ccl, allowed)
        if allowed["dcl"]:
            assert dcl <= min(allowed["dcl"]) + EPS, (dcl, allowed)
        plausible_dvl = [v for v in allowed["dvl"] if 41.0 <= v <= 63.0]
        if plausible_dvl:
            assert dvl >= min(max(plausible_dvl), 48.0) - EPS, (dvl, allowed)
