"""The whole smavenus system in miniature, under real daemontools supervision.

    with Stack(workdir) as stack:             # private bus, localsettings, simulated SI on a
        stack.wait_until_running()            # pty, the four services under svscan
        stack.kill("smavenus-can-gateway")    # kill -9; supervise restarts it
        stack.sim.bms_arrivals()              # what the simulated SI heard, and when

With ``Stack(workdir, can=("socketcan", "vcan0"))`` the simulated SI and the gateway share a
kernel CAN interface instead, as on a GX (the kernel CAN end-to-end test; the docker-compose
bench runs the same way).

Used by ``smavenus-bench`` (the README's first command) and by the supervision test. The
services run from copies of the repository's ``services/*/run`` scripts, so what is tested
is what a GX runs; only the environment differs (``services/env`` takes its values from the
supervisor's environment): the configuration, the virtual environment's ``bin``, the log
directory and ``DBUS_SYSTEM_BUS_ADDRESS`` of the private bus.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

from smavenus.config import toml_document
from smavenus.testing.dbus_daemon import PrivateDbusDaemon
from smavenus.testing.sim import SimProcess

#: The three services that keep the SI running; smavenus-web is optional on a GX.
CORE_SERVICES = (
    "smavenus-can-gateway",
    "smavenus-bms-controller",
    "smavenus-vebus-publisher",
)
SERVICES = (*CORE_SERVICES, "smavenus-web")
_SVSTAT_UP = re.compile(r": up \(pid (\d+)\) (\d+) seconds")


def repository_services() -> Path:
    """``services/`` of the checkout smavenus runs from (the bench runs from a checkout)."""
    import smavenus  # noqa: PLC0415 - only to locate the package

    candidate = Path(smavenus.__file__).resolve().parents[2] / "services"
    if not (candidate / "env").is_file():
        raise RuntimeError(f"no services/ directory next to the package ({candidate})")
    return candidate


def free_port() -> int:
    """A TCP port free on loopback now (the kernel's choice)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _require(command: str, package: str) -> str:
    found = shutil.which(command)
    if found is None:
        raise RuntimeError(f"{command} is not installed (Debian package: {package})")
    return found


class Stack:
    """Start with ``with Stack(workdir):``; everything is stopped in reverse order on exit."""

    def __init__(
        self,
        workdir: Path,
        *,
        speed: float = 1.0,
        scenario: str | None = None,
        seed: int | None = None,
        config_extra: str = "",
        can: tuple[str, str] | None = None,
        bin_dir: Path | None = None,
        web: dict[str, object] | None = None,
    ) -> None:
        self.workdir = workdir
        #: Where the run scripts find the console scripts (a test may put stand-ins there).
        self.bin_dir = bin_dir or Path(sys.executable).parent
        self.config_path = workdir / "smavenus.toml"
        self.service_dir = workdir / "service"
        self.log_dir = workdir / "log"
        self.state_dir = workdir / "state"
        self.dbus = PrivateDbusDaemon(workdir / "dbus")
        self.env = dict(os.environ)
        self.sim = SimProcess(
            workdir,
            speed=speed,
            scenario=scenario,
            seed=seed,
            battery_monitor="sim",
            env=self.env,
            can=can,
        )
        #: None: the simulated SI is an slcan adapter on a pty; else (interface, channel) of
        #: the CAN bus it and the gateway share (``("socketcan", "vcan0")``: the GX's way).
        self.can = can
        self._config_extra = config_extra
        #: smavenus-web listens on a free loopback port (``web_url``); ``web`` adds [web] keys.
        self.web_port = free_port()
        self._web = web or {}
        self._localsettings: subprocess.Popen[bytes] | None = None
        self._svscan: subprocess.Popen[bytes] | None = None

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> Stack:
        for command, package in (("svscan", "daemontools"), ("dbus-daemon", "dbus")):
            _require(command, package)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.env["DBUS_SYSTEM_BUS_ADDRESS"] = self.dbus.start()
        self._start_localsettings()
        self.sim.start()
        self._write_config()
        self._prepare_services()
        self._svscan = subprocess.Popen(
            [_require("svscan", "daemontools"), str(self.service_dir)],
            env={
                **self.env,
                "SMAVENUS_CONFIG": str(self.config_path),
                "SMAVENUS_BIN": str(self.bin_dir),
                "SMAVENUS_LOG_DIR": str(self.log_dir),
            },
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        return self

    def _start_localsettings(self) -> None:
        with (self.workdir / "localsettings.log").open("a") as log:  # the child keeps its copy
            self._localsettings = subprocess.Popen(
                [sys.executable, "-m", "smavenus.testing.localsettings",
                 "--state", str(self.workdir / "settings.json")],
                env=self.env, stdout=subprocess.DEVNULL, stderr=log,
            )  # fmt: skip

    def _stop_localsettings(self) -> None:
        if self._localsettings is not None:
            self._localsettings.terminate()
            self._localsettings.wait(timeout=10)
            self._localsettings = None

    def restart_dbus(self) -> None:
        """Restart the system bus as a GX's would go: every connection ends, the address
        stays. localsettings is restarted after it (on a GX its supervisor does that); the
        services and the simulator must cope on their own."""
        self._stop_localsettings()
        address = self.dbus.restart()
        assert address.split(",")[0] == self.env["DBUS_SYSTEM_BUS_ADDRESS"].split(",")[0]
        self._start_localsettings()

    def stop(self) -> None:
        """Services down (each gets SIGTERM and writes its state), then the rest."""
        if self._svscan is not None:
            dirs = [str(self.service_dir / n) for n in SERVICES]
            dirs += [f"{d}/log" for d in dirs]
            subprocess.run(["svc", "-dx", *dirs], check=False, capture_output=True)
            self._wait_all_down(timeout_s=15)
            os.killpg(self._svscan.pid, signal.SIGTERM)
            self._svscan.wait(timeout=10)
            self._svscan = None
        self.sim.stop()
        self._stop_localsettings()
        self.dbus.stop()

    def __enter__(self) -> Stack:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def web_url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    # -- supervision ----------------------------------------------------------------------------

    def pid(self, service: str) -> int | None:
        """The running process of a service, or None while it is down or restarting."""
        result = subprocess.run(
            ["svstat", str(self.service_dir / service)], capture_output=True, text=True, check=False
        )
        match = _SVSTAT_UP.search(result.stdout)
        return int(match.group(1)) if match else None

    def kill(self, service: str) -> int:
        """kill -9 a service's process (as a crash would); returns the killed pid."""
        pid = self.pid(service)
        if pid is None:
            raise RuntimeError(f"{service} is not running")
        os.kill(pid, signal.SIGKILL)
        return pid

    def wait_until_running(self, timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        while any(self.pid(s) is None for s in SERVICES):
            if time.monotonic() > deadline:
                raise TimeoutError(f"services not up: {self.describe()}")
            time.sleep(0.1)

    def wait_restarted(self, service: str, old_pid: int, timeout_s: float = 30.0) -> int:
        deadline = time.monotonic() + timeout_s
        while True:
            pid = self.pid(service)
            if pid is not None and pid != old_pid:
                return pid
            if time.monotonic() > deadline:
                raise TimeoutError(f"{service} was not restarted: {self.describe()}")
            time.sleep(0.05)

    def describe(self) -> str:
        result = subprocess.run(
            ["svstat", *(str(self.service_dir / s) for s in SERVICES)],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        return result.stdout.strip()

    def log_tail(self, service: str, lines: int = 20) -> str:
        current = self.log_dir / service / "current"
        if not current.exists():
            return ""
        return "\n".join(current.read_text(errors="replace").splitlines()[-lines:])

    # -- set-up --------------------------------------------------------------------------------

    def _write_config(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        interface = "slcan" if self.can is None else self.can[0]
        sections: dict[str, dict[str, object]] = {
            "can": {"interface": interface, "channel": self.sim.path},
            "paths": {"state_dir": str(self.state_dir)},
            "logging": {"format": "plain"},
            "web": {"listen": f"127.0.0.1:{self.web_port}", **self._web},
        }
        self.config_path.write_text(toml_document(sections) + self._config_extra)

    def _prepare_services(self) -> None:
        source = repository_services()
        self.service_dir.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source / "env", self.service_dir / "env")
        for name in SERVICES:
            target = self.service_dir / name
            if target.exists():
                shutil.rmtree(target)
            shutil.copytree(source / name, target, ignore=shutil.ignore_patterns("supervise"))

    def _wait_all_down(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while any(self.pid(s) is not None for s in SERVICES) and time.monotonic() < deadline:
            time.sleep(0.1)
