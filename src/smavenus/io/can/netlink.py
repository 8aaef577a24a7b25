"""Just enough rtnetlink to check a CAN interface before opening it, and to fix it if allowed.

Why check at all: the kernel lets a CAN socket bind to an interface that is down, and the
broadcast manager accepts its jobs there; nothing fails, and nothing reaches the bus. A
gateway that re-opened onto a downed ``can0`` would report the link active while the SI hears
nothing. So every (re)open first asks the kernel: does the interface exist, is it up, and,
where the driver has a bit timing (a real controller, kind ``can``; not ``vcan``), does it run
at ``[can] bitrate`` and is it not bus-off. A node at the wrong bitrate does not just go
unheard: its error frames would wreck the SI's own traffic, so that is refused as well.

Why a netlink socket rather than ``ip -details -json link show``: it needs nothing installed
(a GX's ``ip`` may be busybox's, without JSON or CAN details), no child process from a process
with threads, and answers in well under a millisecond. One request, one reply, a small parser;
no pyroute2 (it is not worth a dependency for two messages).

With ``[can] manage_interface`` the gateway also brings the interface up itself, first setting
the bitrate (and ``restart-ms``) on a real controller; that needs CAP_NET_ADMIN (root), and the
kernel's refusal becomes the reason the open failed.
"""

from __future__ import annotations

import errno
import itertools
import os
import socket
import struct
from collections.abc import Iterator
from dataclasses import dataclass

import structlog

log = structlog.get_logger(__name__)

# linux/netlink.h, linux/rtnetlink.h, linux/if_link.h, linux/can/netlink.h
RTM_NEWLINK = 16
RTM_GETLINK = 18
NLMSG_ERROR = 2
NLM_F_REQUEST = 0x1
NLM_F_ACK = 0x4
NLA_TYPE_MASK = 0x3FFF  # without NLA_F_NESTED and NLA_F_NET_BYTEORDER
IFF_UP = 0x1
IFLA_IFNAME = 3
IFLA_OPERSTATE = 16
IFLA_LINKINFO = 18
IFLA_INFO_KIND = 1
IFLA_INFO_DATA = 2
IFLA_CAN_BITTIMING = 1
IFLA_CAN_STATE = 4
IFLA_CAN_RESTART_MS = 6

OPERSTATES = ("unknown", "notpresent", "down", "lowerlayerdown", "testing", "dormant", "up")
CAN_STATES = ("error-active", "error-warning", "error-passive", "bus-off", "stopped", "sleeping")
#: What a real controller is restarted after when it goes bus-off, when the gateway configures
#: it (docs/gateway.md recommends the same by hand).
RESTART_MS = 100

_HEADER = struct.Struct("=IHHII")  # struct nlmsghdr
_IFINFO = struct.Struct("=BxHiII")  # struct ifinfomsg
_ATTR = struct.Struct("=HH")  # struct nlattr
_BITTIMING = struct.Struct("=8I")  # struct can_bittiming: bitrate first, the rest computed
_U32 = struct.Struct("=I")
_REPLY_TIMEOUT_S = 2.0
_sequence = itertools.count(1)


class InterfaceNotReadyError(OSError):
    """The interface is missing, down, bus-off or at the wrong bitrate (the open fails)."""


@dataclass(frozen=True, slots=True)
class LinkStatus:
    name: str
    index: int
    admin_up: bool  #: IFF_UP: ``ip link set … up``
    operstate: str  #: RFC 2863 state; vcan reports "unknown" while up
    kind: str | None  #: "can" for a controller's driver (gs_usb, mcp251x…), "vcan"…
    bitrate: int | None  #: None where the driver has no bit timing or none is set
    can_state: str | None  #: a controller's state: "error-active" … "bus-off", "stopped"

    @property
    def has_bit_timing(self) -> bool:
        return self.kind == "can"


def problem(status: LinkStatus, bitrate: int) -> str | None:
    """Why the gateway must not open this interface now, or None if it may."""
    name = status.name
    if not status.admin_up:
        return f"{name} is down"
    if status.has_bit_timing:
        if status.bitrate != bitrate:
            runs = "no bitrate set" if status.bitrate is None else f"{status.bitrate} bit/s"
            return f"{name} runs at {runs}, not the configured {bitrate} bit/s"
        if status.can_state == "bus-off":
            return f"{name} is bus-off"
    if status.operstate in ("down", "lowerlayerdown", "notpresent"):
        return f"{name} is up but its link is {status.operstate}"
    return None


# -- messages ----------------------------------------------------------------------------------


def _attr(kind: int, payload: bytes) -> bytes:
    raw = _ATTR.pack(_ATTR.size + len(payload), kind) + payload
    return raw + bytes(-len(raw) % 4)


def _message(kind: int, flags: int, seq: int, ifinfo: bytes, attrs: bytes = b"") -> bytes:
    body = ifinfo + attrs
    return _HEADER.pack(_HEADER.size + len(body), kind, flags, seq, 0) + body


def getlink_request(name: str, seq: int) -> bytes:
    """RTM_GETLINK for one interface, looked up by name."""
    return _message(
        RTM_GETLINK,
        NLM_F_REQUEST,
        seq,
        _IFINFO.pack(socket.AF_UNSPEC, 0, 0, 0, 0),
        _attr(IFLA_IFNAME, name.encode() + b"\0"),
    )


def set_up_request(index: int, up: bool, seq: int) -> bytes:
    """``ip link set dev X up|down``."""
    flags = IFF_UP if up else 0
    return _message(
        RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK, seq, _IFINFO.pack(0, 0, index, flags, IFF_UP)
    )


def _can_request(index: int, data: bytes, seq: int) -> bytes:
    linkinfo = _attr(IFLA_INFO_KIND, b"can") + _attr(IFLA_INFO_DATA, data)
    return _message(
        RTM_NEWLINK,
        NLM_F_REQUEST | NLM_F_ACK,
        seq,
        _IFINFO.pack(0, 0, index, 0, 0),
        _attr(IFLA_LINKINFO, linkinfo),
    )


def can_bitrate_request(index: int, bitrate: int, seq: int) -> bytes:
    """``ip link set dev X type can bitrate B`` (the interface must be down)."""
    timing = _BITTIMING.pack(bitrate, 0, 0, 0, 0, 0, 0, 0)
    return _can_request(index, _attr(IFLA_CAN_BITTIMING, timing), seq)


def can_restart_ms_request(index: int, restart_ms: int, seq: int) -> bytes:
    """``ip link set dev X type can restart-ms R`` (the interface must be down)."""
    return _can_request(index, _attr(IFLA_CAN_RESTART_MS, _U32.pack(restart_ms)), seq)


def _attrs(data: bytes) -> Iterator[tuple[int, bytes]]:
    offset = 0
    while offset + _ATTR.size <= len(data):
        length, kind = _ATTR.unpack_from(data, offset)
        if length < _ATTR.size:
            return
        yield kind & NLA_TYPE_MASK, data[offset + _ATTR.size : offset + length]
        offset += (length + 3) & ~3


def _string(payload: bytes) -> str:
    return payload.split(b"\0", 1)[0].decode(errors="replace")


def parse_link(payload: bytes) -> LinkStatus:
    """An RTM_NEWLINK message's payload (after the netlink header)."""
    _family, _type, index, flags, _change = _IFINFO.unpack_from(payload)
    name, operstate, kind, bitrate, can_state = "", "unknown", None, None, None
    for attr, value in _attrs(payload[_IFINFO.size :]):
        if attr == IFLA_IFNAME:
            name = _string(value)
        elif attr == IFLA_OPERSTATE and value:
            operstate = OPERSTATES[value[0]] if value[0] < len(OPERSTATES) else str(value[0])
        elif attr == IFLA_LINKINFO:
            for info, info_value in _attrs(value):
                if info == IFLA_INFO_KIND:
                    kind = _string(info_value)
                elif info == IFLA_INFO_DATA:
                    bitrate, can_state = _can_data(info_value)
    return LinkStatus(name, index, bool(flags & IFF_UP), operstate, kind, bitrate, can_state)


def _can_data(data: bytes) -> tuple[int | None, str | None]:
    bitrate: int | None = None
    state: str | None = None
    for attr, value in _attrs(data):
        if attr == IFLA_CAN_BITTIMING and len(value) >= _U32.size:
            bitrate = _U32.unpack_from(value)[0] or None
        elif attr == IFLA_CAN_STATE and len(value) >= _U32.size:
            code = _U32.unpack_from(value)[0]
            state = CAN_STATES[code] if code < len(CAN_STATES) else str(code)
    return bitrate, state


# -- talking to the kernel ---------------------------------------------------------------------


def _request(message: bytes, seq: int) -> bytes | None:
    """Send one request; return the RTM_NEWLINK payload of the reply, or None for an ACK.

    Raises :class:`OSError` with the kernel's errno when it refuses.
    """
    with socket.socket(
        socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, socket.NETLINK_ROUTE
    ) as sock:
        sock.settimeout(_REPLY_TIMEOUT_S)
        sock.bind((0, 0))
        sock.sendto(message, (0, 0))
        while True:
            data = sock.recv(65536)
            offset = 0
            while offset + _HEADER.size <= len(data):
                length, kind, _flags, reply_seq, _pid = _HEADER.unpack_from(data, offset)
                payload = data[offset + _HEADER.size : offset + length]
                offset += (length + 3) & ~3
                if reply_seq != seq:
                    continue
                if kind == NLMSG_ERROR:
                    (error,) = struct.unpack_from("=i", payload)
                    if error:
                        raise OSError(-error, os.strerror(-error))
                    return None
                if kind == RTM_NEWLINK:
                    return payload


def link_status(name: str) -> LinkStatus:
    """What the kernel says about interface ``name``. Raises OSError(ENODEV) if it has none."""
    seq = next(_sequence)
    payload = _request(getlink_request(name, seq), seq)
    if payload is None:
        raise OSError(f"no RTM_NEWLINK reply for {name}")
    return parse_link(payload)


def set_up(index: int, up: bool) -> None:
    seq = next(_sequence)
    _request(set_up_request(index, up, seq), seq)


def set_can_bitrate(index: int, bitrate: int) -> None:
    seq = next(_sequence)
    _request(can_bitrate_request(index, bitrate, seq), seq)


def set_can_restart_ms(index: int, restart_ms: int) -> None:
    seq = next(_sequence)
    _request(can_restart_ms_request(index, restart_ms, seq), seq)


# -- the check the gateway runs before every open ----------------------------------------------


def ensure_ready(name: str, bitrate: int, manage: bool) -> LinkStatus:
    """Check ``name`` (with ``manage``, fix it); raise :class:`InterfaceNotReadyError` if unfit."""
    try:
        status = link_status(name)
    except OSError as exc:
        raise InterfaceNotReadyError(exc.errno, f"{name}: {exc.strerror or exc}") from exc
    reason = problem(status, bitrate)
    if reason is None:
        return status
    if not manage:
        raise InterfaceNotReadyError(reason)
    try:
        actions = _fix(status, bitrate)
        status = link_status(name)
    except OSError as exc:
        raise InterfaceNotReadyError(
            exc.errno, f"{reason}; fixing it failed: {exc.strerror}"
        ) from exc
    log.warning("can_interface_configured", interface=name, found=reason, actions=actions)
    reason = problem(status, bitrate)
    if reason is not None:
        raise InterfaceNotReadyError(f"{reason} (after {', '.join(actions)})")
    return status


def _fix(status: LinkStatus, bitrate: int) -> list[str]:
    actions: list[str] = []
    if status.has_bit_timing and (status.bitrate != bitrate or status.can_state == "bus-off"):
        # The bit timing can only change while down; down and up also resets a bus-off
        # controller that has no restart-ms.
        if status.admin_up:
            set_up(status.index, up=False)
            actions.append("down")
        set_can_bitrate(status.index, bitrate)
        actions.append(f"bitrate {bitrate}")
        try:
            set_can_restart_ms(status.index, RESTART_MS)
            actions.append(f"restart-ms {RESTART_MS}")
        except OSError as exc:
            if exc.errno != errno.EOPNOTSUPP:
                raise
            # A driver that cannot restart its controller (the kernel's slcan) refuses it;
            # a bus-off is then ended by the gateway's own re-open.
    set_up(status.index, up=True)
    actions.append("up")
    return actions
