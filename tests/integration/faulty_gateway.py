"""The real gateway with one staged fault (run by the defence and restart tests).

    python faulty_gateway.py --config FILE          # the production main(), argv and all
    SMAVENUS_TEST_FAULT=send-timer SMAVENUS_TEST_FAULT_AFTER_SETS=5 ...

Everything is the production code path (``smavenus.apps.can_gateway.main``: configuration,
the loop's exception handler, the watchdog, the exit status); only the fault is staged. It
comes after the gateway has handed ``AFTER_SETS`` BMS frame sets to the bus (an event, not a
time: a loaded machine that starts slowly still sends them first):

``send-timer``
    the send timer's callback raises once;
``callback``
    some other loop callback raises once (``loop.call_soon``).
"""

from __future__ import annotations

import asyncio
import os
import sys

from smavenus.apps import can_gateway
from smavenus.gateway.frameset import FrameSet
from smavenus.io.gateway.runtime import GatewayRuntime


class StagedFaultError(RuntimeError):
    pass


def stage(fault: str, after_sets: int) -> None:
    if fault not in ("send-timer", "callback"):
        raise SystemExit(f"unknown SMAVENUS_TEST_FAULT {fault!r}")
    sets_sent = 0
    fired = False
    original_send = GatewayRuntime._send
    original_timer = GatewayRuntime._on_timer

    def explode() -> None:
        raise StagedFaultError("staged: a loop callback raised")

    def counting_send(self: GatewayRuntime, frames: FrameSet) -> None:
        nonlocal sets_sent, fired
        original_send(self, frames)
        sets_sent += 1
        if fault == "callback" and not fired and sets_sent >= after_sets:
            fired = True
            asyncio.get_running_loop().call_soon(explode)

    def failing_timer(self: GatewayRuntime) -> None:
        nonlocal fired
        if fault == "send-timer" and not fired and sets_sent >= after_sets:
            fired = True
            raise StagedFaultError("staged: the send timer's callback raised")
        original_timer(self)

    GatewayRuntime._send = counting_send  # type: ignore[method-assign]
    GatewayRuntime._on_timer = failing_timer  # type: ignore[method-assign]


def main() -> int:
    stage(
        os.environ.get("SMAVENUS_TEST_FAULT", "send-timer"),
        int(os.environ.get("SMAVENUS_TEST_FAULT_AFTER_SETS", "5")),
    )
    return can_gateway.main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
