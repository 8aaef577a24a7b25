"""What the bms-controller keeps across restarts: one small JSON document.

A restarted controller **continues, it does not start over**: protections latched before
the restart stay latched, the facts learnt about the installation (cell voltages and a
temperature have been published, a BMS belongs here) stay learnt, and the charge state
(bulk, absorption, float and the time in it) is taken over when the file is recent.

Read back through this model (the file is a trust boundary: a hand-edited or damaged file
must not relax a protection; it is set aside and the defaults — nothing latched, a BMS not
yet seen — are the cautious start, because every protection is evaluated afresh on the
first cycle). Unknown keys are ignored so a newer file read by an older version does not fail.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

Finite = Annotated[float, Field(allow_inf_nan=False)]

#: A charge state older than this is not taken over (a long outage: start in bulk).
CHARGE_STATE_MAX_AGE_S = 600.0


class LatchedProtection(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    name: str
    level: Literal[1, 2]
    since_unix: Finite


class ControllerState(BaseModel):
    model_config = ConfigDict(extra="ignore")

    #: When the last full charge ended (for the periodic full charge).
    last_full_charge_unix: Finite | None = None
    #: When this state was saved (wall clock).
    saved_unix: Finite | None = None
    charge_state: Literal["bulk", "absorption", "float"] | None = None
    charge_state_since_unix: Finite | None = None
    protections: tuple[LatchedProtection, ...] = ()
    sensor_disagreement: bool = False
    cells_seen: bool = False
    bms_service: str | None = None
    bms_last_charge_voltage_v: Finite | None = None
    #: The [controller] values of the TOML file at the last start (to notice an edit).
    toml_settings: dict[str, float | int | str | bool] = Field(default_factory=dict)
