"""Which CAN errors mean "the bus is gone" (reopen it) and which mean "one frame was lost"."""

from __future__ import annotations

import errno

import can

#: errno values that mean the interface is gone, not that one frame could not be sent.
FATAL_ERRNOS = frozenset(
    {
        errno.ENETDOWN,
        errno.ENODEV,
        errno.ENXIO,
        errno.EIO,
        errno.EBADF,
        errno.EPIPE,
        errno.ENOTCONN,
        errno.ENOENT,
    }
)


class BusDeadError(can.CanOperationError):
    """The interface is gone (adapter unplugged, pty closed, interface down)."""


def is_fatal(exc: BaseException) -> bool:
    """Whether ``exc`` means the bus must be rebuilt (rather than one frame being lost)."""
    if isinstance(exc, BusDeadError):
        return True
    codes = {getattr(exc, "error_code", None), getattr(exc, "errno", None)}
    cause = exc.__cause__ or exc.__context__
    if isinstance(cause, OSError):
        codes.add(cause.errno)
    if codes & FATAL_ERRNOS:
        return True
    # python-can's virtual bus after shutdown; serial errors from a vanished device.
    text = str(exc)
    return "closed bus" in text or type(exc).__module__.startswith("serial")


# -- opening ------------------------------------------------------------------------------
