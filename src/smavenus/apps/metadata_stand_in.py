"""A stand-in for :mod:`importlib.metadata` that answers what python-can asks without it.

Why (``smavenus.apps`` and ``docs/benchmarks.md``): the real module imports ``email``,
``zipfile``, ``csv`` and more, about 2.6 MiB of private memory that a service then holds for
years, and python-can imports it at ``import can`` for two questions only: its own version
(``version("python-can")``, in a ``PackageNotFoundError`` guard) and the third-party
interfaces registered as entry points (``entry_points(group="can.interface")``).

The answers: a version read from the name of the distribution's ``<name>-<version>.dist-info``
folder on ``sys.path`` (what pip writes), else ``PackageNotFoundError`` as when nothing is
installed; no entry points for python-can's groups, because smavenus opens only python-can's
own interfaces (``io/can/opening.py``). Anything else — another group, another attribute,
``distributions()``… — loads the real module, puts it in place of the stand-in and answers
from it: slower to start, never wrong.
"""

from __future__ import annotations

import os
import re
import sys
from typing import Any

from smavenus.apps import deferred

NAME = "importlib.metadata"
#: The entry-point groups python-can reads at import (interfaces, and its message formats).
CAN_GROUPS = frozenset({"can.interface", "can.io.message_reader", "can.io.message_writer"})


class PackageNotFoundError(ModuleNotFoundError):
    """No installed distribution of that name (as the real module's class of that name)."""

    @property
    def name(self) -> str:  # type: ignore[override]
        (name,) = self.args
        return str(name)


def _normalised(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def version(distribution_name: str) -> str:
    """The version in the name of ``<name>-<version>.dist-info``, the first one on sys.path."""
    wanted = _normalised(distribution_name)
    for entry in sys.path:
        try:
            names = os.listdir(entry or ".")
        except OSError:
            continue
        for folder in names:
            stem, dot, suffix = folder.rpartition(".")
            if dot and suffix == "dist-info" and "-" in stem:
                name, _, found = stem.partition("-")
                if _normalised(name) == wanted and found:
                    return found
    raise PackageNotFoundError(distribution_name)


def entry_points(**params: Any) -> Any:
    if set(params) == {"group"} and params["group"] in CAN_GROUPS:
        return ()
    return deferred.real_module(NAME).entry_points(**params)


def install() -> None:
    """Put the stand-in in place of a module nobody has imported yet."""
    deferred.defer(
        NAME, PackageNotFoundError=PackageNotFoundError, version=version, entry_points=entry_points
    )
