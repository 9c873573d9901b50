"""The one error hierarchy: one code, one class, every class in the generated reference,
and no code spelled as a string where an error is raised."""

from __future__ import annotations

import ast
from pathlib import Path

from querydeck import errors
from querydeck.reference import FAMILIES, SECTIONS, errors_markdown

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "querydeck"


def every_class() -> list[type[errors.QueryDeckError]]:
    found: list[type[errors.QueryDeckError]] = []
    pending: list[type[errors.QueryDeckError]] = [errors.QueryDeckError]
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return [cls for cls in found if cls.__module__ == errors.__name__]


def test_one_code_one_class() -> None:
    classes = every_class()
    codes = [cls.code for cls in classes]
    assert len(classes) > 100
    assert len(codes) == len(set(codes)), sorted(c for c in codes if codes.count(c) > 1)
    for cls in classes:
        assert "code" in vars(cls), f"{cls.__name__} inherits its parent's code"
        assert cls.code.isupper()
        assert (cls.__doc__ or "").strip(), f"{cls.__name__} has no meaning to document"
        assert errors.error_class(cls.code) is cls


def test_every_class_is_in_the_reference() -> None:
    listed = {cls for section in SECTIONS for cls in section.classes}
    missing = set(every_class()) - listed - set(FAMILIES)
    assert not missing, sorted(cls.__name__ for cls in missing)


def test_the_reference_page_is_current() -> None:
    page = (ROOT / "docs" / "errors.md").read_text(encoding="utf-8")
    assert page == errors_markdown(), (
        "docs/errors.md is stale: uv run python -m querydeck.reference"
    )


def test_no_code_is_passed_as_a_string() -> None:
    """Raising ``NotFound(code="CONNECTION_NOT_FOUND")`` would let a mistyped code pass
    silently; each code is a class instead."""
    offenders = []
    for path in SRC.rglob("*.py"):
        if path.name == "errors.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            for keyword in node.keywords:
                value = keyword.value
                literal = isinstance(value, ast.Constant) and isinstance(value.value, str)
                if keyword.arg == "code" and (literal or isinstance(value, ast.IfExp)):
                    offenders.append(f"{path.relative_to(SRC)}:{node.lineno}")
    assert not offenders, offenders


def test_recorded_errors_come_back_as_their_class() -> None:
    again = errors.recorded("RUN_NOT_FOUND", "No such run.", detail={"run_id": "x"})
    assert type(again) is errors.RunNotFound
    assert (again.http_status, again.detail) == (404, {"run_id": "x"})
    unknown = errors.recorded("FROM_A_NEWER_SERVER", "?", http_status=418)
    assert type(unknown) is errors.QueryFailed
    assert (unknown.code, unknown.http_status) == ("FROM_A_NEWER_SERVER", 418)
    assert errors.error_class("NO_SUCH_CODE") is None
