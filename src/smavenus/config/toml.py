"""Reading and writing the TOML of the configuration file and the simulator's scenarios."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from smavenus.errors import ConfigError

if TYPE_CHECKING:
    from smavenus.config.app import AppConfig

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib


def read_toml(path: Path) -> dict[str, Any]:
    """A TOML document as a dict, or :class:`ConfigError` saying why it cannot be read."""
    try:
        with path.open("rb") as handle:
            data: dict[str, Any] = tomllib.load(handle)

    except OSError as exc:
        raise ConfigError([f"{path}: cannot read ({exc.strerror or exc})"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{path}: not valid TOML ({exc})"]) from None
    except UnicodeDecodeError as exc:  # TOML is UTF-8; found by tests/fuzz
        raise ConfigError([f"{path}: not valid TOML (not UTF-8: {exc.reason})"]) from None
    return data


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


def toml_document(sections: Mapping[str, Mapping[str, Any]]) -> str:
    """``{section: {key: value}}`` as TOML; a ``None`` value is written as a comment."""
    out: list[str] = []
    for section_name, values in sections.items():
        out.append(f"[{section_name}]")
        for key, value in values.items():
            if value is None:
                out.append(f"# {key} = (not set)")
            else:
                out.append(f"{key} = {_toml_value(value)}")
        out.append("")
    return "\n".join(out)


def dump_config(cfg: AppConfig) -> str:
    """The effective configuration as TOML (``None`` values appear as comments)."""
    return toml_document(
        {
            name: {key: getattr(section, key) for key in type(section).model_fields}
            for name, section in ((n, getattr(cfg, n)) for n in type(cfg).model_fields)
        }
    )
