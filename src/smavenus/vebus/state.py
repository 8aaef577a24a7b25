"""What the vebus-publisher keeps across restarts: one small JSON document.

It is read back through this model (the file is a trust boundary: a hand-edited or damaged
file must not put a negative counter on the bus). Unknown keys are ignored so a newer file
read by an older version does not fail.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from smavenus.vebus.enums import Mode

NonNegative = Annotated[float, Field(ge=0.0, allow_inf_nan=False)]


class PublisherState(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    version: Literal[1] = 1
    #: Energy per counter name (``AcIn1ToAcOut`` …) in joules (W·s).
    energy_j: dict[str, NonNegative] = Field(default_factory=dict)
    #: Installation facts the SI has shown at least once.
    si_seen: bool = False
    phases_seen: int = Field(0, ge=0, le=3)
    ac_input_seen: bool = False
    #: The last /Mode accepted (On or Off), when mode control is enabled.
    mode: Literal[Mode.ON, Mode.OFF] | None = None
    #: /CustomName, kept here only when localsettings is not available.
    custom_name: str = ""
