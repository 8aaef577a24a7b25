"""The real gateway, on a loop that gets stuck once it has fed the SI (run by the watchdog test).

    python stalling_gateway.py CONFIG STALL_AFTER_SETS

Everything is the production code path, including the watchdog's action (safe frames, then
``os._exit(3)``); only the stuck loop is staged: a ``time.sleep`` scheduled on the loop
right after the gateway has handed ``STALL_AFTER_SETS`` BMS frame sets to the bus (an
event, not a time: a loaded machine that starts slowly still sends them first).
"""

from __future__ import annotations

import asyncio
import sys
import time

from smavenus.apps.can_gateway import run_gateway
from smavenus.config import load_config
from smavenus.gateway.frameset import FrameSet
from smavenus.io.gateway.runtime import GatewayRuntime
from smavenus.log import configure_logging
from smavenus.runtime import run_service


def stall_after(sets: int) -> None:
    sent = 0
    original_send = GatewayRuntime._send

    def counting_send(self: GatewayRuntime, frames: FrameSet) -> None:
        nonlocal sent
        original_send(self, frames)
        sent += 1
        if sent == sets:
            asyncio.get_running_loop().call_soon(time.sleep, 60.0)

    GatewayRuntime._send = counting_send  # type: ignore[method-assign]


def main() -> int:
    cfg = load_config(sys.argv[1])
    stall_after(int(sys.argv[2]))
    configure_logging("can-gateway", "info", "plain")
    return run_service(lambda stop: run_gateway(cfg, stop), process="can-gateway")


if __name__ == "__main__":
    sys.exit(main())
