from __future__ import annotations

from pathlib import Path

import pytest

from querydeck.errors import ConfigError
from querydeck.settings import load_settings


def test_defaults_put_data_under_home(tmp_path: Path) -> None:
    settings = load_settings()
    assert settings.data_dir == (tmp_path / "home" / ".querydeck").resolve()
    assert settings.port == 8765
    assert settings.default_max_rows == 10_000
    assert settings.default_timeout_s == 30
    assert settings.app_database_url.endswith("querydeck.db")
    assert settings.app_database_url.startswith("sqlite:///")


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("QUERYDECK_DATA_DIR", str(tmp_path / "d"))
    monkeypatch.setenv("QUERYDECK_PORT", "9000")
    monkeypatch.setenv("QUERYDECK_DATABASE_URL", "postgresql://x@127.0.0.1/db")
    settings = load_settings()
    assert settings.data_dir == (tmp_path / "d").resolve()
    assert settings.port == 9000
    assert settings.app_database_url == "postgresql://x@127.0.0.1/db"


def test_unknown_environment_variable_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUERYDECK_PROT", "9000")
    with pytest.raises(ConfigError, match="QUERYDECK_PROT"):
        load_settings()


def test_toml_file_is_read_and_environment_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    Path("querydeck.toml").write_text("port = 9100\ndefault_max_rows = 50\n")
    assert load_settings().port == 9100
    monkeypatch.setenv("QUERYDECK_PORT", "9200")
    settings = load_settings()
    assert (settings.port, settings.default_max_rows) == (9200, 50)


def test_toml_unknown_key_is_refused() -> None:
    Path("querydeck.toml").write_text("prot = 1\n")
    with pytest.raises(ConfigError, match="prot"):
        load_settings()


def test_toml_syntax_error_is_a_config_error() -> None:
    Path("querydeck.toml").write_text("port = = 1\n")
    with pytest.raises(ConfigError, match="cannot be read"):
        load_settings()


def test_explicit_config_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "custom.toml"
    config.write_text("port = 9300\n")
    monkeypatch.setenv("QUERYDECK_CONFIG", str(config))
    assert load_settings().port == 9300
    monkeypatch.setenv("QUERYDECK_CONFIG", str(tmp_path / "missing.toml"))
    with pytest.raises(ConfigError, match="not a file"):
        load_settings()


@pytest.mark.parametrize(
    ("key", "value", "problem"),
    [
        ("QUERYDECK_PORT", "70000", "port"),
        ("QUERYDECK_PORT", "eighty", "port"),
        ("QUERYDECK_DEFAULT_MAX_ROWS", "0", "default_max_rows"),
        ("QUERYDECK_DEFAULT_MAX_ROWS", "5000000", "max_rows_limit"),
        ("QUERYDECK_DEFAULT_TIMEOUT_S", "9999", "max_timeout_s"),
        ("QUERYDECK_LOG_LEVEL", "LOUD", "log_level"),
    ],
)
def test_invalid_values_are_one_clear_error(
    monkeypatch: pytest.MonkeyPatch, key: str, value: str, problem: str
) -> None:
    monkeypatch.setenv(key, value)
    with pytest.raises(ConfigError, match=problem):
        load_settings()
