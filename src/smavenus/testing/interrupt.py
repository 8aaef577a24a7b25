"""A pytest plugin: a hang-up or a TERM unwinds the test run as Ctrl-C does.

The tests start real components in miniature, some in sessions of their own (svscan under
:class:`smavenus.testing.stack.Stack`, so that stopping it stops its whole tree). Killed
where it stands by SIGHUP (the terminal or SSH session closed) or SIGTERM, a test process
would leave those running, with their private dbus-daemon, for nobody to stop. Turned into
:class:`KeyboardInterrupt`, the signal unwinds every ``with`` block and fixture instead,
and pytest reports the run as interrupted (exit 2). A signal somebody chose to ignore
(``nohup``) stays ignored.
"""

from __future__ import annotations

import signal

import pytest

UNWINDING_SIGNALS = (signal.SIGHUP, signal.SIGTERM)


def _unwind(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def pytest_configure(config: pytest.Config) -> None:
    for signum in UNWINDING_SIGNALS:
        if signal.getsignal(signum) is signal.SIG_DFL:
            signal.signal(signum, _unwind)
