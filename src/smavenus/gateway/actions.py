"""What the can-gateway's core hands its edge: the clock reading it is given, and the actions
it returns for the edge to carry out in order (:data:`Action`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from smavenus.events import LogEvent
from smavenus.gateway.frameset import FrameSet
from smavenus.gateway.policy import BmsOutput
from smavenus.ipc.messages import BmsCommand, GatewayHealth, SiSnapshot


class Instant(NamedTuple):
    """One reading of both clocks: monotonic for every age and deadline, unix for messages."""

    monotonic: float
    unix: float


@dataclass(frozen=True, slots=True)
class SendFrames:
    """Send (or, on a kernel-timed bus, install) this frame set now."""

    frames: FrameSet
    output: BmsOutput


@dataclass(frozen=True, slots=True)
class PublishSnapshot:
    snapshot: SiSnapshot


@dataclass(frozen=True, slots=True)
class PublishHealth:
    health: GatewayHealth


@dataclass(frozen=True, slots=True)
class PersistCommand:
    command: BmsCommand


@dataclass(frozen=True, slots=True)
class CloseBus:
    """Close the open bus: the core found it unusable (bus-off for too long)."""

    reason: str


@dataclass(frozen=True, slots=True)
class ReopenBus:
    """Open the bus again (it is closed); the core has called :meth:`LinkSupervisor.opening`."""

    reason: str


#: What the edge must carry out, in order.
Action = (
    SendFrames | PublishSnapshot | PublishHealth | PersistCommand | CloseBus | ReopenBus | LogEvent
)
