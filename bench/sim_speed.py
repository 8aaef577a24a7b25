"""How fast the simulator runs: simulated hours per wall-clock second.

    .venv/bin/python bench/sim_speed.py [--hours 6] [--repeat 3] [--pty]

Model: the pure ``Simulation`` stepped as fast as possible at the scenario's default step
(0.1 s), with an in-process BMS sending the gateway's 7-frame set every simulated second
(so the SI stays operating, as it would on the bench) and the 11 status frames encoded every
second. Reports the best of ``--repeat`` runs per scenario, on one core.

``--pty`` adds the end-to-end figure: the simulator as the slcan adapter on a pty with
python-can's slcan interface reading it in the same process, at several ``--speed`` values,
for 5 s of wall time each: status frames delivered per second and frames lost.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import tempfile
import time
from pathlib import Path

import can

from smavenus.io.sim import SimRunner, SlcanLink
from smavenus.log import configure_logging
from smavenus.protocol import (
    AlarmsWarnings,
    BatteryInfo,
    BatteryMeasurements,
    BmsEvents,
    ChargeLimits,
    ManufacturerName,
    SocSoh,
    encode,
)
from smavenus.sim import Simulation, load_scenario, parse_scenario
from smavenus.sim.scenario import Scenario

#: The gateway's cyclic frame set (CVL 56 V, CCL 50 A, DCL 100 A, DVL 44.8 V, SoC 60 %).
BMS_FRAMES = [
    encode(frame)
    for frame in (
        ChargeLimits(56.0, 50.0, 100.0, 44.8),
        SocSoh(60, 100, 60.0),
        BatteryMeasurements(53.0, 0.0, 25.0),
        AlarmsWarnings.from_active(),
        BmsEvents(),
        ManufacturerName("SMAVENUS"),
        BatteryInfo(0, 256, 280),
    )
]

CASES: dict[str, Scenario] = {
    "default, on grid": parse_scenario({"grid": {"request": "always", "valid_time_s": 60}}),
    "pv-day (off grid, DC PV)": load_scenario("pv-day"),
    "split-phase-us (generator)": load_scenario("split-phase-us"),
    "lead-acid-three-phase": load_scenario("lead-acid-three-phase"),
}


def run_model(scenario: Scenario, hours: float) -> tuple[float, int, int]:
    """(wall seconds, integration steps, frames sent) for ``hours`` of simulated time."""
    sim = Simulation(scenario.model_copy(update={"duration_s": None, "events": ()}), seed=1)
    end = hours * 3600.0
    start = time.perf_counter()
    t = 0.0
    while t < end:
        for can_id, data in BMS_FRAMES:
            sim.receive(t, can_id, data)
        t += 1.0
        sim.advance_to(t)
        sim.take_outputs()
    wall = time.perf_counter() - start
    return wall, round(end / scenario.step_s), sim.frames_sent


def model_section(hours: float, repeat: int) -> None:
    print(f"model, {hours:g} simulated hours per run, best of {repeat}, step 0.1 s:")
    print(f"  {'scenario':<30} {'wall s':>8} {'sim h / wall s':>15} {'steps/s':>10}")
    for name, scenario in CASES.items():
        best = min((run_model(scenario, hours) for _ in range(repeat)), key=lambda r: r[0])
        wall, steps, _frames = best
        print(f"  {name:<30} {wall:8.2f} {hours / wall:15.2f} {steps / wall:10,.0f}")


async def pty_run(speed: float, seconds: float) -> tuple[int, int, int, float]:
    """(frames the host received, dropped by the adapter, emitted by the SI, wall seconds)."""
    with tempfile.TemporaryDirectory() as tmp:
        link = SlcanLink(Path(tmp) / "ttyACM-sim")
        sim = Simulation(parse_scenario({"grid": {"request": "always"}}), seed=1)
        async with SimRunner(sim, link, speed=speed, start_on_open=True) as runner:
            host = await asyncio.to_thread(
                can.Bus, interface="slcan", channel=link.path, bitrate=500_000, sleep_after_open=0
            )
            received = 0

            def on_message(_msg: can.Message) -> None:
                nonlocal received
                received += 1

            notifier = can.Notifier(host, [on_message], loop=asyncio.get_running_loop())
            stop_at = time.monotonic() + seconds
            t = 0.0
            while time.monotonic() < stop_at:
                await runner.wait_until(t)
                for can_id, data in BMS_FRAMES:
                    host.send(can.Message(arbitration_id=can_id, data=data, is_extended_id=False))
                t += 1.0
            await asyncio.sleep(0.5)  # let the host read what is still on the pty
            notifier.stop()
            wall = runner.sim_now() / speed  # since the clock started, drain included
            sent = sim.frames_sent
            host.shutdown()
            assert link.pty is not None
            return received, link.pty.frames_dropped, sent, wall


def pty_section() -> None:
    print("slcan pty + python-can host in one process, 5 s wall per speed, BMS every sim second:")
    header = ("speed", "SI frames sent", "host received", "dropped", "frames/s")
    print("  {:>6} {:>15} {:>14} {:>8} {:>9}".format(*header))
    for speed in (1, 10, 50, 100, 200):
        received, dropped, sent, wall = asyncio.run(pty_run(speed, 5.0))
        print(f"  {speed:>6} {sent:>15,} {received:>14,} {dropped:>8} {received / wall:9,.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hours", type=float, default=6.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--pty", action="store_true", help="also measure the slcan pty path")
    args = parser.parse_args()
    configure_logging("bench", "warning")
    print(f"python {platform.python_version()} on {platform.machine()}, {platform.processor()}")
    model_section(args.hours, args.repeat)
    if args.pty:
        pty_section()


if __name__ == "__main__":
    main()
