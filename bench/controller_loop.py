"""The charge controller's core: cost of one cycle, and the closed loop on a pessimistic SI.

    .venv/bin/python bench/controller_loop.py

1. One controller step (inputs → limits, protections, SoC) and the Command + Status JSON,
   in-process, pure Python: microseconds per cycle.
2. The loop closed around a 16-cell 280 Ah LiFePO4 bank and an SI that obeys only the
   charge current limit (first-order lag, no voltage regulation of its own), from 20 % SoC
   to float, for a few bank resistances and SI lags: the highest battery voltage above the
   56.0 V absorption voltage, and how absorption ended (the plant of
   ``tests/unit/bms/test_closed_loop.py``).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.unit.controller.plant import Plant, si_snapshot
from tests.unit.controller.test_closed_loop import charge

from smavenus.config import AppConfig
from smavenus.controller import ChargeController, MonitorSample

CASES = [(0.004, 3.0), (0.010, 3.0), (0.004, 10.0), (0.002, 1.0), (0.010, 10.0)]


def step_cost(steps: int = 20000) -> None:
    controller = ChargeController(AppConfig(), started_at=0.0)
    controller.update_snapshot(si_snapshot(0.0, 53.0, 0.0))
    start = time.perf_counter()
    for i in range(steps):
        t = float(i)
        sample = MonitorSample("bench", t, 53.0 + 0.001 * (i % 7), 1.0, 20.0, 50.0, 3.3, 3.32)
        controller.update_monitor(sample)
        decision = controller.step(t, 1.7e9 + t)
    per_step = (time.perf_counter() - start) / steps
    start = time.perf_counter()
    for i in range(2000):
        command = controller.command(decision, i, 1.0, 2.0).model_dump_json()
        status = controller.status(decision, i, 1.0, 2.0).model_dump_json()
    per_json = (time.perf_counter() - start) / 2000
    print(f"one step: {per_step * 1e6:.1f} µs; Command + Status JSON: {per_json * 1e6:.1f} µs "
          f"({len(command)} + {len(status)} bytes)")  # fmt: skip


def closed_loop() -> None:
    print("| bank resistance | SI lag | highest voltage above 56.0 V | states |")
    print("|---|---|---|---|")
    for resistance, lag in CASES:
        plant = Plant(resistance_ohm=resistance, lag_s=lag, soc_pct=20.0)
        trace = charge(plant, AppConfig(), hours=3.0)
        states = " → ".join(f"{s} ({r})" for _t, s, r in trace.states)
        print(f"| {resistance * 1000:.0f} mΩ | {lag:.0f} s | "
              f"{(trace.max_voltage_v - 56.0) * 1000:+.0f} mV | {states} |")  # fmt: skip


if __name__ == "__main__":
    step_cost()
    closed_loop()
