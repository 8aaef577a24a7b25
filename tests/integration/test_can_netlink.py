"""rtnetlink, as the gateway's socketcan edge uses it before every open.

Against this machine's own kernel (any Linux answers for ``lo``), and the requests compared
byte for byte with what iproute2 sends for the same change. The CAN side (a vcan, a real
controller's driver at the wrong bitrate, bringing interfaces up) is tested where the kernel
has CAN: ``test_kernel_can_link.py`` and ``test_kernel_can_controller.py``.
"""

from __future__ import annotations

import errno
import socket
import struct

import pytest

from smavenus.io.can import netlink
from smavenus.io.can.netlink import LinkStatus, problem

LO = socket.if_nametoindex("lo")


def test_the_kernel_describes_lo_up_with_no_kind() -> None:
    status = netlink.link_status("lo")
    assert (status.name, status.index, status.admin_up) == ("lo", LO, True)
    assert status.operstate in ("unknown", "up")
    assert (status.kind, status.bitrate, status.can_state) == (None, None, None)
    assert problem(status, 500000) is None


def test_a_missing_interface_is_enodev_and_not_ready() -> None:
    with pytest.raises(OSError) as missing:
        netlink.link_status("smavenus-none")
    assert missing.value.errno == errno.ENODEV
    with pytest.raises(netlink.InterfaceNotReadyError, match="No such device") as refused:
        netlink.ensure_ready("smavenus-none", 500000, manage=True)
    assert refused.value.errno == errno.ENODEV


def header_and_ifinfo(length: int, seq: int, index: int, flags: int, change: int) -> bytes:
    return struct.pack("=IHHII", length, 16, 0x5, seq, 0) + struct.pack(
        "=BxHiII", 0, 0, index, flags, change
    )


# Captured with `strace -f -e trace=sendmsg -xx ip link set lo …` (iproute2 6.1): the
# attributes of the RTM_NEWLINK it sends, after its header and ifinfomsg.
IPROUTE2_BITRATE_500000 = bytes.fromhex(
    "34001200" "07000100" "63616e00" "28000200"
    "24000100" "20a10700" + "00" * 28
)  # fmt: skip
IPROUTE2_RESTART_MS_100 = bytes.fromhex(
    "18001200" "07000100" "63616e00" "0c000200" "08000600" "64000000"
)  # fmt: skip


def test_requests_are_what_iproute2_sends() -> None:
    assert netlink.set_up_request(LO, True, 7) == header_and_ifinfo(32, 7, LO, 1, 1)
    assert netlink.set_up_request(LO, False, 8) == header_and_ifinfo(32, 8, LO, 0, 1)
    assert netlink.can_bitrate_request(LO, 500000, 9) == (
        header_and_ifinfo(84, 9, LO, 0, 0) + IPROUTE2_BITRATE_500000
    )
    assert netlink.can_restart_ms_request(LO, 100, 10) == (
        header_and_ifinfo(56, 10, LO, 0, 0) + IPROUTE2_RESTART_MS_100
    )


def test_the_kernel_refuses_can_settings_on_a_device_that_is_not_can() -> None:
    # The request is well formed enough to reach the link's kind check.
    with pytest.raises(OSError) as refused:
        netlink.set_can_bitrate(LO, 500000)
    assert refused.value.errno in (errno.EOPNOTSUPP, errno.EPERM)


def status(**fields: object) -> LinkStatus:
    defaults: dict[str, object] = {
        "name": "can0",
        "index": 3,
        "admin_up": True,
        "operstate": "up",
        "kind": "can",
        "bitrate": 500000,
        "can_state": "error-active",
    }
    return LinkStatus(**{**defaults, **fields})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({}, None),
        ({"can_state": "error-passive"}, None),  # degraded, but sending: the SI must be fed
        ({"kind": "vcan", "bitrate": None, "can_state": None, "operstate": "unknown"}, None),
        ({"admin_up": False, "operstate": "down", "can_state": "stopped"}, "can0 is down"),
        ({"bitrate": 250000}, "can0 runs at 250000 bit/s, not the configured 500000 bit/s"),
        ({"bitrate": None}, "can0 runs at no bitrate set, not the configured 500000 bit/s"),
        ({"can_state": "bus-off", "operstate": "down"}, "can0 is bus-off"),
        ({"kind": None, "bitrate": None, "operstate": "down"}, "can0 is up but its link is down"),
    ],
)
def test_what_keeps_the_gateway_from_opening_an_interface(
    fields: dict[str, object], reason: str | None
) -> None:
    assert problem(status(**fields), 500000) == reason
