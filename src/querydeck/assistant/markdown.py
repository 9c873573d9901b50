"""A connection's knowledge base as one Markdown file that can live in git.

```
# Knowledge base: chinook

## Example: Which artist has the most albums?

Status: approved
Tags: artists, albums

```sql
SELECT ...
```

Free-text notes, as many lines as needed.

## Glossary: revenue

The sum of invoice totals.
```

Headings of level 2 start an entry; ``Status:`` and ``Tags:`` lines are optional; the one
```sql block of an example is its SQL; everything else is its notes. Export writes the same
layout, so an export imported again changes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from querydeck.assistant.models import Example, GlossaryEntry
from querydeck.errors import KnowledgeFileInvalid

_HEADING = re.compile(r"^##\s+(Example|Glossary):\s*(.+?)\s*$", re.I)
_FIELD = re.compile(r"^(Status|Tags):\s*(.*?)\s*$", re.I)
MAX_FILE_BYTES = 5_000_000


@dataclass
class ExampleText:
    question: str
    sql: str
    status: str = "candidate"
    tags: list[str] = field(default_factory=list)
    notes: str = ""
    line: int = 0


@dataclass
class TermText:
    term: str
    definition: str
    line: int = 0


def export(connection: str, examples: Sequence[Example], terms: Sequence[GlossaryEntry]) -> str:
    out = [f"# Knowledge base: {connection}", ""]
    for e in examples:
        out += [f"## Example: {_one_line(e.question)}", "", f"Status: {e.status}"]
        if e.tags:
            out.append(f"Tags: {', '.join(e.tags)}")
        out += ["", "```sql", e.sql.strip().replace("```", "` ` `"), "```", ""]
        if e.notes.strip():
            out += [e.notes.strip(), ""]
    for t in terms:
        out += [f"## Glossary: {_one_line(t.term)}", "", t.definition.strip(), ""]
    return "\n".join(out).rstrip() + "\n"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def parse(text: str) -> tuple[list[ExampleText], list[TermText]]:
    if len(text.encode("utf-8", "surrogatepass")) > MAX_FILE_BYTES:
        raise KnowledgeFileInvalid(
            f"A knowledge file has at most {MAX_FILE_BYTES:,} bytes.", detail={"line": 1}
        )
    examples: list[ExampleText] = []
    terms: list[TermText] = []
    current: tuple[str, str, int] | None = None
    body: list[str] = []

    def finish() -> None:
        if current is None:
            return
        kind, title, line = current
        if kind == "example":
            examples.append(_example(title, body, line))
        else:
            definition = "\n".join(body).strip()
            if not definition:
                raise KnowledgeFileInvalid(
                    f"The glossary term {title!r} has no definition.", detail={"line": line}
                )
            terms.append(TermText(title, definition, line))

    for number, line in enumerate(text.splitlines(), start=1):
        heading = _HEADING.match(line)
        if heading:
            finish()
            current = (heading.group(1).lower(), heading.group(2), number)
            body = []
        elif line.startswith("## "):
            raise KnowledgeFileInvalid(
                "A level-2 heading must be '## Example: <question>' or '## Glossary: <term>'.",
                detail={"line": number},
            )
        elif current is not None:
            body.append(line)
    finish()
    return examples, terms


def _example(question: str, body: list[str], line: int) -> ExampleText:
    entry = ExampleText(question=question, sql="", line=line)
    notes: list[str] = []
    sql: list[str] | None = None
    blocks = 0
    for text in body:
        if sql is not None:
            if text.strip() == "```":
                entry.sql = "\n".join(sql).strip()
                sql = None
            else:
                sql.append(text)
            continue
        if text.strip().lower() in ("```sql", "```"):
            blocks += 1
            sql = []
            continue
        found = _FIELD.match(text)
        if found and not notes:
            name, value = found.group(1).lower(), found.group(2)
            if name == "status":
                if value.lower() not in ("candidate", "approved", "stale"):
                    raise KnowledgeFileInvalid(
                        f"Status {value!r} is not candidate, approved or stale.",
                        detail={"line": line},
                    )
                entry.status = value.lower()
            else:
                entry.tags = [t.strip() for t in value.split(",") if t.strip()]
            continue
        if text.strip() or notes:
            notes.append(text)
    if sql is not None or blocks != 1 or not entry.sql:
        raise KnowledgeFileInvalid(
            f"The example {question!r} needs exactly one closed ```sql block.",
            detail={"line": line},
        )
    entry.notes = "\n".join(notes).strip()
    return entry
