"""Shared fixtures: real components in miniature (a private dbus-daemon), never mocks.

Tests marked ``kernel_can`` need Linux CAN in the kernel (vcan0 and vcan1). Where they are
missing such tests are skipped, and ``scripts/test`` runs them in a qemu guest that has them
(``scripts/can-vm``) with ``SMAVENUS_KERNEL_CAN=1``. With that variable set a kernel_can test
may not skip at all: a skip there is reported as a failure, so the GX's own transport is
never left untested without anybody noticing.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Generator, Iterator
from pathlib import Path

import pytest
from dbus_fast.aio import MessageBus
from hypothesis import HealthCheck, settings

from smavenus.io.dbus import connect_system_bus
from smavenus.testing.dbus_daemon import PrivateDbusDaemon

# Hypothesis judges properties, not speed: its per-example deadline (200 ms) and its "too
# slow" health check are wall-clock bounds that a machine with both cores busy exceeds, and
# then it reports the timing as flaky. How fast the cores are is for bench/.
settings.register_profile("smavenus", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("smavenus")

#: SIGHUP and SIGTERM unwind the run as Ctrl-C does: nothing a test started is left running.
pytest_plugins = ["smavenus.testing.interrupt"]

KERNEL_CAN_INTERFACES = ("vcan0", "vcan1")
KERNEL_CAN_REQUIRED = os.environ.get("SMAVENUS_KERNEL_CAN") == "1"


def missing_can_interfaces() -> list[str]:
    return [name for name in KERNEL_CAN_INTERFACES if not Path("/sys/class/net", name).exists()]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    missing = missing_can_interfaces()
    if not missing or not any(item.get_closest_marker("kernel_can") for item in items):
        return
    if KERNEL_CAN_REQUIRED:
        raise pytest.UsageError(
            f"SMAVENUS_KERNEL_CAN=1 but {', '.join(missing)} missing: the kernel CAN tests "
            "cannot run here"
        )
    skip = pytest.mark.skip(
        reason=f"needs Linux CAN in the kernel ({', '.join(missing)} missing); "
        "scripts/test runs these in a qemu guest (scripts/can-vm)"
    )
    for item in items:
        if item.get_closest_marker("kernel_can"):
            item.add_marker(skip)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if (
        KERNEL_CAN_REQUIRED
        and report.skipped
        and not hasattr(report, "wasxfail")
        and item.get_closest_marker("kernel_can")
    ):
        report.outcome = "failed"
        report.longrepr = (
            f"a kernel_can test skipped where the kernel has CAN (SMAVENUS_KERNEL_CAN=1): "
            f"{report.longrepr}"
        )
    return report


@pytest.fixture
def dbus_daemon(monkeypatch: pytest.MonkeyPatch) -> Iterator[PrivateDbusDaemon]:
    """A private system bus for this test; ``DBUS_SYSTEM_BUS_ADDRESS`` points at it."""
    with PrivateDbusDaemon() as daemon:
        monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", daemon.address)
        yield daemon


@pytest.fixture
async def system_bus(dbus_daemon: PrivateDbusDaemon) -> AsyncIterator[MessageBus]:
    """A client connection to the private system bus (as a Venus consumer would be)."""
    bus = await connect_system_bus()
    yield bus
    bus.disconnect()
    await bus.wait_for_disconnect()
