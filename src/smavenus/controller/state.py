"""What the bms-controller keeps across restarts: one small JSON document.

Read back through this model (the file is a trust boundary). Unknown keys are ignored so a
newer file read by an older version does not fail.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class ControllerState(BaseModel):
    model_config = ConfigDict(extra="ignore")

    #: When the last full charge ended (for the periodic full charge).
    last_full_charge_unix: float | None = None
