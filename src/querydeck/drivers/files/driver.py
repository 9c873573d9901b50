"""The ``files`` driver: a directory under the file roots, each file a table.

``files:///abs/dir`` (the path is the directory). The files are listed when a session
opens (symbolic links that leave the directory are skipped), with their sizes and times: a
pooled session is reused only while a new listing is the same, so a new or changed file
is seen by the next run. See :mod:`querydeck.drivers.files.layout` for the naming and
:mod:`querydeck.drivers.files.session` for the sandbox.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import Field

from querydeck.drivers.base import (
    Capabilities,
    EngineSession,
    split_url,
    url_query,
)
from querydeck.drivers.files.family import DuckDBFilesDriver
from querydeck.drivers.files.layout import Entry, discover, names
from querydeck.drivers.files.options import FileOptions
from querydeck.errors import ConnectionFailed, ConnectionUrlInvalid, DataFileNotFound

if TYPE_CHECKING:
    from querydeck.drivers.files.session import Plan, SessionSpec

#: Most files a directory may hold before a session refuses to list it all.
MAX_FILES = 100_000
#: URL parameters → options, shared by the file drivers' URLs.
FILE_URL_PARAMS = {
    "delimiter": "csv_delimiter",
    "header": "csv_header",
    "encoding": "encoding",
}


class FilesOptions(FileOptions):
    path: str = Field(description="Absolute path of the directory whose files are the tables.")


def directory_fingerprint(root: Path) -> frozenset[Entry]:
    """Each file under ``root`` (links leading out left out) with its size and time."""
    return frozenset(list_directory(root))


def list_directory(root: Path) -> list[Entry]:
    """The regular files under ``root``: relative names (``/``-separated) with their sizes
    and times (ns); links that lead outside it are left out."""
    real_root = os.path.realpath(root)
    found: list[Entry] = []
    for directory, dirs, files in os.walk(root, followlinks=False):
        dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(directory, d))]
        for name in files:
            full = os.path.join(directory, name)
            real = os.path.realpath(full)
            if not real.startswith(real_root + os.sep):
                continue
            try:
                info = os.stat(real)
            except OSError:  # gone since the walk saw it
                continue
            if not stat.S_ISREG(info.st_mode):
                continue
            rel = os.path.relpath(full, root).replace(os.sep, "/")
            found.append((rel, info.st_size, info.st_mtime_ns))
            if len(found) > MAX_FILES:
                raise ConnectionFailed(
                    f"The directory holds more than {MAX_FILES} files; register a smaller one."
                )
    return found


class FilesDriver(DuckDBFilesDriver[FilesOptions]):
    """CSV, Parquet, JSON, Avro, ORC and Excel files in a local directory."""

    name = "files"
    title = "Files"
    Options = FilesOptions
    capabilities = Capabilities(server_timeout=False, schemas=False, arrays=True, file_based=True)
    url_schemes = ("files",)

    @classmethod
    def options_from_url(cls, url: str) -> dict[str, Any]:
        """``files:///abs/dir`` with optional ``delimiter``, ``header``, ``encoding``."""
        parts = split_url(url, cls.url_schemes)
        if parts.netloc or not parts.path.startswith("/"):
            raise ConnectionUrlInvalid("A files URL names an absolute directory: files:///abs/dir.")
        from urllib.parse import unquote

        return {"path": unquote(parts.path), **url_query(parts, FILE_URL_PARAMS)}

    def target(self) -> str:
        return Path(self.options.path).name or self.options.path

    def directory(self) -> Path:
        """The directory, checked against the file roots."""
        path = Path(self.options.path)
        if self.sandbox.files is not None:
            self.sandbox.files.check(str(path), self.title)
        return path

    def connect(self, *, timeout_s: float) -> EngineSession:
        from querydeck.drivers.files import session  # the engine, on first use

        return session.open_session(*self.prepare())

    def prepare(self) -> tuple[SessionSpec, Callable[[Any], Plan]]:
        """The session's settings and its plan (engine side: imports DuckDB)."""
        root = self.directory()
        shown = self.target()
        if not root.exists():
            raise DataFileNotFound(f"The directory {shown!r} does not exist.")
        if not root.is_dir():
            raise ConnectionFailed(f"{shown!r} is not a directory.")
        from querydeck.drivers.files import session, tables  # the engine, on first use

        base = os.path.join(os.path.realpath(root), "")
        spec = session.SessionSpec(
            base=base,
            shown=shown,
            memory_limit=self.options.memory_limit,
            threads=self.options.threads,
            fingerprint=lambda: directory_fingerprint(root),
        )

        def plan(native: Any) -> Plan:
            listing = list_directory(root)
            sources = discover(names(listing))
            planned = tables.plan(native, sources, self.options, tables.local(base))
            planned.fingerprint = frozenset(listing)
            return planned

        return spec, plan
