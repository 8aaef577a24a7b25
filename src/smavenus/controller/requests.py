"""What a person may ask of the controller while it runs (the web page, over D-Bus).

Two requests, each judged here and carried out on the next step:

* **start a full charge now**: the charge state machine goes to bulk, as when a full charge
  is due (``full_charge_due``); it then ends like any full charge, on the tail current, and
  counts as one. Refused while a battery BMS sets the charge voltage (``follow_bms``,
  ``bms_lost``): the BMS decides alone then.
* **acknowledge alarms**: an SMA alarm is held for ``alarm_min_hold_s`` after its rule let
  go (so the SI does not flap); a person who has seen it may release it early. Only held
  alarms whose rule is no longer at alarm level are released, never one a rule still raises.
"""

from __future__ import annotations

from smavenus.controller.charger import ChargeState
from smavenus.controller.controller import ChargeController
from smavenus.events import LogEvent
from smavenus.ipc.messages import ConditionName


def start_full_charge(controller: ChargeController, now: float) -> str | None:
    """To bulk with a full charge due. Returns why it is refused (None: accepted)."""
    mode = controller.last.mode if controller.last is not None else "own"
    if mode != "own":
        return f"the battery BMS controls the charge ({mode})"
    charger = controller.charger
    old = charger.state
    charger.state, charger.since, charger.reason = ChargeState.BULK, now, "full_charge_requested"
    controller.note(
        [
            LogEvent(
                "charge_state_changed",
                "info",
                {"old": old.value, "new": "bulk", "reason": "full_charge_requested"},
            )
        ]
    )
    return None


def acknowledge_alarms(controller: ChargeController, now: float) -> list[ConditionName]:
    """Release the held alarms no rule raises any more; returns the conditions released."""
    events: list[LogEvent] = []
    released = controller.protections.acknowledge(now, events)
    controller.note(events)
    return released
