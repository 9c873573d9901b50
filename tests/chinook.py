"""Loads the Chinook sample database into PostgreSQL, MariaDB/MySQL and SQLite for tests.

The scripts come from ``../shared/datasets/chinook/`` next to the repository, or from the
directory named by ``QUERYDECK_TEST_CHINOOK_DIR``. The PostgreSQL script uses snake_case
names (``album.album_id``); the MySQL script and the SQLite file use ``Album.AlbumId``.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import psycopg
import pymysql

from tests.services import mysql_connect_args

_DATABASE_LINES = re.compile(r"^\s*(DROP DATABASE|CREATE DATABASE|USE |\\c )", re.I | re.M)
_STATEMENT_END = re.compile(r";[ \t]*\r?\n")


def chinook_dir() -> Path:
    """Where the Chinook files are (the environment override first)."""
    override = os.environ.get("QUERYDECK_TEST_CHINOOK_DIR")
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "chinook"


def _script(name: str) -> str:
    text = (chinook_dir() / name).read_text(encoding="utf-8")
    return "\n".join(line for line in text.splitlines() if not _DATABASE_LINES.match(line)).lstrip(
        "\ufeff"
    )


def load_postgres(url: str) -> None:
    """Run ``Chinook_PostgreSql.sql`` (without its database switching) in ``url``."""
    script = _script("Chinook_PostgreSql.sql")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(script.encode())


def mysql_statements(script: str) -> list[str]:
    """The statements of the MySQL script: each ends with ``;`` at the end of a line."""
    statements = []
    for chunk in _STATEMENT_END.split(script + "\n"):
        body = re.sub(r"/\*.*?\*/", "", chunk, flags=re.S).strip()
        if body:
            statements.append(body)
    return statements


def load_mysql(url: str) -> None:
    """Run ``Chinook_MySql.sql`` statement by statement in the database of ``url``."""
    statements = mysql_statements(_script("Chinook_MySql.sql"))
    conn = pymysql.connect(autocommit=True, **mysql_connect_args(url))  # type: ignore[arg-type]
    try:
        with conn.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement)
    finally:
        conn.close()


def sqlite_copy(directory: Path) -> Path:
    """A private copy of ``Chinook_Sqlite.sqlite`` in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / "chinook.sqlite"
    shutil.copyfile(chinook_dir() / "Chinook_Sqlite.sqlite", target)
    target.chmod(0o644)
    return target
