"""What a pure core tells its edge to log: one event per transition, never per cycle.

The cores do not log (they have no logger and no clock); they return these, and the edge
logs each as a structlog event: ``getattr(log, event.level)(event.name, **event.fields)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Level = Literal["debug", "info", "warning", "error"]


@dataclass(frozen=True, slots=True)
class LogEvent:
    """A snake_case fact with its context, e.g. ``charge_state_changed old=bulk new=absorption``."""

    name: str
    level: Level = "info"
    fields: Mapping[str, Any] = field(default_factory=dict)
