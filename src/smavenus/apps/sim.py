"""``smavenus-sim``: a simulated Sunny Island cluster (and battery monitor) to run smavenus against.

    smavenus-sim --slcan-link /tmp/ttyACM-sim            the SI as a CANable on a pty
    smavenus-sim --interface socketcan --channel vcan0   the SI on a CAN interface
    smavenus-sim --scenario grid-outage --speed 20 --events events.jsonl
    smavenus-sim --slcan-link /tmp/ttyACM-sim --battery-monitor sim --control /tmp/sim.sock
    smavenus-sim ctl /tmp/sim.sock unplug                 control a running simulator
    smavenus-sim scenarios                                the example scenarios

On a pty the first line on stdout is the path to give the gateway (``[can] interface =
"slcan"``, ``channel = <path>``). SIGTERM or SIGINT stops it; the summary of what the SI did
is printed on stdout at exit. It refuses a real bus (the system D-Bus, a CAN interface that is
not virtual; see :mod:`smavenus.io.sim.real_bus`) unless ``--force-real-bus`` is given.
Exit status: 0 done, 1 crashed, 2 bad arguments or scenario, or a real bus refused.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import structlog

from smavenus import __version__
from smavenus.errors import ConfigError
from smavenus.io.files import write_atomically
from smavenus.io.sim.control import request
from smavenus.io.sim.links import PythonCanLink, SiLink, SlcanLink
from smavenus.io.sim.real_bus import can_refusal, dbus_refusal
from smavenus.io.sim.runner import SimRunner
from smavenus.log import configure_logging
from smavenus.runtime import EXIT_CONFIG, EXIT_OK, run_service
from smavenus.sim import Simulation, load_scenario
from smavenus.sim.faults import SERVICE_STATES
from smavenus.sim.scenario import Scenario, packaged_scenarios

PROG = "smavenus-sim"
log = structlog.get_logger("smavenus.sim")

#: ``smavenus-sim ctl SOCKET <shortcut>`` → the control request it sends.
SHORTCUTS: dict[str, dict[str, Any]] = {
    "status": {"cmd": "status"},
    "summary": {"cmd": "summary"},
    "events": {"cmd": "events"},
    "bms-gap": {"cmd": "bms_gap"},
    **{
        name: {"cmd": "apply", "event": event}
        for name, event in {
            "unplug": {"action": "adapter", "state": "unplug"},
            "plug": {"action": "adapter", "state": "plug"},
            **{
                f"{target}-{state.replace('_', '-')}": {"action": target, "state": state}
                for target in ("monitor", "bms")
                for state in (*(s for s in SERVICE_STATES if s != "normal"), "restore")
            },
            "system-no-battery": {"action": "system", "state": "no_battery"},
            "system-vanish": {"action": "system", "state": "vanish"},
            "system-normal": {"action": "system", "state": "normal"},
            "bms-silence": {"action": "bms_silence", "enabled": True},
            "bms-listen": {"action": "bms_silence", "enabled": False},
            "start": {"action": "button", "press": "start"},
            "stop": {"action": "button", "press": "stop"},
            "dvcc-on": {"action": "dvcc", "enabled": True, "stalled": False},
            "dvcc-off": {"action": "dvcc", "enabled": False},
            "dvcc-stall": {"action": "dvcc", "stalled": True},
            "dvcc-resume": {"action": "dvcc", "stalled": False},
        }.items()
    },
}


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG,
        description="A simulated SMA Sunny Island cluster, battery and battery monitor.",
        epilog="Also: 'smavenus-sim ctl SOCKET COMMAND|JSON' and 'smavenus-sim scenarios'.",
    )
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    p.add_argument("--scenario", help="scenario TOML file, or the name of a packaged example")
    p.add_argument("--seed", type=int, help="random seed (default: the scenario's)")
    p.add_argument("--speed", type=float, default=1.0, help="simulated seconds per real second")
    p.add_argument("--duration", type=float, help="stop after this many simulated seconds")
    bus = p.add_argument_group("where the SI is (one of)")
    bus.add_argument("--slcan-link", type=Path, help="be the USB adapter: pty + this symlink")
    bus.add_argument("--pty-file", type=Path, help="write the adapter's path to this file")
    bus.add_argument("--interface", help="python-can interface: virtual, socketcan, …")
    bus.add_argument("--channel", default="vcan0", help="python-can channel (default vcan0)")
    p.add_argument(
        "--start-on-open",
        action="store_true",
        help="start simulated time when the host opens the adapter (repeatable runs)",
    )
    p.add_argument("--events", type=Path, help="write every SI event here as JSON lines")
    p.add_argument(
        "--bms-frames", type=Path, help="write each BMS frame's arrival (t_s, can_id) here"
    )
    p.add_argument(
        "--battery-monitor", metavar="NAME", help="publish com.victronenergy.battery.NAME"
    )
    p.add_argument("--no-systemcalc", action="store_true", help="without com.victronenergy.system")
    p.add_argument("--control", type=Path, metavar="SOCKET", help="Unix control socket")
    p.add_argument(
        "--force-real-bus",
        action="store_true",
        help="run even on the real system D-Bus or a CAN interface that is not virtual "
        "(logged as a warning)",
    )
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    p.add_argument("--log-format", default="auto", choices=["auto", "console", "plain", "json"])
    return p


def _link(args: argparse.Namespace) -> SiLink:
    if args.interface and (args.slcan_link or args.pty_file):
        raise ConfigError(["--interface and --slcan-link/--pty-file are exclusive"])
    if args.interface:
        return PythonCanLink(args.interface, args.channel)
    return SlcanLink(args.slcan_link)


def _real_bus_refusals(args: argparse.Namespace) -> dict[str, str]:
    """``{"dbus" | "can": reason}`` for each real bus these arguments would reach."""
    refusals: dict[str, str] = {}
    if args.battery_monitor is not None:  # only the battery monitor publishes on D-Bus
        dbus_reason = dbus_refusal(os.environ)
        if dbus_reason is not None:
            refusals["dbus"] = dbus_reason
    if args.interface:  # the pty link (--slcan-link) is the adapter itself: always private
        can_reason = can_refusal(args.interface, args.channel)
        if can_reason is not None:
            refusals["can"] = can_reason
    return refusals


def _say(*lines: str, err: bool = False) -> None:
    """The CLI's own output (the path, the summary, replies); logs go through structlog."""
    stream = sys.stderr if err else sys.stdout
    for line in lines:
        print(line, file=stream, flush=True)


def _print_summary(summary: dict[str, Any]) -> None:
    gap = summary["longest_bms_gap_s"]
    _say(
        f"{PROG}: {summary['sim_time_s']} s simulated, scenario {summary['scenario']!r}, "
        f"seed {summary['seed']}",
        *(
            f"  {name:<24} {count:>5}   first at {summary['first_at_s'].get(name)} s"
            for name, count in summary["events"].items()
        ),
        f"  BMS frames received: {summary['bms_frames_received']}, "
        f"longest gap: {'-' if gap is None else f'{gap} s'}",
        *(
            [f"  DVCC writes: {dvcc['writes']}, failures: {dvcc['failures']}"]
            if (dvcc := summary.get("dvcc"))
            else []
        ),
        f"  final: {json.dumps(summary['final'])}",
    )


async def _serve(args: argparse.Namespace, scenario: Scenario, stop: asyncio.Event) -> int:
    link = _link(args)
    runner = SimRunner(
        Simulation(scenario, seed=args.seed),
        link,
        speed=args.speed,
        start_on_open=args.start_on_open,
        events_file=args.events,
        bms_frames_file=args.bms_frames,
        battery_monitor=args.battery_monitor,
        systemcalc=not args.no_systemcalc,
        control_path=args.control,
    )
    try:
        await runner.start()
        if isinstance(link, SlcanLink):
            _say(link.path)
            if args.pty_file:
                write_atomically(args.pty_file, (link.path + "\n").encode())
        stopped = asyncio.ensure_future(stop.wait())
        finished = asyncio.ensure_future(runner.finished.wait())
        await asyncio.wait({stopped, finished}, return_when=asyncio.FIRST_COMPLETED)
        for waiter in (stopped, finished):
            waiter.cancel()
    finally:
        await runner.stop()
        if args.pty_file:
            with contextlib.suppress(FileNotFoundError):
                args.pty_file.unlink()
    _print_summary(runner.sim.summary())
    return EXIT_OK


def _control(argv: Sequence[str]) -> int:
    if len(argv) != 2:
        _say(f"usage: {PROG} ctl SOCKET COMMAND|JSON  ({', '.join(SHORTCUTS)})", err=True)
        return EXIT_CONFIG
    socket_path, command = argv
    if command.lstrip().startswith("{"):
        body = json.loads(command)
    elif command in SHORTCUTS:
        body = SHORTCUTS[command]
    else:
        _say(f"{PROG}: unknown command {command!r}", err=True)
        return EXIT_CONFIG
    try:
        reply = request(socket_path, body)
    except OSError as exc:
        _say(f"{PROG}: {socket_path}: {exc}", err=True)
        return EXIT_CONFIG
    _say(json.dumps(reply, indent=2))
    return EXIT_OK if reply.get("ok") else EXIT_CONFIG


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["ctl"]:
        return _control(argv[1:])
    if argv[:1] == ["scenarios"]:
        for name, path in sorted(packaged_scenarios().items()):
            _say(f"{name:<24} {load_scenario(path).description}")
        return EXIT_OK
    args = _parser().parse_args(argv)
    configure_logging(PROG, args.log_level, args.log_format)
    try:
        scenario = load_scenario(args.scenario)
        if args.duration is not None:
            scenario = scenario.model_copy(update={"duration_s": args.duration})
        if not args.speed > 0:
            raise ConfigError([f"--speed: must be positive, not {args.speed}"])
        _link(args)
    except ConfigError as exc:
        for problem in exc.problems:
            _say(f"{PROG}: {problem}", err=True)
        return EXIT_CONFIG
    refusals = _real_bus_refusals(args)
    if refusals and not args.force_real_bus:
        reasons = "; ".join(refusals.values())
        _say(f"{PROG}: refusing a real bus: {reasons} (--force-real-bus overrides)", err=True)
        return EXIT_CONFIG
    for bus, reason in refusals.items():
        log.warning("real_bus_forced", bus=bus, reason=reason)
    return run_service(lambda stop: _serve(args, scenario, stop), process=PROG)


if __name__ == "__main__":
    sys.exit(main())
