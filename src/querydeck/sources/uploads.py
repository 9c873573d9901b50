"""Uploaded files: each user's own directory under ``<data dir>/uploads``, where a file is
streamed to a hidden part file (never held in memory), refused past the size limit, typed
by its content (Parquet's magic, an xlsx workbook inside a zip, or text that is UTF-8 or
GB18030: CSV; never by its name) and then moved to ``<table>.<format>``, where the user's
``files`` connection reads it as the table ``<table>``.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import threading
import unicodedata
import uuid
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from querydeck.drivers.files.layout import split_name
from querydeck.drivers.files.options import SAMPLE_BYTES, detect_encoding
from querydeck.errors import UploadExists, UploadNameInvalid, UploadTooLarge, UploadTypeUnsupported

#: The formats an upload may have, and the file ending each is stored with.
KINDS = {"csv": ".csv", "parquet": ".parquet", "xlsx": ".xlsx"}
_TABLE = re.compile(r"^[^\W\d]\w{0,62}$")
_PARQUET_MAGIC = b"PAR1"
_ZIP_MAGIC = b"PK\x03\x04"
#: Control characters that never appear in a CSV file (tab, CR and LF are fine).
_BINARY = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def table_name(requested: str | None, filename: str) -> str:
    """The table an upload becomes: ``requested``, else the file name's stem made into a
    name (other characters as ``_``); refused when it is not letters, digits and ``_``."""
    if requested is not None:
        name = unicodedata.normalize("NFC", requested.strip())
    else:
        base = Path(filename.replace("\\", "/")).name
        parsed = split_name(base)
        stem = parsed[0] if parsed else base.split(".", 1)[0]
        name = re.sub(r"\W", "_", unicodedata.normalize("NFC", stem))[:63]
        if name[:1].isdigit():
            name = f"t_{name}"[:63]
    if not _TABLE.match(name):
        raise UploadNameInvalid(
            "A table name is letters, digits and '_', starts with a letter or '_', and has at "
            "most 63 characters.",
            detail={"table": name[:80]},
        )
    return name


def sniff(path: Path) -> str:
    """The format of the file at ``path`` by its content: ``parquet``, ``xlsx`` or
    ``csv``; refused otherwise."""
    with path.open("rb") as handle:
        head = handle.read(SAMPLE_BYTES)
        handle.seek(max(0, path.stat().st_size - 4))
        tail = handle.read(4)
    if head.startswith(_PARQUET_MAGIC) and tail == _PARQUET_MAGIC and _parquet_footer(path):
        return "parquet"
    if head.startswith(_ZIP_MAGIC):
        try:
            with zipfile.ZipFile(path) as archive:
                names = set(archive.namelist())
        except (zipfile.BadZipFile, OSError):
            names = set()
        if {"[Content_Types].xml", "xl/workbook.xml"} <= names:
            return "xlsx"
    elif head and not _BINARY.search(head) and detect_encoding(head) != "latin-1":
        return "csv"
    raise UploadTypeUnsupported(
        "The file is not CSV (UTF-8 or GB18030 text), Parquet or Excel (.xlsx) by its "
        "content; its name does not count."
    )


def _parquet_footer(path: Path) -> bool:
    import pyarrow.parquet as pq  # on the first upload, not at start

    try:
        pq.read_metadata(path)
    except (OSError, ValueError):
        return False
    return True


@dataclass
class PendingUpload:
    """A file being received: write its chunks, then :meth:`UploadStore.keep` or
    :meth:`discard` it. Past ``limit`` bytes it is removed and :class:`UploadTooLarge`
    raised."""

    directory: Path
    table: str
    limit: int
    part: Path = field(init=False)
    size: int = 0
    digest: hashlib._Hash = field(default_factory=hashlib.sha256)

    def __post_init__(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        # Hidden: the files driver never lists a part file as a table.
        self.part = self.directory / f".upload-{uuid.uuid4().hex}.part"
        fd = os.open(self.part, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        self._handle = os.fdopen(fd, "wb")

    def write(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self.limit:
            self.discard()
            raise UploadTooLarge(
                f"An uploaded file has at most {self.limit} bytes (upload_max_bytes).",
                detail={"limit": self.limit},
            )
        self.digest.update(chunk)
        self._handle.write(chunk)

    def close(self) -> None:
        if not self._handle.closed:
            self._handle.close()

    def discard(self) -> None:
        self.close()
        with contextlib.suppress(FileNotFoundError):
            self.part.unlink()


class UploadStore:
    """The users' upload directories under ``root``."""

    def __init__(self, root: Path, *, max_bytes: int) -> None:
        self.root = root
        self.max_bytes = max_bytes
        self._lock = threading.Lock()

    def directory(self, username: str) -> Path:
        """A user's directory: the name itself when it is plain, else a digest of it."""
        plain = re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", username)
        key = username if plain else "u-" + hashlib.sha256(username.encode()).hexdigest()[:24]
        return self.root / key

    def begin(self, username: str, table: str) -> PendingUpload:
        return PendingUpload(self.directory(username), table, self.max_bytes)

    def keep(self, upload: PendingUpload, *, replace: bool) -> tuple[str, bool]:
        """Type the received file by its content and make it the table's file; returns the
        format and whether an earlier file of the table was replaced."""
        upload.close()
        try:
            kind = sniff(upload.part)
            target = upload.directory / f"{upload.table}{KINDS[kind]}"
            with self._lock:
                earlier = self._files_of(upload.directory, upload.table)
                if earlier and not replace:
                    raise UploadExists(
                        f"Your uploads already hold a table {upload.table!r}; upload with "
                        "replace to overwrite it.",
                        detail={"table": upload.table},
                    )
                os.replace(upload.part, target)
                for old in earlier:
                    if old != target:
                        old.unlink(missing_ok=True)
        except BaseException:
            upload.discard()
            raise
        return kind, bool(earlier)

    @staticmethod
    def _files_of(directory: Path, table: str) -> list[Path]:
        """The files that are the table ``table`` (any format; names compared as DuckDB
        compares table names, ignoring case)."""
        found = []
        for entry in directory.iterdir():
            parsed = split_name(entry.name)
            if parsed is not None and parsed[0].casefold() == table.casefold():
                found.append(entry)
        return found
