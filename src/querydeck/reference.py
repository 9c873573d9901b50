"""Generated reference pages (``docs/configuration.md``, ``docs/function-policy.md``,
``docs/errors.md``); tests keep them in step.

Regenerate with ``uv run python -m querydeck.reference``.
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

from querydeck import errors
from querydeck.drivers import registry
from querydeck.settings import ENV_PREFIX, Settings
from querydeck.sql.policy import policy_markdown as _policy_markdown

HEADER = """# Configuration

Every setting is an environment variable `QUERYDECK_<NAME>` or a key of `querydeck.toml`
(read from `QUERYDECK_CONFIG`, else from the working directory). The environment wins over
the file; unknown names are refused in both. This page is generated from the code
(`python -m querydeck.reference`) and checked by a test.

| variable | TOML key | default | description |
|---|---|---|---|
"""


def _default(name: str) -> str:
    info = Settings.model_fields[name]
    if info.default_factory is not None:
        if name == "data_dir":
            return "`~/.querydeck`"
        return "(none)" if info.default_factory is list else "(computed)"
    return "(unset)" if info.default is None else f"`{info.default}`"


def settings_markdown() -> str:
    rows = []
    for name, info in Settings.model_fields.items():
        description = (info.description or "").replace("|", "\\|")
        rows.append(
            f"| `{ENV_PREFIX}{name.upper()}` | `{name}` | {_default(name)} | {description} |"
        )
    return HEADER + "\n".join(rows) + "\n"


def policy_markdown() -> str:
    """``docs/function-policy.md`` from the installed drivers' declared tables."""
    engines = []
    for name in registry.names():
        driver = registry.load(name)
        engines.append((f"{driver.title} (`{driver.name}`)", driver.forbidden_functions))
    return _policy_markdown(engines)


ERRORS_HEADER = """# Error codes

Every failure has a stable code, and every code is one class of `src/querydeck/errors.py`;
this page is generated from them (`python -m querydeck.reference`) and checked by a test.
The API answers with the HTTP status shown and the envelope

```json
{"error": {"code": "SQL_NOT_READ_ONLY", "message": "…",
           "detail": {"line": 1, "column": 1}, "request_id": "…"}}
```

The CLI prints `Error [CODE]: message` on stderr and exits 1. Messages never contain a
password, a stack trace or the value of a secret option.
"""


def _paragraphs(text: str) -> str:
    return "\n\n".join(textwrap.fill(p, 92) for p in text.split("\n\n")) + "\n"


def errors_markdown() -> str:
    """``docs/errors.md``: each section of :data:`querydeck.errors.SECTIONS` as a table."""
    parts = [ERRORS_HEADER]
    for section in errors.SECTIONS:
        parts.append(f"\n## {section.title}\n\n")
        if section.before:
            parts.append(_paragraphs(section.before) + "\n")
        parts.append("| code | HTTP | meaning |\n|---|---|---|\n")
        for cls in section.errors:
            meaning = " ".join((cls.__doc__ or "").split()).replace("|", "\\|")
            parts.append(f"| `{cls.code}` | {cls.http_status} | {meaning} |\n")
        if section.after:
            parts.append("\n" + _paragraphs(section.after))
    return "".join(parts)


def main() -> None:
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("docs/configuration.md")
    target.write_text(settings_markdown(), encoding="utf-8")
    (target.parent / "function-policy.md").write_text(policy_markdown(), encoding="utf-8")
    (target.parent / "errors.md").write_text(errors_markdown(), encoding="utf-8")


if __name__ == "__main__":
    main()
