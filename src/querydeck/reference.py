"""Generated reference pages (``docs/configuration.md``, ``docs/function-policy.md``); tests
keep them in step.

Regenerate with ``uv run python -m querydeck.reference``.
"""

from __future__ import annotations

import sys
from pathlib import Path

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


def main() -> None:
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("docs/configuration.md")
    target.write_text(settings_markdown(), encoding="utf-8")
    (target.parent / "function-policy.md").write_text(policy_markdown(), encoding="utf-8")


if __name__ == "__main__":
    main()
