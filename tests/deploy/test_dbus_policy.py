"""The project's D-Bus policy, loaded into a private dbus-daemon, seen by root and by nobody."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from dbus_fast import Message
from dbus_fast.aio import MessageBus

from smavenus.io.dbus import (
    MethodRouter,
    SignalSubscription,
    connect_system_bus,
    new_signal,
    request_name,
)
from smavenus.ipc import names
from smavenus.testing.dbus_daemon import PrivateDbusDaemon

REPO = Path(__file__).parents[2]
NOBODY = 65534

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("dbus-send") is None, reason="needs root and dbus-send"
)


@pytest.fixture
def policed_bus(monkeypatch: pytest.MonkeyPatch) -> Iterator[PrivateDbusDaemon]:
    with PrivateDbusDaemon(extra_policy_file=REPO / "deploy" / "dbus" / "smavenus.conf") as daemon:
        daemon.directory.chmod(0o755)  # let an unprivileged client reach the socket
        monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", daemon.address)
        yield daemon


@pytest.fixture
async def gateway_names(policed_bus: PrivateDbusDaemon) -> AsyncIterator[MessageBus]:
    """Root owns the gateway's name and answers its methods (what the real gateway does)."""
    bus = await connect_system_bus()
    router = MethodRouter(bus)
    for member in (names.GET_SNAPSHOT_METHOD, names.REMOTE_ON_OFF_METHOD):
        router.add(names.GATEWAY_PATH, names.GATEWAY_INTERFACE, member, lambda _m: ("s", ["{}"]))
    router.install()
    await request_name(bus, names.GATEWAY_BUS_NAME)
    yield bus
    bus.disconnect()


def as_nobody(daemon: PrivateDbusDaemon, *args: str) -> subprocess.CompletedProcess[str]:
    """dbus-send as an unprivileged user (a signal is sent without waiting for a reply)."""
    reply = [] if "--type=signal" in args else ["--print-reply"]
    return subprocess.run(
        ["dbus-send", "--system", *reply, *args],
        env={"DBUS_SYSTEM_BUS_ADDRESS": daemon.address, "PATH": os.environ["PATH"]},
        user=NOBODY, group=NOBODY, extra_groups=[],
        capture_output=True, text=True, timeout=10, check=False,
    )  # fmt: skip


def gateway_call(member: str, *args: str) -> list[str]:
    return [
        f"--dest={names.GATEWAY_BUS_NAME}",
        names.GATEWAY_PATH,
        f"{names.GATEWAY_INTERFACE}.{member}",
        *args,
    ]


async def test_anyone_may_read(policed_bus: PrivateDbusDaemon, gateway_names: MessageBus) -> None:
    result = await asyncio.to_thread(
        as_nobody, policed_bus, *gateway_call(names.GET_SNAPSHOT_METHOD)
    )
    assert result.returncode == 0, result.stderr
    assert 'string "{}"' in result.stdout


async def test_only_root_may_call_command_methods(
    policed_bus: PrivateDbusDaemon, gateway_names: MessageBus
) -> None:
    result = await asyncio.to_thread(
        as_nobody, policed_bus, *gateway_call(names.REMOTE_ON_OFF_METHOD, "string:off")
    )
    assert result.returncode != 0
    assert "AccessDenied" in result.stderr


async def test_only_root_may_own_the_names(policed_bus: PrivateDbusDaemon) -> None:
    for name in (names.GATEWAY_BUS_NAME, names.CONTROLLER_BUS_NAME):
        result = await asyncio.to_thread(
            as_nobody, policed_bus, "--dest=org.freedesktop.DBus", "/org/freedesktop/DBus",
            "org.freedesktop.DBus.RequestName", f"string:{name}", "uint32:4",
        )  # fmt: skip
        assert "AccessDenied" in result.stderr, name
    root = await connect_system_bus()
    await request_name(root, names.CONTROLLER_BUS_NAME)  # root may
    root.disconnect()


async def test_only_root_may_emit_a_command(policed_bus: PrivateDbusDaemon) -> None:
    listener = await connect_system_bus()
    received: list[Any] = []

    def on_command(msg: Message) -> None:
        received.append(msg.body[0])

    subscription = SignalSubscription(
        listener, names.CONTROLLER_INTERFACE, names.COMMAND_SIGNAL, on_command
    )
    await subscription.start()
    forged = await asyncio.to_thread(
        as_nobody, policed_bus, "--type=signal", names.CONTROLLER_PATH,
        f"{names.CONTROLLER_INTERFACE}.{names.COMMAND_SIGNAL}", "string:forged",
    )  # fmt: skip
    root = await connect_system_bus()
    root.send(
        new_signal(
            names.CONTROLLER_PATH,
            names.CONTROLLER_INTERFACE,
            names.COMMAND_SIGNAL,
            "s",
            ["genuine"],
        )
    )
    for _ in range(100):
        if received:
            break
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.1)
    assert received == ["genuine"], forged.stderr
    root.disconnect()
    listener.disconnect()
