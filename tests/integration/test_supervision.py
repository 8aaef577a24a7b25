"""Each process restarts alone under real daemontools without the Sunny Island noticing.

The whole system runs as a GX runs it: svscan over the repository's ``services/*/run``
scripts, a private system bus, the localsettings stand-in and the simulated SI on a pty
(speed 1, so simulated time is wall time). Every service is killed with SIGKILL again and
again; the simulator's own record of when BMS frames reached it is the judge.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import shutil
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from dbus_fast.errors import DBusError

from smavenus.io.dbus import DBUS_NAME, DBUS_PATH, call, connect_system_bus
from smavenus.ipc import names
from smavenus.ipc.messages import GatewayHealth
from smavenus.testing.stack import SERVICES, Stack

GATEWAY, CONTROLLER, PUBLISHER, WEB = SERVICES
KILLS_PER_SERVICE = 20
#: [vebus] state_save_interval_s, the default.
SAVE_INTERVAL_S = 8.0
#: Between a restarted service being up again and the next kill: the scenario's pace.
SETTLE_S = 1.5
BMS_PERIOD_S = 1.0
#: The name each service takes on D-Bus once it runs (the web page answers HTTP instead).
BUS_NAMES = {
    GATEWAY: names.GATEWAY_BUS_NAME,
    CONTROLLER: names.CONTROLLER_BUS_NAME,
    PUBLISHER: names.PUBLISHER_BUS_NAME,
}
#: Deadlines for what a loaded machine does slowly (starting Python processes).
DEADLINE_S = 60.0

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("svscan") is None, reason="daemontools is not installed"),
]


async def _energy_counters(address: str) -> dict[str, float]:
    os.environ["DBUS_SYSTEM_BUS_ADDRESS"] = address
    bus = await connect_system_bus()
    try:
        (names,) = await call(bus, DBUS_NAME, DBUS_PATH, DBUS_NAME, "ListNames")
        vebus = next(n for n in names if n.startswith("com.victronenergy.vebus."))
        (items,) = await call(bus, vebus, "/", "com.victronenergy.BusItem", "GetItems")
    finally:
        bus.disconnect()
    return {
        path: float(item["Value"].value)
        for path, item in items.items()
        if path.startswith("/Energy/") and item["Value"].signature == "d"
    }


def energy_counters(stack: Stack) -> dict[str, float]:
    return asyncio.run(_energy_counters(stack.dbus.address))


async def _owners(address: str) -> dict[str, str | None]:
    os.environ["DBUS_SYSTEM_BUS_ADDRESS"] = address
    bus = await connect_system_bus()
    found: dict[str, str | None] = {}
    try:
        for name in BUS_NAMES.values():
            try:
                (found[name],) = await call(
                    bus, DBUS_NAME, DBUS_PATH, DBUS_NAME, "GetNameOwner", signature="s",
                    body=[name],
                )  # fmt: skip
            except DBusError:  # no owner
                found[name] = None
    finally:
        bus.disconnect()
    return found


def owner(stack: Stack, service: str) -> str | None:
    """The unique name the service's process has on the bus (None: not, or not yet)."""
    if service not in BUS_NAMES:
        return None
    return asyncio.run(_owners(stack.dbus.address))[BUS_NAMES[service]]


def web_answers(stack: Stack) -> bool:
    try:
        with urllib.request.urlopen(stack.web_url + "/", timeout=10) as page:
            return bool(page.status == 200)
    except OSError:  # not listening yet
        return False


async def _gateway_health(address: str) -> GatewayHealth:
    os.environ["DBUS_SYSTEM_BUS_ADDRESS"] = address
    bus = await connect_system_bus()
    try:
        (payload,) = await call(
            bus, names.GATEWAY_BUS_NAME, names.GATEWAY_PATH, names.GATEWAY_INTERFACE,
            names.GET_HEALTH_METHOD,
        )  # fmt: skip
    finally:
        bus.disconnect()
    return GatewayHealth.model_validate_json(payload)


def wait_until(condition: Callable[[], Any], what: str, stack: Stack) -> None:
    """Poll ``condition`` until it holds; after DEADLINE_S, fail naming ``what``."""
    deadline = time.monotonic() + DEADLINE_S
    while True:
        try:
            if condition():
                return
        except (DBusError, OSError, RuntimeError):  # a part not (yet) on the bus
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}: {stack.describe()}")
        time.sleep(0.1)  # between polls


def running_again(stack: Stack, service: str, old_owner: str | None) -> bool:
    """The restarted service is back: a new owner of its name (the gateway takes its name
    after its first frame set), or, for the web page, an answer."""
    if service == WEB:
        return web_answers(stack)
    new = owner(stack, service)
    return new is not None and new != old_owner


def longest_gap(arrivals: list[float], start: float, end: float) -> float:
    window = [t for t in arrivals if start <= t <= end]
    assert len(window) >= 2, f"no BMS frames between {start} and {end}"
    return max(later - earlier for earlier, later in itertools.pairwise(window))


def test_kill_each_process_repeatedly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with Stack(tmp_path / "stack") as stack:
        stack.wait_until_running(timeout_s=DEADLINE_S)
        # Every service has published: the controller's commands reach the gateway, the
        # publisher's counters are on the bus, the page answers.
        address = stack.dbus.address
        wait_until(
            lambda: asyncio.run(_gateway_health(address)).command_source == "controller",
            "the controller in charge", stack,
        )  # fmt: skip
        wait_until(lambda: energy_counters(stack), "the vebus counters", stack)
        wait_until(lambda: web_answers(stack), "the web page", stack)
        kills: list[tuple[str, float]] = []
        energy_samples = [(stack.sim.status()["sim_time_s"], energy_counters(stack))]

        def kill_and_wait(service: str) -> None:
            before = owner(stack, service)
            killed_at = stack.sim.status()["sim_time_s"]
            stack.wait_restarted(service, stack.kill(service), timeout_s=DEADLINE_S)
            wait_until(lambda: running_again(stack, service, before), f"{service} back", stack)
            kills.append((service, killed_at))
            time.sleep(SETTLE_S)  # the pace of the kills (a scenario's, not a wait for one)

        for _ in range(KILLS_PER_SERVICE):
            for service in (CONTROLLER, PUBLISHER, GATEWAY):
                kill_and_wait(service)
            energy_samples.append((stack.sim.status()["sim_time_s"], energy_counters(stack)))
        # the dashboard on its own, after the rounds above (whose counters the energy check
        # reads): it only reads, so the SI must not notice it either
        for _ in range(KILLS_PER_SERVICE):
            kill_and_wait(WEB)
        # The last kill's window (up to SETTLE_S + 1 s after it) is in the simulator's record.
        last_end = kills[-1][1] + SETTLE_S + 1.0 + BMS_PERIOD_S
        wait_until(lambda: stack.sim.status()["sim_time_s"] > last_end, "the last window", stack)
        events = [e["event"] for e in stack.sim.events()]
        logs = {s: stack.log_tail(s) for s in SERVICES}
    # read after the simulator stopped: its record is complete (flushed) only then
    arrivals = sorted(t for t, _can_id in stack.sim.bms_arrivals())

    gaps: dict[str, list[float]] = {s: [] for s in SERVICES}
    # Each kill owns the time from one BMS period before it up to the next kill, so a slow
    # restart of the next service is never blamed on this one.
    ends = [at for _service, at in kills[1:]] + [kills[-1][1] + SETTLE_S + 1.0]
    for (service, killed_at), end in zip(kills, ends, strict=True):
        gaps[service].append(longest_gap(arrivals, killed_at - BMS_PERIOD_S, end))
    with capsys.disabled():
        for service in SERVICES:
            print(
                f"\n{service}: {len(gaps[service])} kills, longest BMS gap "
                f"{max(gaps[service]):.3f} s (BMS period {BMS_PERIOD_S} s)"
            )
    assert all(len(g) >= KILLS_PER_SERVICE for g in gaps.values())
    # The simulated SI's own clock judges: a gateway restart within the 2 s goal
    # (docs/benchmarks.md), the others not at all: a gap of two periods would be one missed.
    assert max(gaps[GATEWAY]) <= 2.0, logs[GATEWAY]
    assert max(gaps[CONTROLLER]) < 2 * BMS_PERIOD_S, logs[CONTROLLER]
    assert max(gaps[PUBLISHER]) < 2 * BMS_PERIOD_S, logs[PUBLISHER]
    # the dashboard only reads: the SI is fed whether it runs or not
    assert max(gaps[WEB]) < 2 * BMS_PERIOD_S, logs[WEB]
    assert "f952_raised" not in events and "w952_raised" not in events, events
    # A kill -9 of the publisher loses what it counted since its last save (docs/vebus.md:
    # at most [vebus] state_save_interval_s, 8 s): never more than twice that at the fastest
    # rate the counters grew between two samples (simulated time, speed 1).
    for path in energy_samples[-1][1]:
        rate = max(
            (b.get(path, 0.0) - a.get(path, 0.0)) / (tb - ta)
            for (ta, a), (tb, b) in itertools.pairwise(energy_samples)
        )
        lost_at_most = 2 * max(rate, 0.0) * SAVE_INTERVAL_S + 0.001
        for (_ta, before), (_tb, after) in itertools.pairwise(energy_samples):
            value = before.get(path, 0.0)
            assert after.get(path, value) >= value - lost_at_most, (path, value, after.get(path))
    assert any(v > 0 for v in energy_samples[-1][1].values()), energy_samples[-1]
