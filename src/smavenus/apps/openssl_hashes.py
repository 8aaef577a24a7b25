"""Imported first by the one service that needs OpenSSL's hashes: the web service.

:mod:`smavenus.apps` leaves ``_hashlib`` (OpenSSL's digests) out of every process, because
the three core services hash nothing. The web service derives password keys with
:func:`hashlib.scrypt`, which only OpenSSL provides, so it takes that entry back. Where
:mod:`hashlib` was already imported without it (one process importing every service, as
the boot self-test does), :mod:`hashlib` is loaded again, now with OpenSSL behind it.
"""

import importlib
import sys

if sys.modules.get("_hashlib", "absent") is None:
    del sys.modules["_hashlib"]
    if "hashlib" in sys.modules:
        importlib.reload(sys.modules["hashlib"])
