"""What the vebus values are computed from, and the plain reads of it. Pure.

Everything downstream takes values that are already known to be fresh (:class:`Fresh`); the
staleness decision is made once, in :mod:`smavenus.vebus.core`. A value that cannot be
computed from fresh inputs is ``None`` (invalid on the bus), never a left-over number.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from smavenus.protocol import frames as f
from smavenus.vebus.energy import Node

#: A line exists, the inverter runs, an AC source is present: at least this voltage.
AC_PRESENT_MIN_V = 50.0


class ChargePhase(enum.Enum):
    """The controller's charge state (``ControllerStatus.charge_state``)."""

    BULK = "bulk"
    ABSORPTION = "absorption"
    FLOAT = "float"


@dataclass(frozen=True)
class Fresh:
    """The SI's frames young enough to be believed; ``None``: missing or too old."""

    external_power: f.ExternalPower | None = None
    inverter_power: f.InverterPower | None = None
    external_reactive_power: f.ExternalReactivePower | None = None
    inverter_reactive_power: f.InverterReactivePower | None = None
    output_voltage: f.OutputVoltage | None = None
    battery_status: f.BatteryStatus | None = None
    si_status: f.SiStatus | None = None
    relay_status: f.RelayStatus | None = None
    external_voltage: f.ExternalVoltage | None = None


@dataclass(frozen=True)
class Conditions:
    """0x35A conditions (IPC names such as ``"low_voltage"``) raised as alarm or warning."""

    alarms: frozenset[str] = frozenset()
    warnings: frozenset[str] = frozenset()

    def __or__(self, other: Conditions) -> Conditions:
        return Conditions(self.alarms | other.alarms, self.warnings | other.warnings)


@dataclass(frozen=True)
class Options:
    """The configuration choices the path values depend on."""

    generator_as_ac_in_2: bool = False
    grid_lost_alarm: bool = True


def line_value(frame: Any, n: int, unit: str) -> float | None:
    """Line ``n``'s value in a per-line SI frame (``l2_v``, ``l1_w``); ``None`` if no frame."""
    if frame is None:
        return None
    value: float | None = getattr(frame, f"l{n}_{unit}")
    return value


def ac_input_connected(si: Fresh) -> bool | None:
    relay = si.relay_status
    if relay is None:
        return None
    return relay.ac2_connected or f.FunctionBits2.EXT_SRC_CONN in relay.functions2


def active_node(si: Fresh, options: Options) -> Node | None:
    """The AC input feeding the SI; ``None`` when none is connected or it is not known."""
    if not ac_input_connected(si):
        return None
    assert si.relay_status is not None
    generator = options.generator_as_ac_in_2 and f.RelayBits.GN_RN in si.relay_status.relays
    return Node.AC_IN_2 if generator else Node.AC_IN_1
