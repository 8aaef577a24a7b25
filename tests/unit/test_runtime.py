"""run_service: a stop asked for while the service starts is a clean stop, on either loop.

Each case runs in a fresh interpreter (signal handlers are per process). The SIGTERM is sent
the moment the service logs ``service_starting``, before its loop runs: what a supervisor
does that stops a service it has just started.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

SERVICE = """
import asyncio, os, signal, sys
import structlog
from smavenus import runtime

class Log:
    def info(self, event, **fields):
        print(event, flush=True)
        if event == "service_starting":
            os.kill(os.getpid(), signal.SIGTERM)
    def __getattr__(self, name):
        return lambda *args, **fields: None

runtime.structlog.get_logger = lambda *args, **kwargs: Log()

async def main(stop):
    await asyncio.wait_for(stop.wait(), 30)
    print("stopped", flush=True)
    return 0

sys.exit(runtime.run_service(main, process="test"))
"""


@pytest.mark.parametrize("uvloop", ["0", "1"])
def test_sigterm_right_after_service_starting_is_a_clean_stop(uvloop: str) -> None:
    result = subprocess.run(
        [sys.executable, "-c", SERVICE],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "SMAVENUS_UVLOOP": uvloop},
    )
    assert result.returncode == 0, result
    assert result.stdout.split() == ["service_starting", "stopped", "service_stopped"]
