"""``smavenus-sim`` in a subprocess, the way a gateway test (or the bench) uses it.

    with SimProcess(tmp_path, speed=20, scenario="bms-silence") as sim:
        bus = can.Bus(interface="slcan", channel=sim.path, bitrate=500000, sleep_after_open=0)
        ...
        event = sim.wait_for_event("f952_raised")      # {"t_s": 61.3, "event": ..., ...}
        sim.apply("adapter", state="unplug")            # pull the USB cable
        sim.status()["longest_bms_gap_s"]
    sim.summary_text                                     # what it printed at exit

The simulator plays the USB adapter on a pty behind the stable link ``sim.path`` or, with
``can=("socketcan", "vcan0")``, sits on that python-can interface (``sim.path`` is then the
channel). Its events go to ``sim.events_path`` (JSON lines), the arrival time of every BMS
frame to ``sim.bms_frames_path`` (:meth:`SimProcess.bms_arrivals`, readable after exit too),
its logs to ``sim.log_path``, and its control socket is ``sim.control_path`` (see
``smavenus.sim.control`` for the requests).
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from smavenus.io.sim.control import request


def sim_command() -> list[str]:
    """The ``smavenus-sim`` console script next to this interpreter (the development
    distribution ``tools/dev`` installs it), else ``python -m smavenus.apps.sim``."""
    script = shutil.which("smavenus-sim", path=str(Path(sys.executable).parent))
    return [script] if script else [sys.executable, "-m", "smavenus.apps.sim"]


class SimProcess:
    def __init__(
        self,
        workdir: Path,
        *extra_args: str,
        speed: float = 1.0,
        scenario: str | Path | None = None,
        seed: int | None = None,
        battery_monitor: str | None = None,
        start_on_open: bool = False,
        env: dict[str, str] | None = None,
        can: tuple[str, str] | None = None,
    ) -> None:
        self.workdir = workdir
        self.link_path = workdir / "ttyACM-sim"
        self.control_path = workdir / "sim.sock"
        self.events_path = workdir / "sim-events.jsonl"
        self.bms_frames_path = workdir / "sim-bms-frames.jsonl"
        self.log_path = workdir / "sim.log"
        #: (interface, channel) of a python-can bus to sit on instead of the pty.
        self.can = can
        where = ["--slcan-link", str(self.link_path)]
        if can is not None:
            where = ["--interface", can[0], "--channel", can[1]]
        args = [
            *where,
            "--control",
            str(self.control_path),
            "--events",
            str(self.events_path),
            "--bms-frames",
            str(self.bms_frames_path),
            "--speed",
            str(speed),
            "--log-format",
            "plain",
        ]
        if scenario is not None:
            args += ["--scenario", str(scenario)]
        if seed is not None:
            args += ["--seed", str(seed)]
        if battery_monitor is not None:
            args += ["--battery-monitor", battery_monitor]
        if start_on_open:
            args.append("--start-on-open")
        self.argv = [*sim_command(), *args, *extra_args]
        self.env = env
        self.process: subprocess.Popen[str] | None = None
        self.path = ""
        self.summary_text = ""
        self.returncode: int | None = None
        self._log: IO[str] | None = None

    def start(self, timeout_s: float = 60.0) -> SimProcess:
        self._log = self.log_path.open("w")
        self.process = subprocess.Popen(
            self.argv, stdout=subprocess.PIPE, stderr=self._log, text=True, env=self.env
        )
        assert self.process.stdout is not None
        if self.can is not None:
            # On a CAN interface it prints nothing until it exits: it is up once its control
            # socket answers.
            self.path = self.can[1]
            self._wait_for_control(timeout_s)
            return self
        self.path = self.process.stdout.readline().strip()
        if not self.path:
            self.stop()
            raise RuntimeError(f"smavenus-sim did not start: {self.log_path.read_text()}")
        return self

    def _wait_for_control(self, timeout_s: float) -> None:
        assert self.process is not None
        deadline = time.monotonic() + timeout_s
        while self.process.poll() is None and time.monotonic() < deadline:
            try:
                request(self.control_path, {"cmd": "status"})
            except OSError:  # not listening yet
                time.sleep(0.05)
                continue
            return
        self.stop()
        raise RuntimeError(f"smavenus-sim did not start: {self.log_path.read_text()}")

    def stop(self, timeout_s: float = 10.0) -> int:
        """SIGTERM, wait, collect the summary; returns the exit status."""
        if self.process is not None and self.returncode is None:
            if self.process.poll() is None:
                self.process.send_signal(signal.SIGTERM)
            try:
                out, _ = self.process.communicate(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                out, _ = self.process.communicate()
            self.summary_text = out
            self.returncode = self.process.returncode
        if self._log is not None:
            self._log.close()
            self._log = None
        return -1 if self.returncode is None else self.returncode

    def __enter__(self) -> SimProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- control ----------------------------------------------------------------------------

    def control(self, body: dict[str, Any]) -> dict[str, Any]:
        reply = request(self.control_path, body)
        if not reply.get("ok"):
            raise RuntimeError(f"smavenus-sim refused {body}: {reply.get('error')}")
        return reply

    def apply(self, action: str, **fields: Any) -> dict[str, Any]:
        """Apply a scenario event now: ``apply("monitor", state="vanish")``."""
        return self.control({"cmd": "apply", "event": {"action": action, **fields}})

    def status(self) -> dict[str, Any]:
        return self.control({"cmd": "status"})

    def events(self) -> list[dict[str, Any]]:
        """Every event so far (from the control socket; the JSON lines file has them too)."""
        events: list[dict[str, Any]] = self.control({"cmd": "events"})["events"]
        return events

    def wait_for_event(self, name: str, timeout_s: float = 10.0) -> dict[str, Any]:
        """The first event called ``name`` (e.g. ``f952_raised``), waiting up to ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while True:
            found = [e for e in self.events() if e["event"] == name]
            if found:
                return found[0]
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {name} within {timeout_s} s")
            time.sleep(0.05)

    def bms_arrivals(self) -> list[tuple[float, int]]:
        """(simulated time, CAN ID) of every BMS frame that reached the adapter so far."""
        lines = self.bms_frames_path.read_text().splitlines()
        return [(r["t_s"], int(r["can_id"], 16)) for r in map(json.loads, lines) if r]

    def recorded_events(self) -> list[dict[str, Any]]:
        """The JSON lines file (complete, with the summary line, once stopped)."""
        return [json.loads(line) for line in self.events_path.read_text().splitlines() if line]
