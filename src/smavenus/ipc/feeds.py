"""The streams one smavenus process follows from another, each described once.

A feed is a peer's well-known name, object path, interface, the signal it emits and the
method that returns its latest message, and the pydantic model of the payload.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from smavenus.ipc import names
from smavenus.ipc.messages import (
    ControllerStatus,
    DvccWrites,
    GatewayHealth,
    Message,
    SiSnapshot,
)

M = TypeVar("M", bound=Message)


@dataclass(frozen=True)
class Feed(Generic[M]):
    bus_name: str
    path: str
    interface: str
    signal: str
    get_method: str
    model: type[M]


#: The can-gateway's SI snapshots, one per SI cycle.
SNAPSHOTS: Feed[SiSnapshot] = Feed(
    names.GATEWAY_BUS_NAME,
    names.GATEWAY_PATH,
    names.GATEWAY_INTERFACE,
    names.SNAPSHOT_SIGNAL,
    names.GET_SNAPSHOT_METHOD,
    SiSnapshot,
)
#: The can-gateway's health: bus state, counters, the limits it sends and why.
HEALTH: Feed[GatewayHealth] = Feed(
    names.GATEWAY_BUS_NAME,
    names.GATEWAY_PATH,
    names.GATEWAY_INTERFACE,
    names.HEALTH_SIGNAL,
    names.GET_HEALTH_METHOD,
    GatewayHealth,
)
#: The bms-controller's status: charge state, limits with reasons, protections.
STATUS: Feed[ControllerStatus] = Feed(
    names.CONTROLLER_BUS_NAME,
    names.CONTROLLER_PATH,
    names.CONTROLLER_INTERFACE,
    names.STATUS_SIGNAL,
    names.GET_STATUS_METHOD,
    ControllerStatus,
)
#: The vebus-publisher's record of DVCC's writes into the vebus service (for the controller).
DVCC_WRITES: Feed[DvccWrites] = Feed(
    names.PUBLISHER_BUS_NAME,
    names.PUBLISHER_PATH,
    names.PUBLISHER_INTERFACE,
    names.DVCC_WRITES_SIGNAL,
    names.GET_DVCC_WRITES_METHOD,
    DvccWrites,
)
