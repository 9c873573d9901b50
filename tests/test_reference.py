from __future__ import annotations

from pathlib import Path

from querydeck.reference import settings_markdown

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_configuration_reference_is_current() -> None:
    assert (DOCS / "configuration.md").read_text(encoding="utf-8") == settings_markdown(), (
        "docs/configuration.md is stale: run `uv run python -m querydeck.reference`"
    )
