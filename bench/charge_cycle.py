"""A charge cycle, run for real, plotted: voltage, current, SoC and charge state over time.

    .venv/bin/python bench/charge_cycle.py                       # real time, about 25 minutes
    .venv/bin/python bench/charge_cycle.py --speed 10 --out /tmp/quick.png   # a quick look

Starts a private dbus-daemon, the localsettings stand-in, ``smavenus-sim`` (SI on an slcan
pty, a 100 Ah LiFePO4 bank, a simulated SmartShunt and systemcalc), ``smavenus-can-gateway``
and ``smavenus-bms-controller``, lets the controller charge the bank on the grid from
``--soc`` to float, keeps going ``--float-minutes``, and writes a PNG (default
``docs/img/charge-cycle.png``) and a JSON summary next to it.

Time: the simulator can run faster than real time, the controller cannot (its timers and its
regulator's time constants are real seconds); at ``--speed N`` every configured time is
divided by N, but the regulator's approach to the absorption voltage is then N times slower
in simulated time than it would be. The published plot runs at ``--speed 1``.

The simulated SI also regulates toward the charge voltage it is sent (SMA-TI's reading), so
the plot shows the whole system, not the controller's regulator alone: see
``tests/unit/controller/test_closed_loop.py`` for that.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from dbus_fast import Message, MessageType

from smavenus.io.dbus import call, connect_system_bus
from smavenus.io.dbus.busitem import BUSITEM, from_variant
from smavenus.io.sim.control import request
from smavenus.ipc import names
from smavenus.ipc.messages import ControllerStatus
from smavenus.testing.dbus_daemon import PrivateDbusDaemon
from smavenus.testing.localsettings import LocalSettingsStandIn

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parents[1]
DBUS = ("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus")
MONITOR = "com.victronenergy.battery.shunt"
STATES = {"bulk": 1, "absorption": 2, "float": 3}


def scenario(soc: float, capacity: float) -> str:
    return f"""
name = "charge-cycle"
seed = 5
[grid]
request = "always"
valid_time_s = 10.0
[battery]
capacity_ah = {capacity!r}
soc_pct = {soc!r}
internal_resistance_ohm = 0.008
cell_spread_pct = 0.0
temperature_c = 20.0
ambient_c = 20.0
[loads]
power_w = [400.0]
[monitor]
period_s = 1.0
"""


def config(
    path: Path, link: Path, state_dir: Path, speed: float, capacity: float, bulk: float
) -> Path:
    s = 1.0 / speed
    text = f"""
[can]
interface = "slcan"
channel = "{link}"
bms_period_s = {max(0.2, 1.0 * s)!r}
[battery]
capacity_ah = {capacity!r}
max_charge_current_a = {bulk!r}
[controller]
bulk_current_a = {bulk!r}
tail_current_a = {round(capacity * 0.05, 2)!r}
degraded_charge_current_a = {round(bulk / 5, 1)!r}
period_s = {max(0.2, 1.0 * s)!r}
tail_current_hold_s = {60.0 * s!r}
rebulk_delay_s = {60.0 * s!r}
alarm_delay_s = {10.0 * s!r}
limit_ramp_up_s = {10.0 * s!r}
input_max_age_s = {max(1.0, 10.0 * s)!r}
[paths]
state_dir = "{state_dir}"
[logging]
format = "plain"
"""
    path.write_text(text)
    return path


class Recorder:
    def __init__(self) -> None:
        self.status: ControllerStatus | None = None
        self.monitor_v: list[float] = []

    def on(self, msg: Message) -> None:
        if msg.message_type is not MessageType.SIGNAL:
            return
        if msg.interface == names.CONTROLLER_INTERFACE and msg.member == names.STATUS_SIGNAL:
            self.status = ControllerStatus.model_validate_json(msg.body[0])
        elif msg.member == "ItemsChanged" and msg.interface == BUSITEM and msg.path == "/":
            entry = msg.body[0].get("/Dc/0/Voltage")
            if entry is not None and (volts := from_variant(entry["Value"])) is not None:
                self.monitor_v.append(float(volts))


async def run(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    link, control = work / "ttyACM-sim", work / "sim.sock"
    (work / "scenario.toml").write_text(scenario(args.soc, args.capacity))
    cfg = config(work / "smavenus.toml", link, work, args.speed, args.capacity, args.bulk)
    bus = await connect_system_bus()
    await LocalSettingsStandIn(await connect_system_bus()).start()
    recorder = Recorder()
    bus.add_message_handler(recorder.on)
    for rule in (
        f"type='signal',interface='{names.CONTROLLER_INTERFACE}',member='{names.STATUS_SIGNAL}'",
        f"type='signal',sender='{MONITOR}',interface='{BUSITEM}',member='ItemsChanged'",
    ):
        await call(bus, *DBUS, "AddMatch", signature="s", body=[rule])
    procs: list[subprocess.Popen[bytes]] = []

    def start(name: str, *argv: str) -> None:
        log = (work / f"{name}.log").open("ab")
        procs.append(
            subprocess.Popen(
                [str(BIN / name), *argv],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=os.environ.copy(),
            )
        )

    rows: list[dict[str, Any]] = []
    try:
        start("smavenus-sim", "--scenario", str(work / "scenario.toml"), "--slcan-link", str(link),
              "--control", str(control), "--speed", str(args.speed), "--battery-monitor", "shunt",
              "--log-format", "plain")  # fmt: skip
        while not link.exists():  # noqa: ASYNC110 - a file appearing has no event to wait on
            await asyncio.sleep(0.05)
        start("smavenus-can-gateway", "--config", str(cfg))
        start("smavenus-bms-controller", "--config", str(cfg))
        float_since: float | None = None
        started = time.monotonic()
        while True:
            await asyncio.sleep(0.25)
            truth = request(control, {"cmd": "status"})
            st = recorder.status
            if st is None:
                continue
            rows.append(
                {
                    "t_min": truth["sim_time_s"] / 60.0,
                    "voltage_v": truth["battery_voltage_v"],
                    "current_a": truth["battery_current_a"],
                    "true_soc_pct": truth["true_soc_pct"],
                    "reported_soc_pct": st.soc_pct,
                    "cvl_v": st.limits.charge_voltage_v.value,
                    "ccl_a": st.limits.charge_current_a.value,
                    "state": st.charge_state,
                    "reason": st.charge_state_reason,
                }
            )
            if st.charge_state == "float" and float_since is None:
                float_since = truth["sim_time_s"]
            if (
                float_since is not None
                and truth["sim_time_s"] - float_since >= args.float_minutes * 60
            ):
                break
            if time.monotonic() - started > args.timeout_minutes * 60:
                raise SystemExit("no float before --timeout-minutes: see the logs in " + str(work))
        final = request(control, {"cmd": "status"})
    finally:
        for proc in reversed(procs):
            proc.terminate()
            proc.wait(10)
    absorption_v = 56.0
    states = [(r["t_min"], r["state"], r["reason"]) for r in rows]
    changes = [s for i, s in enumerate(states) if i == 0 or s[1] != states[i - 1][1]]
    return {
        "rows": rows,
        "summary": {
            "speed": args.speed,
            "capacity_ah": args.capacity,
            "bulk_current_a": args.bulk,
            "start_soc_pct": args.soc,
            "state_changes": [
                {"t_min": round(t, 2), "state": s, "reason": r} for t, s, r in changes
            ],
            "max_true_voltage_v": max(r["voltage_v"] for r in rows),
            "overshoot_above_absorption_v": round(
                max(r["voltage_v"] for r in rows) - absorption_v, 3
            ),
            # the simulated shunt adds Gaussian noise (sigma 20 mV) to what it publishes
            "max_monitor_reading_v": max(recorder.monitor_v),
            "monitor_samples": len(recorder.monitor_v),
            "f952": final["f952"],
            "si_alarms": final["alarms"],
        },
    }


def plot(rows: list[dict[str, Any]], out: Path, title: str) -> None:
    import matplotlib  # noqa: PLC0415 - the bench extra; only needed for the picture

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    t = [r["t_min"] for r in rows]
    fig, axes = plt.subplots(4, 1, sharex=True, figsize=(9, 9), height_ratios=[3, 3, 2, 1])
    v, i, soc, state = axes
    v.plot(t, [r["voltage_v"] for r in rows], label="battery voltage")
    v.step(
        t,
        [r["cvl_v"] for r in rows],
        where="post",
        linestyle="--",
        label="charge voltage sent (CVL)",
    )
    v.axhline(56.0, color="grey", linewidth=0.6)
    v.set_ylabel("V")
    v.legend(loc="lower right")
    i.plot(t, [r["current_a"] for r in rows], label="battery current")
    i.step(
        t,
        [r["ccl_a"] for r in rows],
        where="post",
        linestyle="--",
        label="charge current limit sent (CCL)",
    )
    i.set_ylabel("A")
    i.legend(loc="upper right")
    soc.plot(t, [r["true_soc_pct"] for r in rows], label="true SoC (simulator)")
    soc.plot(t, [r["reported_soc_pct"] for r in rows], linestyle="--", label="SoC sent")
    soc.set_ylabel("%")
    soc.legend(loc="lower right")
    state.step(t, [STATES[r["state"]] for r in rows], where="post")
    state.set_yticks(list(STATES.values()), list(STATES))
    state.set_xlabel("simulated minutes")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(out, dpi=90)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--speed", type=float, default=1.0)
    parser.add_argument("--soc", type=float, default=85.0, help="start SoC, %%")
    parser.add_argument("--capacity", type=float, default=100.0, help="Ah")
    parser.add_argument("--bulk", type=float, default=50.0, help="bulk current, A")
    parser.add_argument("--float-minutes", type=float, default=3.0)
    parser.add_argument("--timeout-minutes", type=float, default=90.0)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img" / "charge-cycle.png")
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="smavenus-charge-") as tmp,
        PrivateDbusDaemon() as daemon,
    ):
        os.environ["DBUS_SYSTEM_BUS_ADDRESS"] = daemon.address
        result = asyncio.run(run(args, Path(tmp)))
    title = (
        f"{args.capacity:.0f} Ah LiFePO4, {args.bulk:.0f} A bulk, from {args.soc:.0f} % "
        f"(smavenus-sim at {args.speed:g}× real time)"
    )
    plot(result["rows"], args.out, title)
    summary_path = args.out.with_suffix(".json")
    summary_path.write_text(json.dumps(result["summary"], indent=1) + "\n")
    print(json.dumps(result["summary"], indent=1))
    print(f"wrote {args.out} and {summary_path}")


if __name__ == "__main__":
    main()
