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

#: The stand-ins put in place, by module name, until their real module is loaded.
_STAND_INS: dict[str, types.ModuleType] = {}
_SWAPPING = threading.Lock()


def defer(name: str, **answers: object) -> types.ModuleType | None:
    """A stand-in for ``name`` in ``sys.modules``; None if ``name`` is imported or not there.

    ``answers`` are attributes the stand-in keeps answering itself: the real module's own
    objects, for a library that takes them at its own import (``from pickle import
    PicklingError``), or answers of ours that are meant to stay (pydantic's plugin loader
    finds no plugins). Anything else is asked of the real module (:func:`real_module`).
    """
    if name in sys.modules:
        return None
    stand_in = types.ModuleType(name, f"a stand-in for {name}, which loads it on first use")
    parent, _, child = name.rpartition(".")
    if not parent or parent in sys.modules:  # else finding the spec would import the package
        spec = importlib.util.find_spec(name)
        if spec is None:  # not there: importing it fails as it would without us
            return None
        stand_in.__spec__ = spec  # the real module's, for whoever asks importlib about it
        if parent:  # ``import importlib.metadata`` then reads it as the package's attribute
            setattr(sys.modules[parent], child, stand_in)
    stand_in.__dict__.update(answers)

    def answer_from_real_module(attribute: str) -> object:
        if attribute.startswith("__"):  # the import system asking (``__path__``…): not a use
            raise AttributeError(attribute)
        return getattr(real_module(name), attribute)

    stand_in.__getattr__ = answer_from_real_module  # type: ignore[method-assign]
    _STAND_INS[name] = stand_in
    sys.modules[name] = stand_in
    return stand_in


def real_module(name: str) -> types.ModuleType:
    """The real module ``name``, imported now in its stand-in's place if one still holds it.

    Only taking the stand-in out is under a lock: the import itself is importlib's, whose
    own lock lets one thread import while the others wait for the module, so threads asking
    at once load it once, and no lock of ours is held while other modules import.
    """
    with _SWAPPING:
        stand_in = _STAND_INS.pop(name, None)
        if stand_in is not None and sys.modules.get(name) is stand_in:
            del sys.modules[name]
    return importlib.import_module(name)
