"""The netlink checks against a real CAN controller's driver: bitrate, state, manage_interface.

vcan has no bit timing. The kernel's own slcan driver (the line discipline ``slcand``
attaches) registers a can-dev interface like gs_usb's or mcp251x's (kind ``can``, a bitrate,
a controller state), so attached to a pty it is a real driver to check against. On the pty's
far side the simulated CANable (:class:`SlcanPty`) is the adapter, with the SI behind it.

Marked ``kernel_can``: the qemu guest of ``scripts/can-vm`` loads the slcan module.
"""

from __future__ import annotations

import fcntl
import os
import struct
import termios
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from smavenus.io.can import netlink
from smavenus.io.sim.slcan_pty import SlcanPty
from smavenus.slcan.device import HostFrame
from smavenus.testing.waiting import eventually

from .kernel_can import GUEST_SLOW_S, ip, start_gateway

pytestmark = pytest.mark.kernel_can

N_SLCAN = 17  # linux/tty.h: the slcan line discipline


@dataclass
class Controller:
    name: str  #: the interface the kernel made (can0, …)
    adapter: SlcanPty
    heard: list[HostFrame]  #: what reached the adapter from the bus

    def bms_frames(self) -> list[HostFrame]:
        return [f for f in self.heard if f.can_id == 0x351]


def interfaces() -> set[str]:
    return set(os.listdir("/sys/class/net"))


@pytest.fixture
async def controller() -> AsyncIterator[Controller]:
    heard: list[HostFrame] = []
    adapter = SlcanPty(heard.append)
    adapter.plug()
    assert adapter.slave_name is not None
    before = interfaces()
    fd = os.open(adapter.slave_name, os.O_RDWR | os.O_NOCTTY)
    try:
        fcntl.ioctl(fd, termios.TIOCSETD, struct.pack("i", N_SLCAN))
        (name,) = interfaces() - before
        yield Controller(name, adapter, heard)
    finally:
        os.close(fd)
        adapter.unplug()  # the last close of the tty removes the interface


async def test_a_controller_at_the_wrong_bitrate_is_refused_and_managed_it_is_set_right(
    tmp_path: Path, controller: Controller
) -> None:
    name = controller.name
    await ip("link", "set", name, "type", "can", "bitrate", "250000")
    await ip("link", "set", name, "up")
    status = netlink.link_status(name)
    assert (status.kind, status.bitrate, status.can_state) == ("can", 250000, "error-active")

    refused = await start_gateway(tmp_path / "refused", can={"channel": name})
    logs = refused.log_text
    try:
        (line,) = await eventually(
            lambda: refused.events("can_bus_open_failed"), GUEST_SLOW_S, "the refusal", logs
        )
        assert f"{name} runs at 250000 bit/s, not the configured 500000 bit/s" in line
        await eventually(
            lambda: refused.events("can_bus_reopen_failed"), GUEST_SLOW_S, "a retry", logs
        )
        # A node at the wrong bitrate would wreck the SI's traffic: not a frame was sent.
        assert controller.heard == []
        assert netlink.link_status(name).bitrate == 250000
    finally:
        assert await refused.stop(30.0) == 0

    managed = await start_gateway(
        tmp_path / "managed", can={"channel": name, "manage_interface": True}
    )
    logs = managed.log_text
    try:
        await eventually(controller.bms_frames, GUEST_SLOW_S, "BMS frames at the adapter", logs)
        (line,) = managed.events("can_interface_configured")
        assert "bitrate 500000" in line, logs()
        status = netlink.link_status(name)
        assert (status.admin_up, status.bitrate, status.can_state) == (
            True,
            500000,
            "error-active",
        )
        assert controller.adapter.device.bitrate == 500000  # the adapter was told "S6"
    finally:
        assert await managed.stop(30.0) == 0
    managed.assert_clean_log()
