"""The services' entry points (the console scripts import them first).

Importing this package keeps OpenSSL out of the services: asyncio imports :mod:`ssl` only
to offer TLS transports, which no smavenus process uses (D-Bus is a Unix socket, CAN a
socket or a tty), and OpenSSL costs each process about 1.4 MiB of private memory (three
services on a GX with 1 GB; see ``docs/benchmarks.md``). A ``None`` entry in
``sys.modules`` is how Python spells "built without ssl", which asyncio is written for.
uvloop needs :mod:`ssl`, so with ``SMAVENUS_UVLOOP=1`` (uvloop wanted) nothing is blocked.
"""

import os
import sys

if "ssl" not in sys.modules and os.environ.get("SMAVENUS_UVLOOP") != "1":
    sys.modules["ssl"] = None  # type: ignore[assignment]
