"""The real gateway with one staged fault (run by the defence and restart tests).

    python faulty_gateway.py --config FILE          # the production main(), argv and all
    SMAVENUS_TEST_FAULT=send-timer SMAVENUS_TEST_FAULT_AFTER_S=3 ...

Everything is the production code path (``smavenus.apps.can_gateway.main``: configuration,
the loop's exception handler, the watchdog, the exit status); only the fault is staged:

``send-timer``
    the send timer's callback raises once, ``AFTER_S`` seconds after start;
``callback``
    some other loop callback raises once (``loop.call_later``).
"""

from __future__ import annotations

import os
import sys
import time

from smavenus.apps import can_gateway
from smavenus.io.gateway.runtime import GatewayRuntime


class StagedFaultError(RuntimeError):
    pass


def stage(fault: str, after_s: float) -> None:
    fail_at = time.monotonic() + after_s
    if fault == "send-timer":
        original = GatewayRuntime._on_timer
        fired = False

        def failing_timer(self: GatewayRuntime) -> None:
            nonlocal fired
            if not fired and time.monotonic() >= fail_at:
                fired = True
                raise StagedFaultError("staged: the send timer's callback raised")
            original(self)

        GatewayRuntime._on_timer = failing_timer  # type: ignore[method-assign]
    elif fault == "callback":
        original_start = GatewayRuntime.start

        def start_and_stage(self: GatewayRuntime) -> None:
            import asyncio  # noqa: PLC0415

            def explode() -> None:
                raise StagedFaultError("staged: a loop callback raised")

            asyncio.get_running_loop().call_later(after_s, explode)
            original_start(self)

        GatewayRuntime.start = start_and_stage  # type: ignore[method-assign]
    else:
        raise SystemExit(f"unknown SMAVENUS_TEST_FAULT {fault!r}")


def main() -> int:
    stage(
        os.environ.get("SMAVENUS_TEST_FAULT", "send-timer"),
        float(os.environ.get("SMAVENUS_TEST_FAULT_AFTER_S", "2")),
    )
    return can_gateway.main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
