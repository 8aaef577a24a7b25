"""The gateway's CAN link against a real kernel: interfaces going down, away, and coming back.

Marked ``kernel_can`` (in the qemu guest where the host has no CAN). The installed
``smavenus-can-gateway`` runs as a process, at debug level so that every refused re-open is a
line to wait on (``can_bus_reopen_failed``); :class:`Wire` is the SI on vcan0.

What only a kernel shows: a socket bound to a downed interface, and the broadcast manager's
jobs on it, fail silently, so without the rtnetlink check before each open the gateway would
"recover" onto an interface that carries nothing. Each test first proves that the gateway had
the chance to do so (a refused re-open) before it lets the interface come back.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from smavenus.testing.waiting import eventually

from .gateway_harness import GatewayProcess
from .kernel_can import GUEST_SLOW_S, Wire, ip, is_up, start_gateway

pytestmark = [pytest.mark.kernel_can, pytest.mark.usefixtures("vcan0_restored")]

#: ``[gateway] reopen_backoff_max_s`` in these tests (kernel_can.socketcan_config).
BACKOFF_MAX_S = 0.5


def refused(gateway: GatewayProcess, reason: str) -> bool:
    return any(reason in line for line in gateway.events("can_bus_reopen_failed"))


def retried_in_time(gateway: GatewayProcess) -> bool:
    """Every refused re-open was retried within the backoff maximum, on the gateway's clock:
    so the SI's gap ends that soon after the interface comes back (plus the open, at most
    OPEN_TIMEOUT_S; how soon in fact is for bench/, not for a guest on a loaded host)."""
    retries = [
        float(line.split(" retry_in_s=")[1].split()[0])
        for line in gateway.events("can_bus_reopen_failed")
    ]
    return bool(retries) and max(retries) <= BACKOFF_MAX_S


async def frames_after(wire: Wire, t: float, gateway: GatewayProcess) -> float:
    """The kernel timestamp of the first 0x351 at or after ``t``."""
    frames = await eventually(
        lambda: wire.of(0x351, t), GUEST_SLOW_S, "BMS frames on vcan0", gateway.log_text
    )
    return frames[0].at


async def test_interface_down_and_up_the_gateway_reopens_once_it_is_up_again(
    tmp_path: Path, wire: Wire
) -> None:
    gateway = await start_gateway(tmp_path)
    logs = gateway.log_text
    try:
        await frames_after(wire, 0.0, gateway)
        await ip("link", "set", "vcan0", "down")
        await eventually(lambda: gateway.events("can_bus_lost"), GUEST_SLOW_S, "the loss", logs)
        await eventually(
            lambda: refused(gateway, "vcan0 is down"), GUEST_SLOW_S, "a refused re-open", logs
        )
        assert gateway.events("can_bus_recovered") == [], logs()
        await ip("link", "set", "vcan0", "up")
        await frames_after(wire, time.time(), gateway)
        # A re-open is tried at least every backoff maximum: the SI's gap ends that soon
        # after the interface comes back.
        assert retried_in_time(gateway), logs()
        await eventually(lambda: gateway.events("can_bus_recovered"), GUEST_SLOW_S, "recovered")
        assert len(gateway.events("can_bus_lost")) == 1, logs()
    finally:
        assert await gateway.stop(30.0) == 0
    gateway.assert_clean_log("can_bus_lost")


async def test_interface_deleted_and_recreated_like_an_adapter_unplugged_and_replugged(
    tmp_path: Path, wire: Wire
) -> None:
    gateway = await start_gateway(tmp_path)
    logs = gateway.log_text
    try:
        await frames_after(wire, 0.0, gateway)
        await ip("link", "del", "vcan0")
        await eventually(lambda: gateway.events("can_bus_lost"), GUEST_SLOW_S, "the loss", logs)
        await eventually(
            lambda: refused(gateway, "No such device"), GUEST_SLOW_S, "a refused re-open", logs
        )
        await ip("link", "add", "dev", "vcan0", "type", "vcan")
        # Back, but down (udev has not configured it yet): still no re-open.
        await eventually(
            lambda: refused(gateway, "vcan0 is down"), GUEST_SLOW_S, "a refused re-open", logs
        )
        assert gateway.events("can_bus_recovered") == [], logs()
        await ip("link", "set", "vcan0", "up")
        await frames_after(wire, time.time(), gateway)
        assert retried_in_time(gateway), logs()
        await eventually(lambda: gateway.events("can_bus_recovered"), GUEST_SLOW_S, "recovered")
    finally:
        assert await gateway.stop(30.0) == 0
    gateway.assert_clean_log("can_bus_lost")


async def test_a_gateway_started_on_a_downed_interface_says_why_and_waits_for_it(
    tmp_path: Path, wire: Wire
) -> None:
    await ip("link", "set", "vcan0", "down")
    gateway = await start_gateway(tmp_path)
    logs = gateway.log_text
    try:
        (line,) = await eventually(
            lambda: gateway.events("can_bus_open_failed"), GUEST_SLOW_S, "the open refused", logs
        )
        assert "vcan0 is down" in line
        await eventually(
            lambda: refused(gateway, "vcan0 is down"), GUEST_SLOW_S, "a refused re-open", logs
        )
        assert gateway.events("can_bus_opened") == [], logs()
        await ip("link", "set", "vcan0", "up")
        await frames_after(wire, time.time(), gateway)
        await eventually(lambda: gateway.events("can_bus_opened"), GUEST_SLOW_S, "opened", logs)
    finally:
        assert await gateway.stop(30.0) == 0
    gateway.assert_clean_log()


async def test_with_manage_interface_the_gateway_brings_a_downed_vcan0_up_itself(
    tmp_path: Path, wire: Wire
) -> None:
    await ip("link", "set", "vcan0", "down")
    gateway = await start_gateway(tmp_path, can={"manage_interface": True})
    logs = gateway.log_text

    def configured() -> list[str]:
        return gateway.events("can_interface_configured")

    try:
        await frames_after(wire, 0.0, gateway)
        (line,) = configured()
        assert 'found="vcan0 is down"' in line and "up" in line, logs()
        assert is_up("vcan0")
        assert gateway.events("can_bus_open_failed") == [], logs()
        # Taken down while it runs: the loss is noticed, and the re-open brings it up again.
        await ip("link", "set", "vcan0", "down")
        await eventually(lambda: len(configured()) == 2, GUEST_SLOW_S, "brought up again", logs)
        await frames_after(wire, time.time(), gateway)
        assert is_up("vcan0")
        await eventually(lambda: gateway.events("can_bus_recovered"), GUEST_SLOW_S, "recovered")
    finally:
        assert await gateway.stop(30.0) == 0
    gateway.assert_clean_log("can_bus_lost")
