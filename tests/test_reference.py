from __future__ import annotations

from pathlib import Path

from querydeck.reference import settings_markdown

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_configuration_reference_is_current() -> None:
    assert (DOCS / "configuration.md").read_text(encoding="utf-8") == settings_markdown(), (
        "docs/configuration.md is stale: run `uv run python -m querydeck.reference`"
    )


def test_cli_reference_is_current(tmp_path: Path) -> None:
    import subprocess
    import sys

    generated = tmp_path / "cli.md"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "typer",
            "querydeck.cli",
            "utils",
            "docs",
            "--name",
            "querydeck",
            "--output",
            str(generated),
        ],
        check=True,
        capture_output=True,
    )
    text = (DOCS / "cli.md").read_text(encoding="utf-8")
    marker = "<!-- generated reference below -->\n"
    assert marker in text
    assert text.split(marker, 1)[1] == generated.read_text(encoding="utf-8"), (
        "docs/cli.md is stale: run `make docs`"
    )
