"""Opening the bus from ``[can]``: socketcan with kernel filters, slcan, or the virtual bus.

``socketcan``
    First the interface is checked over rtnetlink (:mod:`smavenus.io.can.netlink`: it
    exists, is up, and a real controller runs at the bitrate and is not bus-off), since the
    kernel lets a socket bind to a downed interface and then silently sends nothing. Then
    kernel filters for the SI's status IDs (foreign traffic such as master/slave sync never
    reaches Python); error frames on, to see bus-off. The BMS set is sent by the kernel's
    broadcast manager (:class:`~smavenus.io.can.senders.BcmSender`).
``slcan``
    :class:`~smavenus.io.can.slcan.ChunkedSlcanBus`.
``virtual``
    :class:`~smavenus.io.can.virtual.CountingVirtualBus`, for tests and the benchmark:
    filters and counts like slcan.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import can
from smavenus.io.can import netlink


@dataclass(frozen=True, slots=True)
class BusSpec:
    """What to open, from ``[can]``, plus the IDs the gateway listens to."""

    interface: Literal["socketcan", "slcan", "virtual"]
    channel: str
    bitrate: int
    tty_baudrate: int
    accept_ids: frozenset[int]
    #: socketcan: bring the interface up (and set a controller's bitrate) when it is not.
    manage_interface: bool = False


def open_bus(spec: BusSpec) -> can.BusABC:
    """Open the bus. Blocking (serial open, adapter commands): call it off the loop."""
    if spec.interface == "socketcan":
        netlink.ensure_ready(spec.channel, spec.bitrate, spec.manage_interface)
        filters: list[Any] = [
            {"can_id": can_id, "can_mask": 0x7FF, "extended": False}
            for can_id in sorted(spec.accept_ids)
        ]
        # Error frames stay on (the default): they are how bus-off and restarts are seen.
        return can.Bus(interface="socketcan", channel=spec.channel, can_filters=filters)
    # Each of the other two is imported only when opened, as python-can does with socketcan:
    # a gateway keeps what it imports for as long as it runs, and a GX (socketcan) needs
    # neither pyserial nor the test bus.
    if spec.interface == "slcan":
        from smavenus.io.can.slcan import ChunkedSlcanBus  # noqa: PLC0415

        return ChunkedSlcanBus(
            spec.channel,
            accept_ids=spec.accept_ids,
            tty_baudrate=spec.tty_baudrate,
            bitrate=spec.bitrate,
        )
    from smavenus.io.can.virtual import CountingVirtualBus  # noqa: PLC0415

    return CountingVirtualBus(spec.channel, accept_ids=spec.accept_ids)


# -- slcan ----------------------------------------------------------------------------------
