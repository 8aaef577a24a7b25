"""The charge controller's core: cost of one cycle, and the closed loop on a pessimistic SI.

    .venv/bin/python bench/controller_loop.py
    .venv/bin/python bench/controller_loop.py --with-bms-and-dvcc   # the step with every source

1. One controller step (inputs → limits, protections, SoC) and the Command + Status JSON,
   in-process, pure Python: microseconds per cycle. By default the battery monitor alone
   feeds the step (the SI's one snapshot goes stale after ``input_max_age_s``), as the
   figures before the battery BMS and DVCC were measured. With ``--with-bms-and-dvcc`` every
   step also gets a BmsSample (a separate BMS service with cells, temperatures, limits,
   permissions and all 21 alarms at 0), a SystemSample (DVCC on, that BMS selected) and
   fresh DvccWrites on all five paths: the sources, the disagreement check, the BMS's and
   DVCC's candidates, the BMS rules and the BMS's presence all do their work every cycle.
2. The loop closed around a 16-cell 280 Ah LiFePO4 bank and an SI that obeys only the
   charge current limit (first-order lag, no voltage regulation of its own), from 20 % SoC
   to float, for a few bank resistances and SI lags: the highest battery voltage above the
   56.0 V absorption voltage, and how absorption ended (the plant of
   ``tests/unit/controller/test_closed_loop.py``).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.unit.controller.plant import Plant, si_snapshot
from tests.unit.controller.test_closed_loop import charge

from smavenus.config import AppConfig
from smavenus.controller import ChargeController, MonitorSample
from smavenus.controller.inputs import (
    BmsSample,
    DvccWrite,
    DvccWrites,
    SystemSample,
    UserDvccLimits,
)

CASES = [(0.004, 3.0), (0.010, 3.0), (0.004, 10.0), (0.002, 1.0), (0.010, 10.0)]
BMS_SERVICE = "com.victronenergy.battery.bench_bms"
#: Every /Alarms/<Name> a battery service may publish (Victron's list), all at 0 (ok).
ALARMS = (
    "LowVoltage", "HighVoltage", "LowCellVoltage", "HighCellVoltage", "LowSoc",
    "StateOfHealth", "HighChargeCurrent", "HighDischargeCurrent", "HighCurrent",
    "CellImbalance", "InternalFailure", "HighChargeTemperature", "LowChargeTemperature",
    "HighTemperature", "LowTemperature", "HighInternalTemperature", "FuseBlown", "Contactor",
    "BmsCable", "MidVoltage", "Alarm",
)  # fmt: skip


def feed_bms_and_dvcc(controller: ChargeController, t: float, i: int) -> None:
    """One cycle's worth of the battery BMS, systemcalc and DVCC, all fresh."""
    wobble = 0.001 * (i % 5)
    controller.update_bms(
        BmsSample(
            service=BMS_SERVICE, updated_at=t, voltage_v=53.01 + wobble, current_a=1.0,
            temperature_c=20.5, soc_pct=50.0, min_cell_v=3.30, max_cell_v=3.32 + wobble,
            min_cell_temperature_c=19.5, max_cell_temperature_c=21.0,
            max_charge_voltage_v=55.2, max_charge_current_a=100.0,
            max_discharge_current_a=150.0, battery_low_voltage_v=46.0, charge_request=False,
            allow_to_charge=True, allow_to_discharge=True, modules_online=1,
            alarms=dict.fromkeys(ALARMS, 0),
        )
    )  # fmt: skip
    controller.update_system(SystemSample(t, dvcc_on=True, active_bms_service=BMS_SERVICE))
    controller.update_dvcc(
        DvccWrites(
            max_charge_voltage_v=DvccWrite(55.2, t),
            max_charge_current_a=DvccWrite(90.0, t),
            max_discharge_current_a=DvccWrite(150.0, t),
            battery_low_voltage_v=DvccWrite(46.0, t),
            dc_max_charge_current_a=DvccWrite(140.0, t),
        )
    )


def step_cost(steps: int = 20000, *, with_bms_and_dvcc: bool = False) -> None:
    controller = ChargeController(AppConfig(), started_at=0.0)
    controller.update_snapshot(si_snapshot(0.0, 53.0, 0.0))
    if with_bms_and_dvcc:
        controller.update_user_dvcc(UserDvccLimits(max_charge_current_a=120.0))
    start = time.perf_counter()
    for i in range(steps):
        t = float(i)
        sample = MonitorSample("bench", t, 53.0 + 0.001 * (i % 7), 1.0, 20.0, 50.0, 3.3, 3.32)
        controller.update_monitor(sample)
        if with_bms_and_dvcc:
            feed_bms_and_dvcc(controller, t, i)
        decision = controller.step(t, 1.7e9 + t)
    per_step = (time.perf_counter() - start) / steps
    start = time.perf_counter()
    for i in range(2000):
        command = controller.command(decision, i, 1.0, 2.0).model_dump_json()
        status = controller.status(decision, i, 1.0, 2.0).model_dump_json()
    per_json = (time.perf_counter() - start) / 2000
    what = "with a BMS and DVCC" if with_bms_and_dvcc else "monitor only"
    print(f"one step ({what}): {per_step * 1e6:.1f} µs; Command + Status JSON: "
          f"{per_json * 1e6:.1f} µs ({len(command)} + {len(status)} bytes)")  # fmt: skip
    if with_bms_and_dvcc:
        limits = decision.limits
        print(f"  last step: CVL {limits.charge_voltage_v.value:g} V "
              f"({limits.charge_voltage_v.reason}), CCL {limits.charge_current_a.value:g} A "
              f"({limits.charge_current_a.reason}), mode {decision.mode}, "
              f"BMS fresh {decision.word.bms_fresh}, DVCC on {decision.word.dvcc_on}")  # fmt: skip


def closed_loop() -> None:
    print("| bank resistance | SI lag | highest voltage above 56.0 V | states |")
    print("|---|---|---|---|")
    for resistance, lag in CASES:
        plant = Plant(resistance_ohm=resistance, lag_s=lag, soc_pct=20.0)
        trace = charge(plant, AppConfig(), hours=3.0)
        states = " → ".join(f"{s} ({r})" for _t, s, r in trace.states)
        print(f"| {resistance * 1000:.0f} mΩ | {lag:.0f} s | "
              f"{(trace.max_voltage_v - 56.0) * 1000:+.0f} mV | {states} |")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--with-bms-and-dvcc",
        action="store_true",
        help="feed a battery BMS, systemcalc and DVCC's writes every step (step cost only)",
    )
    args = parser.parse_args()
    if args.with_bms_and_dvcc:
        step_cost(with_bms_and_dvcc=True)
        return
    step_cost()
    closed_loop()


if __name__ == "__main__":
    main()
