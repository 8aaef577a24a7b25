"""The real gateway, on a loop that gets stuck after a while (run by the watchdog test).

    python stalling_gateway.py CONFIG STALL_AFTER_S

Everything is the production code path, including the watchdog's action (safe frames, then
``os._exit(3)``); only the stuck loop is staged: a ``time.sleep`` scheduled on the loop.
"""

from __future__ import annotations

import asyncio
import sys
import time

from smavenus.apps.can_gateway import run_gateway
from smavenus.config import load_config
from smavenus.log import configure_logging
from smavenus.runtime import run_service


def main() -> int:
    cfg = load_config(sys.argv[1])
    stall_after_s = float(sys.argv[2])
    configure_logging("can-gateway", "info", "plain")

    async def stalling(stop: asyncio.Event) -> int:
        asyncio.get_running_loop().call_later(stall_after_s, time.sleep, 60.0)
        return await run_gateway(cfg, stop)

    return run_service(stalling, process="can-gateway")


if __name__ == "__main__":
    sys.exit(main())
