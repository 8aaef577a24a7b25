"""Building blocks for the gateway core's tests: settings, clocks, commands, decoded frames."""

from __future__ import annotations

from typing import Any

from smavenus.config import parse_config
from smavenus.events import LogEvent
from smavenus.gateway.actions import Action, Instant, SendFrames
from smavenus.gateway.core import GatewayCore
from smavenus.gateway.settings import GatewaySettings
from smavenus.ipc.messages import BmsCommand
from smavenus.protocol import ChargeLimits, decode

#: Wall clock = monotonic + this, so messages carry plausible unix times.
UNIX_OFFSET = 1_764_000_000.0


def at(t: float) -> Instant:
    return Instant(t, UNIX_OFFSET + t)


def settings(**sections: dict[str, Any]) -> GatewaySettings:
    return GatewaySettings.from_config(parse_config(sections))


def command(t: float, **values: Any) -> BmsCommand:
    """A controller command sent at monotonic time ``t`` (defaults: a normal bulk charge)."""
    fields: dict[str, Any] = {
        "seq": max(int(t), 0),
        "sent_monotonic": t,
        "sent_unix": UNIX_OFFSET + t,
        "charge_voltage_v": 56.0,
        "charge_current_a": 100.0,
        "discharge_current_a": 150.0,
        "discharge_voltage_v": 46.0,
        "soc_pct": 60.0,
    }
    fields.update(values)
    return BmsCommand.model_validate(fields)


def sent(events: list[Action]) -> list[SendFrames]:
    return [e for e in events if isinstance(e, SendFrames)]


def limits_of(send: SendFrames) -> ChargeLimits:
    frame = next(f for f in send.frames if f.can_id == 0x351)
    result: ChargeLimits = decode(0x351, frame.data)
    return result


def logs(events: list[Action], name: str | None = None) -> list[LogEvent]:
    return [e for e in events if isinstance(e, LogEvent) and (name is None or e.name == name)]


def opened_core(t: float = 0.0, **sections: dict[str, Any]) -> tuple[GatewayCore, list[Action]]:
    """A core whose bus has just opened at ``t``; returns it and the events of opening."""
    core = GatewayCore(settings(**sections), at(t))
    events = core.start()
    core.on_bus_opening(at(t))
    events += core.on_bus_opened(at(t))
    return core, events
