"""Would ``smavenus-sim`` reach a real bus? Each check returns the reason, or None if private.

A simulated Sunny Island must never be taken for a real one: its status frames on a real CAN
bus would reach whatever listens there, and its battery monitor on a GX's system bus would
become systemcalc's battery and steer the real charge controller. So the simulator runs only
where nothing real can hear it, unless ``--force-real-bus`` says otherwise.

**D-Bus** (checked only when the simulator publishes, i.e. with ``--battery-monitor``): the
system bus it would use is the real one when ``DBUS_SYSTEM_BUS_ADDRESS`` is unset or empty
(dbus-fast then connects to ``/var/run/dbus/system_bus_socket``), or when one of its
``unix:path=`` addresses names ``/var/run/dbus/system_bus_socket`` or
``/run/dbus/system_bus_socket``, or the same socket file under another name. Any other
address, such as a private dbus-daemon's socket (tests, the bench), is private.

**CAN**:

* the simulator's own pty (``--slcan-link``) is always private: it *is* the adapter;
* python-can's ``virtual`` interface is a bus inside this process;
* ``socketcan`` only on a vcan interface, as the kernel reports the link's kind:
  ``ip -details -json link show dev CH`` must give ``linkinfo.info_kind == "vcan"``. Where
  ``ip`` cannot answer in JSON (missing, or busybox), sysfs must show all of: the name starts
  with ``vcan``, ``/sys/class/net/CH/type`` is 280 (ARPHRD_CAN), and there is no
  ``/sys/class/net/CH/device`` (no parent device: no USB, SPI or SoC controller behind it).
  The name matters because slcand's interfaces have no parent device either;
* every other interface (``slcan`` on a serial port, ``gs_usb``, ``pcan``, ``udp_multicast``…)
  counts as real.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import unquote

REAL_SYSTEM_BUS_SOCKETS = (
    Path("/var/run/dbus/system_bus_socket"),
    Path("/run/dbus/system_bus_socket"),
)
SYSFS_NET = Path("/sys/class/net")
ARPHRD_CAN = 280
#: What the kernel accepts as an interface name (at most 15 bytes, no "/" or whitespace,
#: not "." or "..").
_INTERFACE_NAME = re.compile(r"(?!\.\.?$)[^/\s]{1,15}")
_PRIVATE_DBUS_HINT = "point it at a private dbus-daemon"
_ALLOWED_CAN = "allowed: --interface virtual, socketcan on a vcan interface, or --slcan-link"


def dbus_refusal(environ: Mapping[str, str]) -> str | None:
    """Why the system bus named by ``environ`` is the real one, or None if it is private."""
    address = environ.get("DBUS_SYSTEM_BUS_ADDRESS", "")
    if not address:
        return (
            "DBUS_SYSTEM_BUS_ADDRESS is not set, so the battery monitor would go on the real "
            f"system bus; {_PRIVATE_DBUS_HINT}"
        )
    for path in unix_socket_paths(address):
        if is_real_system_bus_socket(Path(path)):
            return (
                f"DBUS_SYSTEM_BUS_ADDRESS names the real system bus ({path}); {_PRIVATE_DBUS_HINT}"
            )
    return None


def unix_socket_paths(address: str) -> list[str]:
    """The ``unix:path=`` socket files of a D-Bus address list (``;``-separated)."""
    paths: list[str] = []
    for entry in address.split(";"):
        transport, _, parameters = entry.partition(":")
        if transport != "unix":
            continue
        for parameter in parameters.split(","):
            key, _, value = parameter.partition("=")
            if key == "path":
                paths.append(unquote(value))
    return paths


def is_real_system_bus_socket(path: Path) -> bool:
    for real in REAL_SYSTEM_BUS_SOCKETS:
        if path == real:
            return True
        with contextlib.suppress(OSError):  # either may not exist: then they are not the same
            if os.path.samefile(path, real):
                return True
    return False


def can_refusal(interface: str, channel: str) -> str | None:
    """Why python-can ``interface``/``channel`` may be a real CAN bus, or None if virtual."""
    if interface == "virtual":
        return None
    if interface != "socketcan":
        return f"--interface {interface} drives CAN hardware ({_ALLOWED_CAN})"
    return socketcan_refusal(channel)


def socketcan_refusal(channel: str) -> str | None:
    """Why socketcan ``channel`` may be a real CAN bus, or None if the kernel says vcan."""
    if not _INTERFACE_NAME.fullmatch(channel):
        return f"socketcan channel {channel!r} is not a network interface name"
    if not (SYSFS_NET / channel).exists():
        return f"socketcan channel {channel}: no such network interface"
    kind = link_kind_from_ip(channel)
    if kind is not None:
        if kind == "vcan":
            return None
        return (
            f"socketcan channel {channel} is not a vcan interface "
            f"(the kernel's link kind is {kind or 'none'}; {_ALLOWED_CAN})"
        )
    if sysfs_shows_vcan(channel, SYSFS_NET):
        return None
    return (
        f"socketcan channel {channel} is not shown to be a vcan interface "
        f"(no answer from `ip -details -json link show`, and sysfs shows a CAN device with a "
        f"parent device or a name not starting with vcan; {_ALLOWED_CAN})"
    )


def link_kind_from_ip(channel: str) -> str | None:
    """The kernel's link kind from iproute2 ("" if it has none), or None if ``ip`` cannot tell."""
    try:
        result = subprocess.run(
            ["ip", "-details", "-json", "link", "show", "dev", channel],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if result.returncode != 0:
        return None
    return link_kind_from_ip_json(result.stdout)


def link_kind_from_ip_json(text: str) -> str | None:
    """``linkinfo.info_kind`` of the one link in ``ip -details -json`` output ("" if none)."""
    try:
        links = json.loads(text)
    except ValueError:
        return None
    if not isinstance(links, list) or len(links) != 1 or not isinstance(links[0], dict):
        return None
    linkinfo = links[0].get("linkinfo")
    if not isinstance(linkinfo, dict):
        return ""
    kind = linkinfo.get("info_kind", "")
    return kind if isinstance(kind, str) else ""


def sysfs_shows_vcan(channel: str, net_dir: Path) -> bool:
    """A CAN interface named vcan* with no parent device (the fallback when ``ip`` is silent)."""
    interface = net_dir / channel
    try:
        link_type = int((interface / "type").read_text().strip())
    except (OSError, ValueError):
        return False
    return (
        channel.startswith("vcan")
        and link_type == ARPHRD_CAN
        and not os.path.lexists(interface / "device")
    )
