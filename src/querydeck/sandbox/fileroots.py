"""File roots: the directories file-based connections (SQLite, DuckDB files) may use.

A path is allowed when its real path (symlinks resolved, ``..`` collapsed) lies inside one
of the admin's roots (setting ``file_roots``) or inside a directory querydeck fills itself
(the demo under the data directory). querydeck's own files — the app database and its
journals, the key file, the result files — are never a target, wherever the roots are.
URI-style paths (``file:x?mode=rwc``) are refused rather than interpreted.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from querydeck.errors import ConnectionTargetForbidden

#: Suffixes of the files SQLite keeps next to a database.
_SQLITE_COMPANIONS = ("", "-wal", "-shm", "-journal")


def real(path: Path) -> Path:
    """The absolute path with every symlink and ``..`` resolved (the file may not exist)."""
    return Path(os.path.realpath(path.expanduser().absolute()))


def _real_text(path: str) -> str:
    """:func:`real` as text (what :meth:`FileRoots.check` compares: no ``Path`` objects
    on a run's path)."""
    return os.path.realpath(os.path.abspath(os.path.expanduser(path)))


def _inside(path: str, directory: str) -> bool:
    """Whether real path ``path`` is ``directory`` or lies under it (both real paths)."""
    if path == directory:
        return True
    prefix = directory if directory.endswith(os.sep) else directory + os.sep
    return path.startswith(prefix)


@dataclass(frozen=True)
class FileRoots:
    """Allowed directories and protected files, all as real paths."""

    roots: tuple[Path, ...]
    protected_files: tuple[Path, ...] = ()
    protected_dirs: tuple[Path, ...] = ()

    # Every run of a file-based connection checks its path again: the real paths are
    # compared as text, the protected files looked up in a set.
    @cached_property
    def _root_texts(self) -> tuple[tuple[Path, str], ...]:
        return tuple((root, str(root)) for root in self.roots)

    @cached_property
    def _protected_file_texts(self) -> frozenset[str]:
        return frozenset(str(f) for f in self.protected_files)

    @cached_property
    def _protected_dir_texts(self) -> tuple[str, ...]:
        return tuple(str(d) for d in self.protected_dirs)

    @classmethod
    def create(
        cls,
        roots: Sequence[Path],
        *,
        protected_files: Sequence[Path] = (),
        protected_dirs: Sequence[Path] = (),
    ) -> FileRoots:
        files = tuple(real(Path(f"{p}{s}")) for p in protected_files for s in _SQLITE_COMPANIONS)
        return cls(
            roots=tuple(dict.fromkeys(real(r) for r in roots)),
            protected_files=files,
            protected_dirs=tuple(real(d) for d in protected_dirs),
        )

    def check(self, path: str, engine: str) -> Path:
        """The root that holds ``path``; raises ``ConnectionTargetForbidden`` otherwise."""
        shown = Path(path).name or path
        if "\x00" in path or path.startswith("file:") or "?" in path or "#" in path:
            raise self._refuse(
                f"The {engine} path {shown!r} looks like a URI; give a plain file path.", "uri"
            )
        resolved = _real_text(path)
        if resolved in self._protected_file_texts or any(
            _inside(resolved, d) for d in self._protected_dir_texts
        ):
            raise self._refuse(
                f"The {engine} path {shown!r} is one of querydeck's own files.", "own"
            )
        for root, text in self._root_texts:
            if _inside(resolved, text):
                return root
        raise self._refuse(
            f"The {engine} file {shown!r} is outside the allowed file roots "
            "(setting file_roots; symlinks and '..' are resolved first).",
            "outside",
        )

    @staticmethod
    def _refuse(message: str, reason: str) -> ConnectionTargetForbidden:
        return ConnectionTargetForbidden(message, detail={"option": "path", "reason": reason})
