"""Keys renamed since an earlier version: still read, moved to the new name, with a notice.

A renamed key must never make an existing installation fail to start (the SI would fault
after 60 s without BMS frames), nor be silently ignored. Each old spelling is moved to the
new one before validation; the caller logs the notices (``config_key_deprecated``) and
``smavenus config check`` prints them. Giving both spellings is an error: which one was meant?
"""

from __future__ import annotations

from typing import Any

#: Whole sections renamed: old name → new name.
RENAMED_SECTIONS: dict[str, str] = {
    # "bms" named both the SMA external-BMS role on CAN and the charge controller.
    "bms": "controller",
}
#: Keys renamed inside a section: (section, old key) → new key.
RENAMED_KEYS: dict[tuple[str, str], str] = {
    # The code and the logs say "reopen" (the bus is closed and opened again).
    ("gateway", "rebuild_backoff_max_s"): "reopen_backoff_max_s",
    ("gateway", "rebuild_backoff_initial_s"): "reopen_backoff_initial_s",
    ("gateway", "bus_off_rebuild_after_s"): "bus_off_reopen_after_s",
}


def migrate_legacy_keys(data: dict[str, Any]) -> tuple[dict[str, Any], list[str], list[str]]:
    """``(document with new names, notices, conflicts)``; ``data`` itself is not changed."""
    out: dict[str, Any] = dict(data)
    notices: list[str] = []
    conflicts: list[str] = []
    for old, new in RENAMED_SECTIONS.items():
        if old not in out:
            continue
        if new in out:
            conflicts.append(f"{old}: the old name of [{new}]; give only [{new}]")
            continue
        out[new] = out.pop(old)
        notices.append(f"[{old}] is now [{new}]: rename the section (the old name still works)")
    for (section, old), new in RENAMED_KEYS.items():
        values = out.get(section)
        if not isinstance(values, dict) or old not in values:
            continue
        if new in values:
            conflicts.append(f"{section}.{old}: the old name of {section}.{new}; give only {new}")
            continue
        values = dict(values)
        values[new] = values.pop(old)
        out[section] = values
        notices.append(f"{section}.{old} is now {section}.{new} (the old name still works)")
    return out, notices, conflicts
