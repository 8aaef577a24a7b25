"""The D-Bus edge shared by every process: primitives on dbus-fast's low-level API, the
Victron BusItem export and follower, localsettings, and the feeds between our processes.

The primitives are re-exported here (``from smavenus.io.dbus import call``)."""

from smavenus.io.dbus.primitives import (
    DBUS_NAME,
    DBUS_PATH,
    ERROR_ACCESS_DENIED,
    ERROR_FAILED,
    ERROR_INVALID_ARGS,
    ERROR_UNKNOWN_METHOD,
    INTROSPECTABLE,
    MethodError,
    MethodRouter,
    NameOwnerWatcher,
    SignalSubscription,
    add_match,
    call,
    connect_system_bus,
    emit,
    match_rule,
    new_signal,
    remove_match,
    request_name,
)

__all__ = [
    "DBUS_NAME",
    "DBUS_PATH",
    "ERROR_ACCESS_DENIED",
    "ERROR_FAILED",
    "ERROR_INVALID_ARGS",
    "ERROR_UNKNOWN_METHOD",
    "INTROSPECTABLE",
    "MethodError",
    "MethodRouter",
    "NameOwnerWatcher",
    "SignalSubscription",
    "add_match",
    "call",
    "connect_system_bus",
    "emit",
    "match_rule",
    "new_signal",
    "remove_match",
    "request_name",
]
