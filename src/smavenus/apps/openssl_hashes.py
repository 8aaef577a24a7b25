"""Imported first by the one service that needs OpenSSL's hashes: the web service.

:mod:`smavenus.apps` leaves ``_hashlib`` (OpenSSL's digests) out of every process, because
the three core services hash nothing. The web service derives password keys with
:func:`hashlib.scrypt`, which only OpenSSL provides, so it takes that entry back before
anything imports :mod:`hashlib`. Imported after :mod:`hashlib`, it cannot help: it says so
rather than leave a web service that cannot check a password.
"""

import sys

if sys.modules.get("_hashlib", "absent") is None:
    if "hashlib" in sys.modules:
        raise ImportError("smavenus.apps.openssl_hashes must be imported before hashlib")
    del sys.modules["_hashlib"]
