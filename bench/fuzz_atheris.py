"""Coverage-guided fuzzing (atheris, libFuzzer) of what takes bytes from outside.

    pip install atheris
    python bench/fuzz_atheris.py decode -runs=500000
    python bench/fuzz_atheris.py payload -runs=200000

Targets:

* ``decode``: any CAN ID and payload through the codec: a frame model or FrameDecodeError;
* ``payload``: any bytes as a BmsCommand/ControllerStatus/DvccWrites JSON payload: a message
  or a ValidationError;
* ``config``: any bytes as the TOML configuration file: a configuration or a ConfigError.

Anything else is a crash that libFuzzer reports with the input that caused it. The
hypothesis tests in tests/fuzz/ run in the test suite; this is the deeper, longer search.
"""

from __future__ import annotations

import contextlib
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import atheris  # type: ignore[import-not-found]

with atheris.instrument_imports():
    from pydantic import ValidationError

    from smavenus.config import parse_config, read_toml
    from smavenus.errors import ConfigError, FrameDecodeError
    from smavenus.ipc.messages import BmsCommand, ControllerStatus, DvccWrites
    from smavenus.protocol import decode

MODELS = (BmsCommand, ControllerStatus, DvccWrites)
CONFIG = Path(tempfile.mkdtemp()) / "smavenus.toml"


def fuzz_decode(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    can_id = fdp.ConsumeIntInRange(0, 0x7FF)
    with contextlib.suppress(FrameDecodeError):
        decode(can_id, fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 8)))


def fuzz_payload(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    model = MODELS[fdp.ConsumeIntInRange(0, len(MODELS) - 1)]
    with contextlib.suppress(ValidationError):
        model.model_validate_json(fdp.ConsumeBytes(fdp.remaining_bytes()))


def fuzz_config(data: bytes) -> None:
    CONFIG.write_bytes(data)
    with contextlib.suppress(ConfigError):
        parse_config(read_toml(CONFIG))


TARGETS: dict[str, Callable[[bytes], None]] = {
    "decode": fuzz_decode,
    "payload": fuzz_payload,
    "config": fuzz_config,
}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in TARGETS:
        sys.exit(f"usage: {sys.argv[0]} {{{','.join(TARGETS)}}} [libFuzzer options]")
    target = TARGETS[sys.argv.pop(1)]
    atheris.Setup(sys.argv, target)
    atheris.Fuzz()
