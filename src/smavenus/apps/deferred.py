"""Stand-ins for modules a library imports at start-up but a service rarely or never uses.

A service holds everything it imports for as long as it runs (years, on a GX with 1 GB), and
freeing a module later gives nothing back: its objects are spread over memory that stays
allocated. So the cheap thing is never to load what is not used. Some libraries import a
module only for a function they offer and the services never call (pydantic imports
:mod:`secrets` for its secret types' comparison, python-can :mod:`gzip` for compressed log
files). For those, :func:`defer` puts a stand-in in ``sys.modules``: the library's
``import secrets`` binds the stand-in, and the first attribute anyone asks of it imports the
real module, puts that in ``sys.modules`` in its place and answers from it. Slower the first
time, never wrong.

:mod:`importlib.util.LazyLoader` does not serve here: Python 3.11's import statement reads a
module's ``__spec__``, which makes a lazy module load itself at the very ``import`` it was
meant to defer.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import threading
import types


def defer(name: str, **answers: object) -> types.ModuleType | None:
    """A stand-in for ``name`` in ``sys.modules``; None if ``name`` is imported or not there.

    ``answers`` are attributes the stand-in holds itself, for a library that takes them at
    its own import (``from pickle import PicklingError``); they must be the real module's own
    objects, so that code holding one sees no difference once the real module is loaded.
    """
    if name in sys.modules:
        return None
    stand_in = types.ModuleType(name, f"a stand-in for {name}, which loads it on first use")
    if "." not in name:  # a submodule's spec would take importing its package to find
        spec = importlib.util.find_spec(name)
        if spec is None:  # not there: importing it fails as it would without us
            return None
        stand_in.__spec__ = spec  # the real module's, for whoever asks importlib about it
    stand_in.__dict__.update(answers)
    loading = threading.Lock()  # two threads asking at once import it once

    def real_module() -> types.ModuleType:
        with loading:
            if sys.modules.get(name) is stand_in:
                del sys.modules[name]
            return importlib.import_module(name)

    def answer_from_real_module(attribute: str) -> object:
        if attribute.startswith("__"):  # the import system asking (``__path__``…): not a use
            raise AttributeError(attribute)
        return getattr(real_module(), attribute)

    stand_in.__getattr__ = answer_from_real_module  # type: ignore[method-assign]
    sys.modules[name] = stand_in
    return stand_in
