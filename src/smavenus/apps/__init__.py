"""The services' entry points (the console scripts import this package first).

Importing it keeps two things out of the services that none of them uses, measured with
``python -X importtime`` and ``/proc/self/smaps_rollup`` (``docs/benchmarks.md``): three
services share a GX with 1 GB, and what Python imports stays resident for years.

* **OpenSSL** (about 1.4 MiB private memory per process): asyncio imports :mod:`ssl` only
  to offer TLS transports, and no smavenus process speaks TLS (D-Bus is a Unix socket, CAN a
  socket or a tty). A ``None`` entry in ``sys.modules`` is how Python spells "built without
  ssl", which asyncio is written for. uvloop needs :mod:`ssl`: with ``SMAVENUS_UVLOOP=1``
  (uvloop wanted) nothing is blocked.
* **OpenSSL's hashes** (``_hashlib``: libcrypto mapped and relocated in every process, about
  0.4 MiB private and 3 MiB resident each): pydantic imports :mod:`secrets`, and with it
  :mod:`hmac` and :mod:`hashlib`, which load OpenSSL for their digests. No service hashes
  anything; :mod:`hashlib` and :mod:`hmac` are written for a Python without ``_hashlib`` and
  then use CPython's own implementations of the same algorithms.
* **pydantic's plugin discovery** (about 1.9 MiB per process): pydantic imports
  ``importlib.metadata`` (and with it ``email``, ``zipfile``, ``csv``…) only to find plugins
  through package entry points when a model class is built. The services use no pydantic
  plugin; the stand-in below answers "no plugins", as ``PYDANTIC_DISABLE_PLUGINS=1`` would,
  without that import. Should a pydantic version ask its loader for anything else, the
  stand-in loads the real module and hands that over: slower to start, never wrong.

* **importlib.metadata** (about 2.6 MiB private memory, the can-gateway's largest single
  cost): python-can imports it only to read its own version and the entry points of
  third-party CAN interfaces. The gateway opens only python-can's own ``socketcan``,
  ``slcan`` and ``virtual``, so the stand-in (:mod:`smavenus.apps.metadata_stand_in`) finds no
  entry points and reads a version from the ``.dist-info`` folder's name; anything else asked
  of it loads the real module and answers from that.

* **Modules imported for what no service calls** (:mod:`smavenus.apps.deferred`: a stand-in
  that loads the real module on first use; together about 0.5 MiB per process):
  :mod:`secrets` (with :mod:`random`, :mod:`hmac` and :mod:`base64`), which pydantic imports
  for its secret types; the :mod:`pickle` module, of which structlog takes only the
  exception its loggers raise when pickled (the stand-in holds that same class, from
  ``_pickle``); :mod:`gzip`, which python-can imports for compressed log files.

All apply only when this package is imported before pydantic, asyncio and python-can, as the
console scripts do; a test process that imported them earlier is left as it is.
"""

import os
import sys

from smavenus.apps import deferred

#: CPython's own digests, which :mod:`hashlib` (and :mod:`random`, for its seeding) fall back
#: on without OpenSSL. A Python built without them (a trimmed image) keeps OpenSSL's: one
#: missing would fail :mod:`random`'s import, and with it pydantic's.
_BUILTIN_DIGESTS = ("_md5", "_sha1", "_blake2", "_sha3") + (
    ("_sha2",) if sys.version_info >= (3, 12) else ("_sha256", "_sha512")
)


def _has_builtin_digests() -> bool:
    from importlib.util import find_spec  # noqa: PLC0415 - only to decide, at import

    return all(find_spec(name) is not None for name in _BUILTIN_DIGESTS)


if os.environ.get("SMAVENUS_UVLOOP") != "1":
    if "ssl" not in sys.modules:
        sys.modules["ssl"] = None  # type: ignore[assignment]
    if "_hashlib" not in sys.modules and _has_builtin_digests():
        sys.modules["_hashlib"] = None  # type: ignore[assignment]

_LOADER = "pydantic.plugin._loader"


def _no_plugins() -> tuple[()]:
    return ()


if "pydantic" not in sys.modules:
    deferred.defer(_LOADER, get_plugins=_no_plugins)
deferred.defer("secrets")
deferred.defer("base64")
deferred.defer("gzip")
if "pickle" not in sys.modules:
    try:
        import _pickle
    except ImportError:  # a Python without the C pickler: its PicklingError is pickle.py's
        pass
    else:
        deferred.defer("pickle", PicklingError=_pickle.PicklingError)

if "importlib.metadata" not in sys.modules:
    from smavenus.apps import metadata_stand_in

    metadata_stand_in.install()
