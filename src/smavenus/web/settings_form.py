"""The settings page: the controller's live settings with their bounds, the ``[battery]``
envelope they must stay inside, and the judgement of a change. Pure.

Nothing here is a second copy of a rule. The rows, their localsettings paths and bounds come
from :data:`smavenus.controller.settings.SETTINGS` and :func:`~smavenus.controller.settings.
bounds`; a change is judged with :func:`~smavenus.controller.settings.apply` on the
configuration in force (the TOML file with localsettings' values applied, as the controller
does), so what the page accepts is exactly what the controller will accept.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from smavenus.config import AppConfig, ControllerConfig
from smavenus.config.envelope import cell_bounds
from smavenus.controller.settings import (
    BY_KEY,
    CHOICES,
    SETTINGS,
    SettingValue,
    apply,
    bounds,
    to_setting,
)

#: How the page shows each field kind.
KINDS: dict[type, str] = {float: "number", int: "integer", bool: "bool", str: "text"}


def kind_of(key: str) -> str:
    if key in CHOICES:
        return "choice"
    return KINDS[ControllerConfig.model_fields[key].annotation]  # type: ignore[index]


def effective_config(toml: AppConfig, stored: Mapping[str, Any]) -> AppConfig:
    """The configuration the controller runs with: the TOML file, then localsettings' values
    (by path) applied with the controller's own rule (a value it would refuse is not in force)."""
    changes = {s.key: stored[s.path] for s in SETTINGS if s.path in stored}
    return apply(toml, changes).config


def setting_rows(cfg: AppConfig) -> list[dict[str, Any]]:
    rows = []
    for setting in SETTINGS:
        field = ControllerConfig.model_fields[setting.key]
        low, high = bounds(setting.key, cfg)
        rows.append(
            {
                "key": setting.key,
                "path": setting.path,
                "kind": kind_of(setting.key),
                "value": getattr(cfg.controller, setting.key),
                "min": low,
                "max": high,
                "choices": list(CHOICES.get(setting.key, ())),
                "description": field.description or "",
            }
        )
    return rows


def envelope(cfg: AppConfig) -> dict[str, Any]:
    """``[battery]``: the hard limits only the TOML file sets, and the cell window."""
    low, high = cell_bounds(cfg.battery)
    return cfg.battery.model_dump(mode="json") | {"cell_window_v": [low, high]}


@dataclass(frozen=True)
class Judgement:
    setting: SettingValue | None  #: what to write to localsettings (None: refused)
    reason: str | None  #: why it is refused
    value: Any = None  #: the value in force after it, as the config holds it


def _parse_bool(text: str | float | bool) -> int:
    words = {"1": 1, "true": 1, "on": 1, "yes": 1, "0": 0, "false": 0, "off": 0, "no": 0}
    if isinstance(text, bool):
        return int(text)
    try:
        return words[str(text).strip().lower()]
    except KeyError:
        raise ValueError("must be on or off") from None


def _parse(key: str, text: str | float | bool) -> Any:
    """The page's input as the localsettings value the controller reads. Raises ValueError."""
    kind = kind_of(key)
    if isinstance(text, bool) or kind == "bool":
        return _parse_bool(text)
    if kind == "choice":
        if text in CHOICES[key]:
            return CHOICES[key].index(str(text))
        raise ValueError(f"must be one of {', '.join(CHOICES[key])}")
    if kind == "number":
        return float(text)
    if kind == "integer":
        number = float(text)
        if not number.is_integer():
            raise ValueError("must be a whole number")
        return int(number)
    return str(text)


def judge(cfg: AppConfig, key: str, text: str | float | bool) -> Judgement:
    """Would the controller accept ``key`` = ``text`` on top of ``cfg``?"""
    if key not in BY_KEY:
        return Judgement(None, f"{key}: not a live setting")
    try:
        raw = _parse(key, text)
    except ValueError as exc:
        return Judgement(None, f"controller.{key}: {exc}")
    outcome = apply(cfg, {key: raw})
    if key in outcome.rejected:
        return Judgement(None, outcome.rejected[key])
    value = outcome.accepted.get(key, getattr(cfg.controller, key))
    return Judgement(to_setting(key, value), None, value)
