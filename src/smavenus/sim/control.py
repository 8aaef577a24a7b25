"""Requests to a running simulator's control socket: one JSON object per line, validated here.

    {"cmd": "status"}                             the SI's state, counters, longest BMS gap
    {"cmd": "events", "since": 0}                 recorded events from index ``since``
    {"cmd": "bms_gap", "since_s": 0}              longest gap between BMS frames, up to now
    {"cmd": "summary"}                            what the simulator prints at exit
    {"cmd": "apply", "event": {"action": ...}}    apply any scenario event now
    {"cmd": "inject", "frames": [...], "lines": [...]}   frames or raw bytes to the host
    {"cmd": "burst", "rate_hz": 4500, "duration_s": 3}  foreign frames, fast

``apply`` takes exactly the ``[[events]]`` entries of a scenario file (without ``at_s``):
``{"action": "adapter", "state": "unplug"}``, ``{"action": "monitor", "state": "vanish"}``,
``{"action": "bms_silence", "duration_s": 90}``, ``{"action": "load", "power_w": 3000}``, …

``inject`` and ``burst`` are for robustness tests (the soak): they reach the host only — the
simulated SI does not hear them, so they must not carry BMS frames a real SI would act on.
``inject`` puts ``frames`` (``{"can_id": 1100, "data": "0102", "extended": false, "remote":
false}``) on the line as the adapter would, and ``lines`` as they are (each string's characters
as bytes, 0-255: malformed slcan, garbage). ``burst`` sends random frames with foreign IDs
(0x400-0x7FF) at ``rate_hz`` for ``duration_s`` wall-clock seconds, a millisecond's worth at a
time as a full-speed USB adapter does.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from smavenus.sim.scenario import ScenarioEvent
from smavenus.sim.simulation import Simulation


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StatusRequest(_Request):
    cmd: Literal["status"]


class EventsRequest(_Request):
    cmd: Literal["events"]
    since: int = Field(0, ge=0)


class GapRequest(_Request):
    cmd: Literal["bms_gap"]
    since_s: float = Field(0.0, ge=0.0)
    can_id: int | None = None


class SummaryRequest(_Request):
    cmd: Literal["summary"]


class ApplyRequest(_Request):
    cmd: Literal["apply"]
    event: ScenarioEvent


class InjectFrame(_Request):
    can_id: int = Field(ge=0, le=0x1FFFFFFF)
    data: str = Field("", pattern=r"^([0-9A-Fa-f]{2}){0,8}$", description="hex, 0-8 bytes")
    extended: bool = False
    remote: bool = False

    @model_validator(mode="after")
    def _standard_id(self) -> InjectFrame:
        if not self.extended and self.can_id > 0x7FF:
            raise ValueError("a standard frame's ID is at most 0x7FF")
        return self


class InjectRequest(_Request):
    cmd: Literal["inject"]
    frames: tuple[InjectFrame, ...] = Field((), max_length=10_000)
    lines: tuple[Annotated[str, Field(max_length=4096, pattern=r"^[\x00-\xff]*$")], ...] = Field(
        (), max_length=1_000
    )


class BurstRequest(_Request):
    cmd: Literal["burst"]
    rate_hz: float = Field(gt=0.0, le=20_000.0, allow_inf_nan=False)
    duration_s: float = Field(gt=0.0, le=60.0, allow_inf_nan=False)
    seed: int = 0


ControlRequest = Annotated[
    StatusRequest
    | EventsRequest
    | GapRequest
    | SummaryRequest
    | ApplyRequest
    | InjectRequest
    | BurstRequest,
    Field(discriminator="cmd"),
]
_ADAPTER: TypeAdapter[Any] = TypeAdapter(ControlRequest)


class BadRequestError(ValueError):
    """A control line that is not valid JSON or not a valid request."""


def parse_request(line: bytes | str) -> Any:
    """Validate one control line. Raises :class:`BadRequestError` with a one-line reason."""
    try:
        return _ADAPTER.validate_json(line)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise BadRequestError(f"{loc}: {first['msg']}" if loc else str(first["msg"])) from None


def answer(sim: Simulation, request: Any) -> dict[str, Any]:
    """The reply to a query (everything but ``apply``, which the edge performs)."""
    match request:
        case StatusRequest():
            return sim.status()
        case EventsRequest():
            events = sim.recorder.events[request.since :]
            return {"next": len(sim.recorder.events), "events": [e.to_dict() for e in events]}
        case GapRequest():
            gap = sim.recorder.longest_bms_gap_s(
                since_s=request.since_s, until_s=sim.now_s, can_id=request.can_id
            )
            return {"sim_time_s": sim.now_s, "longest_bms_gap_s": gap}
        case SummaryRequest():
            return sim.summary()
    raise BadRequestError(f"{type(request).__name__} is not a query")
