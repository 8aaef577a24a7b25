"""What the simulator takes for a real bus: D-Bus addresses, iproute2's answer, sysfs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from smavenus.io.sim.real_bus import (
    ARPHRD_CAN,
    can_refusal,
    dbus_refusal,
    link_kind_from_ip,
    link_kind_from_ip_json,
    sysfs_shows_vcan,
    unix_socket_paths,
)


@pytest.mark.parametrize(
    "address",
    [
        "unix:path=/tmp/smavenus-dbus-x/system_bus_socket",
        "unix:abstract=/tmp/dbus-abc,guid=0123",
        "tcp:host=127.0.0.1,port=5555",
    ],
)
def test_any_other_address_is_private(address: str) -> None:
    assert dbus_refusal({"DBUS_SYSTEM_BUS_ADDRESS": address}) is None


@pytest.mark.parametrize(
    "address",
    [
        "unix:path=/var/run/dbus/system_bus_socket",
        "unix:path=/run/dbus/system_bus_socket,guid=0123",
        "unix:path=/run/dbus//system_bus_socket",
        "unix:path=%2Frun%2Fdbus%2Fsystem_bus_socket",
        "unix:path=/tmp/private;unix:path=/run/dbus/system_bus_socket",
    ],
)
def test_the_real_system_bus_is_refused_however_it_is_spelled(address: str) -> None:
    reason = dbus_refusal({"DBUS_SYSTEM_BUS_ADDRESS": address})
    assert reason is not None
    assert reason.startswith("DBUS_SYSTEM_BUS_ADDRESS names the real system bus")


def test_no_address_means_the_real_system_bus() -> None:
    for environ in ({}, {"DBUS_SYSTEM_BUS_ADDRESS": ""}):
        reason = dbus_refusal(environ)
        assert reason is not None and "is not set" in reason


def test_unix_socket_paths_of_an_address_list() -> None:
    assert unix_socket_paths("unix:path=/a,guid=1;tcp:host=x;unix:abstract=b;unix:path=/c") == [
        "/a",
        "/c",
    ]


# `ip -details -json link show dev X`, trimmed to the keys that matter (iproute2 6.1).
IP_VCAN = [{"ifname": "vcan0", "link_type": "can", "linkinfo": {"info_kind": "vcan"}}]
IP_GS_USB = [
    {
        "ifname": "can0",
        "link_type": "can",
        "linkinfo": {"info_kind": "can", "info_data": {"state": "ERROR-ACTIVE"}},
    }
]
IP_ETHERNET = [{"ifname": "eth0", "link_type": "ether"}]


@pytest.mark.parametrize(
    ("output", "kind"),
    [
        (json.dumps(IP_VCAN), "vcan"),
        (json.dumps(IP_GS_USB), "can"),
        (json.dumps(IP_ETHERNET), ""),  # no linkinfo: a physical NIC
        ("ip: invalid argument '-json'", None),  # busybox: ask sysfs instead
        ("[]", None),
    ],
)
def test_link_kind_from_iproute2_json(output: str, kind: str | None) -> None:
    assert link_kind_from_ip_json(output) == kind


@pytest.mark.skipif(shutil.which("ip") is None, reason="no iproute2")
def test_the_loopback_interface_has_no_link_kind() -> None:
    assert link_kind_from_ip("lo") == ""
    reason = can_refusal("socketcan", "lo")
    assert reason is not None and "is not a vcan interface" in reason


def fake_interface(net: Path, name: str, link_type: int, parent: bool) -> None:
    interface = net / name
    interface.mkdir(parents=True)
    (interface / "type").write_text(f"{link_type}\n")
    if parent:  # a USB adapter's interface links to its USB device
        (interface / "device").symlink_to(net / "usb-device")


@pytest.mark.parametrize(
    ("name", "link_type", "parent", "virtual"),
    [
        ("vcan0", ARPHRD_CAN, False, True),
        ("vcan0", ARPHRD_CAN, True, False),  # a real adapter renamed vcan0
        ("slcan0", ARPHRD_CAN, False, False),  # slcand's interfaces have no parent either
        ("vcan0", 1, False, False),  # not a CAN interface at all
    ],
)
def test_sysfs_evidence(
    tmp_path: Path, name: str, link_type: int, parent: bool, virtual: bool
) -> None:
    fake_interface(tmp_path, name, link_type, parent)
    assert sysfs_shows_vcan(name, tmp_path) is virtual


def test_sysfs_without_the_interface_shows_nothing(tmp_path: Path) -> None:
    assert sysfs_shows_vcan("vcan0", tmp_path) is False


@pytest.mark.parametrize(
    "channel", ["../../etc", "..", ".", "name with space", "sixteen-chars-xx", ""]
)
def test_a_channel_that_is_no_interface_name_is_refused(channel: str) -> None:
    reason = can_refusal("socketcan", channel)
    assert reason is not None and "is not a network interface name" in reason


def test_virtual_is_allowed_and_hardware_interfaces_are_not() -> None:
    assert can_refusal("virtual", "anything") is None
    for interface in ("slcan", "gs_usb", "pcan", "kvaser", "udp_multicast"):
        reason = can_refusal(interface, "x")
        assert reason is not None and reason.startswith(f"--interface {interface} drives CAN")
