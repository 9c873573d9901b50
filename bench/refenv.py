"""The references' own environment: the tools querydeck is compared with, apart from it.

``.bench-env/`` (git-ignored) is a virtual environment made on first use with uv from
PyPI: Datasette (never a querydeck dependency), and DuckDB with its postgres and sqlite
scanner extensions from their packages (nothing is downloaded at run time), so that a
reference runs in a process that loads no querydeck module. Cases that need them run
under :func:`python`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ENV = ROOT / ".bench-env"
DUCKDB = "1.5.5"
PACKAGES = [
    "datasette==0.65.5",
    f"duckdb=={DUCKDB}",
    f"duckdb-extension-postgres-scanner=={DUCKDB}",
    f"duckdb-extension-sqlite-scanner=={DUCKDB}",
    "pyarrow>=18",
    "psycopg[binary]>=3.2",
]


def _uv() -> str:
    found = shutil.which("uv") or str(ROOT / ".tools" / "bin" / "uv")
    if not Path(found).exists():
        raise RuntimeError("uv is missing: run make install first")
    return found


def python() -> str:
    """The environment's interpreter, made with its packages when missing."""
    interpreter = ENV / "bin" / "python"
    marker = ENV / ".packages"
    wanted = "\n".join(PACKAGES)
    if not interpreter.exists() or not marker.exists() or marker.read_text() != wanted:
        subprocess.run([_uv(), "venv", "--quiet", "--allow-existing", str(ENV)], check=True)
        subprocess.run(
            [_uv(), "pip", "install", "--quiet", "--python", str(interpreter), *PACKAGES],
            check=True,
        )
        marker.write_text(wanted)
    return str(interpreter)


def path_with_project() -> str:
    """``PYTHONPATH`` with the project's root first (the ``bench`` package)."""
    current = os.environ.get("PYTHONPATH", "")
    return os.pathsep.join(p for p in (str(ROOT), current) if p)


def load_extension(conn: object, name: str) -> None:
    """Load DuckDB's extension ``name`` from its package into ``conn`` (in this
    environment, where querydeck's own loader is not importable)."""
    import importlib.util

    spec = importlib.util.find_spec(f"duckdb_extension_{name}")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"duckdb-extension-{name} is not installed")
    root = Path(next(iter(spec.submodule_search_locations)))
    path = root / "extensions" / f"v{DUCKDB}" / f"{name}.duckdb_extension"
    conn.execute(f"LOAD '{path}'")  # type: ignore[attr-defined]
