"""Python rows become Arrow without importing pandas, and pandas still converts as before
once it is loaded (``querydeck.drivers.pandasprobe``; issue 17)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("pandas")  # where pandas is not installed there is nothing to skip


def run(code: str, env: dict[str, str] | None = None) -> list[object]:
    """Run ``code`` in a fresh interpreter; its last line of stdout, as JSON."""
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    result: list[object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


CONVERT_THEN_PANDAS = """
import json, sys
import pyarrow as pa
from querydeck.drivers.arrow_rows import rows_to_batch
schema = pa.schema([("n", pa.int64()), ("s", pa.string())])
batch = rows_to_batch([(1, "a"), (None, "b")], schema)
before = "pandas" in sys.modules
import pandas as pd
series = pa.array(pd.Series([1, None], dtype="Int64"))
frame = pa.Table.from_pandas(pd.DataFrame({"x": ["a", None]}))
back = pa.table({"n": [1, 2]}).to_pandas()
print(json.dumps([before, batch.to_pylist(), str(series.type), series.null_count,
                  frame.column("x").to_pylist(), back["n"].tolist()]))
"""


def test_rows_convert_without_pandas_and_pandas_objects_convert_after() -> None:
    before, rows, series_type, nulls, frame, back = run(CONVERT_THEN_PANDAS)
    assert before is False
    assert rows == [{"n": 1, "s": "a"}, {"n": None, "s": "b"}]
    # pyarrow looks for pandas again once it is loaded: a Series is an array, not a list
    assert (series_type, nulls) == ("int64", 1)
    assert frame == ["a", None]
    assert back == [1, 2]


PANDAS_FIRST = """
import json, sys
import pandas as pd
import pyarrow as pa
from querydeck.drivers.arrow_rows import rows_to_batch
batch = rows_to_batch([(1,)], pa.schema([("n", pa.int64())]))
print(json.dumps([batch.to_pylist(), str(pa.array(pd.Series([1, None], dtype="Int64")).type)]))
"""


def test_nothing_changes_where_pandas_was_loaded_first() -> None:
    assert run(PANDAS_FIRST) == [[{"n": 1}], "int64"]


QUERY = """
import json, sys
sys.argv = ["querydeck", "query", "items", "SELECT id, name FROM items"]
from querydeck.entry import main
try:
    main()
except SystemExit as exc:
    if exc.code not in (0, None):
        raise
print(json.dumps(["pandas" in sys.modules, "pyarrow" in sys.modules]))
"""


def test_a_cli_query_on_sqlite_loads_arrow_but_not_pandas(tmp_path: Path) -> None:
    files = tmp_path / "files"  # the default file root
    files.mkdir()
    with sqlite3.connect(files / "items.sqlite") as conn:
        conn.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT)")
        conn.execute("INSERT INTO items VALUES (1, 'one')")
    env = {**os.environ, "QUERYDECK_DATA_DIR": str(tmp_path)}
    subprocess.run(
        [
            sys.executable,
            "-c",
            "from querydeck.cli import main; main()",
            "connections",
            "add",
            "items",
            "--driver",
            "sqlite",
            "-o",
            f"path={files / 'items.sqlite'}",
        ],
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    assert run(QUERY, env) == [False, True]
