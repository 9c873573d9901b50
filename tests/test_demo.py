"""The demo files: TPC-H is generated in a child process (the engine's memory goes with it)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from querydeck.app import demo
from querydeck.errors import ConfigError


def test_main_builds_tpch_in_this_process(tmp_path: Path) -> None:
    target = tmp_path / "tpch.duckdb"
    assert demo.main([str(target)]) == 0
    with duckdb.connect(str(target), read_only=True) as conn:
        row = conn.execute("SELECT count(*) FROM nation").fetchone()
    assert row == (25,)
    assert not target.with_suffix(".partial").exists()


def test_main_reports_a_build_that_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert demo.main([str(tmp_path / "no" / "dir" / "tpch.duckdb")]) == 3
    assert "The TPC-H demo database could not be built" in capsys.readouterr().err


def test_a_failed_build_in_the_child_is_one_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        demo.build_tpch_apart(tmp_path / "no" / "dir" / "tpch.duckdb")
    assert caught.value.message.count("could not be built") == 1
    assert not (tmp_path / "no").exists()
