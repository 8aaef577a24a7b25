"""The building blocks every scenario section and event is made of (``smavenus.sim.scenario``
assembles the file; ``smavenus.sim.scenario_venus`` holds the Venus-side sections)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from smavenus.sim.faults import StateRequest

Watts = Annotated[float, Field(ge=0.0, le=100_000.0, allow_inf_nan=False)]
Seconds = Annotated[float, Field(ge=0.0, le=10 * 365 * 86400, allow_inf_nan=False)]
Percent = Annotated[float, Field(ge=0.0, le=100.0, allow_inf_nan=False)]

#: A "lie" without an explicit offset: the 58.8 V a monitor claims while the SI sees 52.8 V.
DEFAULT_LIE_OFFSET_V = 6.0


class ScenarioModel(BaseModel):
    """Unknown keys are errors; values are immutable once loaded."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


class TimedEvent(ScenarioModel):
    at_s: Seconds = Field(0.0, description="simulated time at which the event applies")


class ServiceStateEvent(TimedEvent):
    """A fault state for a simulated Venus service (see ``smavenus.sim.faults``)."""

    state: StateRequest
    voltage_offset_v: float = Field(
        DEFAULT_LIE_OFFSET_V,
        ge=-60.0,
        le=60.0,
        allow_inf_nan=False,
        description="lie only: added to the published pack voltage",
    )

    @model_validator(mode="after")
    def _offset_only_for_lie(self) -> ServiceStateEvent:
        if "voltage_offset_v" in self.model_fields_set and self.state != "lie":
            raise ValueError("voltage_offset_v goes with state = 'lie' only")
        return self
