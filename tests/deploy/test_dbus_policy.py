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
from dbus_fast import Message, Variant
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
from smavenus.testing.waiting import eventually

REPO = Path(__file__).parents[2]
NOBODY = 65534
BUSITEM = "com.victronenergy.BusItem"
VEBUS_NAME = "com.victronenergy.vebus.policy_test"

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
def web_user_bus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[PrivateDbusDaemon]:
    """The policy with its ``smavenus`` user played by ``nobody`` (no smavenus user here):
    the rules of that block, as written, applied to a real unprivileged caller."""
    policy = (REPO / "deploy" / "dbus" / "smavenus.conf").read_text()
    assert policy.count('<policy user="smavenus">') == 1
    played = tmp_path / "smavenus.conf"
    played.write_text(policy.replace('<policy user="smavenus">', '<policy user="nobody">'))
    with PrivateDbusDaemon(extra_policy_file=played) as daemon:
        daemon.directory.chmod(0o755)
        monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", daemon.address)
        yield daemon


@pytest.fixture
async def controller_names() -> AsyncIterator[MessageBus]:
    """Root owns the controller's name and answers its requests (any policy fixture first)."""
    bus = await connect_system_bus()
    router = MethodRouter(bus)
    for member in (names.START_FULL_CHARGE_METHOD, names.ACKNOWLEDGE_ALARMS_METHOD):
        router.add(
            names.CONTROLLER_PATH, names.CONTROLLER_INTERFACE, member, lambda _m: ("s", ["{}"])
        )
    router.install()
    await request_name(bus, names.CONTROLLER_BUS_NAME)
    yield bus
    bus.disconnect()


def controller_call(member: str) -> list[str]:
    return [
        f"--dest={names.CONTROLLER_BUS_NAME}",
        names.CONTROLLER_PATH,
        f"{names.CONTROLLER_INTERFACE}.{member}",
        "string:test",
    ]


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


@pytest.fixture
async def publisher_names(policed_bus: PrivateDbusDaemon) -> AsyncIterator[MessageBus]:
    """Root owns the publisher's name and a vebus name on one connection, as the publisher does."""
    bus = await connect_system_bus()
    router = MethodRouter(bus)
    router.add(
        names.PUBLISHER_PATH,
        names.PUBLISHER_INTERFACE,
        names.GET_DVCC_WRITES_METHOD,
        lambda _m: ("s", ["{}"]),
    )
    router.add("/Connected", BUSITEM, "GetValue", lambda _m: ("v", [Variant("i", 1)]))
    router.install()
    await request_name(bus, VEBUS_NAME)
    await request_name(bus, names.PUBLISHER_BUS_NAME)
    yield bus
    bus.disconnect()


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


async def test_anyone_may_read_dvcc_writes(
    policed_bus: PrivateDbusDaemon, publisher_names: MessageBus
) -> None:
    result = await asyncio.to_thread(
        as_nobody, policed_bus, f"--dest={names.PUBLISHER_BUS_NAME}", names.PUBLISHER_PATH,
        f"{names.PUBLISHER_INTERFACE}.{names.GET_DVCC_WRITES_METHOD}",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert 'string "{}"' in result.stdout


async def test_the_policy_leaves_the_vebus_service_of_the_same_connection_open(
    policed_bus: PrivateDbusDaemon, publisher_names: MessageBus
) -> None:
    """A send_destination rule covers every name of a connection: a deny on the publisher's
    name would also close com.victronenergy.vebus.* to Venus's non-root clients."""
    result = await asyncio.to_thread(
        as_nobody, policed_bus, f"--dest={VEBUS_NAME}", "/Connected", f"{BUSITEM}.GetValue"
    )
    assert result.returncode == 0, result.stderr
    assert "int32 1" in result.stdout


async def test_only_root_may_call_command_methods(
    policed_bus: PrivateDbusDaemon, gateway_names: MessageBus
) -> None:
    result = await asyncio.to_thread(
        as_nobody, policed_bus, *gateway_call(names.REMOTE_ON_OFF_METHOD, "string:off")
    )
    assert result.returncode != 0
    assert "AccessDenied" in result.stderr


async def test_only_root_may_own_the_names(policed_bus: PrivateDbusDaemon) -> None:
    for name in (names.GATEWAY_BUS_NAME, names.CONTROLLER_BUS_NAME, names.PUBLISHER_BUS_NAME):
        result = await asyncio.to_thread(
            as_nobody, policed_bus, "--dest=org.freedesktop.DBus", "/org/freedesktop/DBus",
            "org.freedesktop.DBus.RequestName", f"string:{name}", "uint32:4",
        )  # fmt: skip
        assert "AccessDenied" in result.stderr, name
    root = await connect_system_bus()
    await request_name(root, names.CONTROLLER_BUS_NAME)  # root may
    await request_name(root, names.PUBLISHER_BUS_NAME)
    root.disconnect()


@pytest.mark.parametrize(
    ("path", "interface", "member"),
    [
        (names.CONTROLLER_PATH, names.CONTROLLER_INTERFACE, names.COMMAND_SIGNAL),
        (names.PUBLISHER_PATH, names.PUBLISHER_INTERFACE, names.DVCC_WRITES_SIGNAL),
    ],
)
async def test_only_root_may_emit_our_signals(
    policed_bus: PrivateDbusDaemon, path: str, interface: str, member: str
) -> None:
    listener = await connect_system_bus()
    received: list[Any] = []

    def on_signal(msg: Message) -> None:
        received.append(msg.body[0])

    subscription = SignalSubscription(listener, interface, member, on_signal)
    await subscription.start()
    forged = await asyncio.to_thread(
        as_nobody, policed_bus, "--type=signal", path, f"{interface}.{member}", "string:forged"
    )
    root = await connect_system_bus()
    root.send(new_signal(path, interface, member, "s", ["genuine"]))
    root.send(new_signal(path, interface, member, "s", ["after"]))
    # The bus keeps one sender's order, and the forged one was sent before the genuine ones:
    # had it passed, it would be first.
    await eventually(lambda: "after" in received, what="the genuine signals")
    assert received == ["genuine", "after"], forged.stderr
    root.disconnect()
    listener.disconnect()


@pytest.mark.parametrize(
    "member", [names.START_FULL_CHARGE_METHOD, names.ACKNOWLEDGE_ALARMS_METHOD]
)
async def test_nobody_may_make_the_controller_requests(
    policed_bus: PrivateDbusDaemon, controller_names: MessageBus, member: str
) -> None:
    result = await asyncio.to_thread(as_nobody, policed_bus, *controller_call(member))
    assert "AccessDenied" in result.stderr


@pytest.mark.parametrize(
    "member", [names.START_FULL_CHARGE_METHOD, names.ACKNOWLEDGE_ALARMS_METHOD]
)
async def test_the_smavenus_user_may_make_the_controller_requests(
    web_user_bus: PrivateDbusDaemon, controller_names: MessageBus, member: str
) -> None:
    result = await asyncio.to_thread(as_nobody, web_user_bus, *controller_call(member))
    assert result.returncode == 0, result.stderr
    assert 'string "{}"' in result.stdout


async def test_the_smavenus_user_may_switch_the_si_but_not_quick_stop_it(
    web_user_bus: PrivateDbusDaemon,
) -> None:
    gateway = await connect_system_bus()
    router = MethodRouter(gateway)
    for member in (names.REMOTE_ON_OFF_METHOD, names.QUICK_STOP_METHOD):
        router.add(names.GATEWAY_PATH, names.GATEWAY_INTERFACE, member, lambda _m: ("s", ["{}"]))
    router.install()
    await request_name(gateway, names.GATEWAY_BUS_NAME)
    on_off = await asyncio.to_thread(
        as_nobody, web_user_bus, *gateway_call(names.REMOTE_ON_OFF_METHOD, "string:off")
    )
    assert on_off.returncode == 0, on_off.stderr
    stop = await asyncio.to_thread(as_nobody, web_user_bus, *gateway_call(names.QUICK_STOP_METHOD))
    assert "AccessDenied" in stop.stderr
    gateway.disconnect()
