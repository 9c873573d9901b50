"""Python values become Arrow arrays without importing pandas (issue 17).

``pyarrow.array`` first asks whether a value is a pandas object, and to know, pyarrow
imports pandas on its first conversion of Python objects in a process: where pandas is
installed (the Spark extra, the development environment) that import cost a one-row query
of the CLI on SQLite more CPU than the query (and ~50 MB). Until pandas is loaded no value
can be a pandas object, so :func:`skip_pandas_probe` lets pyarrow's first probe find pandas
missing. pyarrow remembers that answer; so that it does not keep it once pandas is loaded
after all (by pyspark, a notebook, a test), the first import of pandas afterwards makes
pyarrow look again (:class:`_Rearm`), and pandas objects convert as before.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.machinery
import sys
import threading
from collections.abc import Sequence
from types import ModuleType
from typing import Any

_PANDAS = "pandas"
_lock = threading.Lock()
_done = False


class _Absent(importlib.abc.MetaPathFinder):
    """Refuses pandas while pyarrow probes for it."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname == _PANDAS:
            raise ModuleNotFoundError(f"No module named {_PANDAS!r}", name=_PANDAS)
        return None


class _Loader(importlib.abc.Loader):
    """pandas' own loader; once pandas is loaded, pyarrow is told to look for it again."""

    def __init__(self, loader: importlib.abc.Loader) -> None:
        self._loader = loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self._loader.exec_module(module)
        _reprobe()

    def __getattr__(self, name: str) -> Any:  # the rest of the loader's interface
        return getattr(self._loader, name)


class _Rearm(importlib.abc.MetaPathFinder):
    """Finds pandas with the other finders, the first time it is imported, and wraps its
    loader in :class:`_Loader`; then leaves ``sys.meta_path``."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != _PANDAS:
            return None
        _leave(self)
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None)
            spec: importlib.machinery.ModuleSpec | None = (
                None if find is None else find(fullname, path, target)
            )
            if spec is not None:
                if spec.loader is not None:
                    spec.loader = _Loader(spec.loader)
                return spec
        return None


def _leave(finder: importlib.abc.MetaPathFinder) -> None:
    with contextlib.suppress(ValueError):  # already gone
        sys.meta_path.remove(finder)


def _reprobe() -> None:
    """pyarrow's pandas shim imports pandas again when a pandas API is asked for: the
    ``pd`` attribute is the cheapest one (a private name: without it, pyarrow re-probes
    on its first pandas conversion, such as ``to_pandas``)."""
    import pyarrow.lib

    shim = getattr(pyarrow.lib, "_pandas_api", None)
    with contextlib.suppress(Exception):  # pyarrow's own complaint (say, an old pandas)
        getattr(shim, "pd", None)


def skip_pandas_probe() -> None:
    """Answer pyarrow's probe for pandas "absent" while pandas is not loaded (once per
    process; nothing to do when pandas is already loaded)."""
    global _done
    if _done:
        return
    with _lock:
        if _done:
            return
        _done = True
        if _PANDAS in sys.modules:
            return
        import pyarrow as pa

        absent = _Absent()
        sys.meta_path.insert(0, absent)
        try:
            pa.array([], type=pa.null())  # the probe happens on any conversion
        finally:
            _leave(absent)
        sys.meta_path.insert(0, _Rearm())


__all__ = ["skip_pandas_probe"]
