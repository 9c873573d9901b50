"""``querydeck kb``: a connection's knowledge base (examples, glossary, Markdown files) and
its assistant settings."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich import box
from rich.table import Table
from rich.text import Text

from querydeck.cli.common import (
    InfoFormat,
    message,
    open_workbench,
    page_footer,
    print_json,
    stdout_console,
    write_stdout,
)
from querydeck.cli.runs import sql_preview
from querydeck.errors import ExampleIdAmbiguous, ExampleNotFound, InvalidInput

if TYPE_CHECKING:
    from querydeck.app.workbench import Workbench

app = typer.Typer(
    help="The assistant's knowledge base of a connection: examples and glossary.",
    no_args_is_help=True,
)
Connection = Annotated[str, typer.Argument(metavar="NAME", help="The connection.")]
ExampleId = Annotated[str, typer.Argument(help="The example's id.")]


def _sql(value: str) -> str:
    return sys.stdin.read() if value == "-" else value


@app.command("examples")
def examples(
    connection: Connection,
    status: Annotated[
        str | None, typer.Option("--status", help="candidate, approved or stale.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
    offset: Annotated[int, typer.Option(min=0)] = 0,
    fmt: Annotated[InfoFormat, typer.Option("--format", "-f")] = InfoFormat.table,
) -> None:
    """List the examples."""
    with open_workbench() as workbench:
        page = workbench.assistant.knowledge.list_examples(
            connection, status=status, limit=limit, offset=offset
        )
    if fmt is InfoFormat.json:
        print_json(page)
        return
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for column in ("id", "status", "question"):
        table.add_column(column, no_wrap=True, overflow="ellipsis")
    table.add_column("sql", ratio=1, no_wrap=True, overflow="ellipsis")
    for e in page.items:
        table.add_row(e.id[:8], e.status, Text(e.question), Text(sql_preview(e.sql)))
    if page.items:
        stdout_console().print(table)
    page_footer(len(page.items), offset, page.total, "examples")


@app.command("add")
def add(
    connection: Connection,
    question: Annotated[str, typer.Argument(help="The question.")],
    sql: Annotated[str, typer.Argument(help="Its SQL; '-' reads it from stdin.")],
    notes: Annotated[str, typer.Option("--notes")] = "",
    tags: Annotated[list[str] | None, typer.Option("--tag", "-t", help="A tag (repeat).")] = None,
) -> None:
    """Add a candidate example (guarded and EXPLAINed first)."""
    from querydeck.assistant.models import ExampleInput

    values = ExampleInput(question=question, sql=_sql(sql), notes=notes, tags=tags or [])
    with open_workbench() as workbench:
        example = workbench.assistant.knowledge.add_example(connection, values)
    message(f"added candidate example {example.id} (tables: {', '.join(example.tables)})")


def _review(connection: str, example_id: str, status: str) -> None:
    with open_workbench() as workbench:
        found = _full_id(workbench, connection, example_id)
        example = workbench.assistant.knowledge.review_example(
            connection,
            found,
            status,  # type: ignore[arg-type]  # one of the three
        )
    message(f"example {example.id} is {example.status}")


def _full_id(workbench: Workbench, connection: str, prefix: str) -> str:
    """An example id from the 8-character prefix the listing shows."""
    if len(prefix) >= 36:
        return prefix
    kb = workbench.assistant.knowledge
    matches: list[str] = []
    offset = 0
    while True:
        page = kb.list_examples(connection, limit=1000, offset=offset)
        matches += [e.id for e in page.items if e.id.startswith(prefix)]
        offset += len(page.items)
        if not page.items or offset >= page.total:
            break
    if not matches:
        raise ExampleNotFound("No such example.", detail={"example_id": prefix})
    if len(matches) > 1:
        raise ExampleIdAmbiguous(
            f"{prefix!r} starts {len(matches)} example ids; give more of it.",
            detail={"example_id": prefix},
        )
    return matches[0]


@app.command("approve")
def approve(connection: Connection, example_id: ExampleId) -> None:
    """Approve an example (editors: ``manage`` on the connection)."""
    _review(connection, example_id, "approved")


@app.command("unapprove")
def unapprove(connection: Connection, example_id: ExampleId) -> None:
    """Set an example back to candidate."""
    _review(connection, example_id, "candidate")


@app.command("remove")
def remove(connection: Connection, example_id: ExampleId) -> None:
    """Remove an example."""
    with open_workbench() as workbench:
        found = _full_id(workbench, connection, example_id)
        workbench.assistant.knowledge.delete_example(connection, found)
    message(f"removed example {found}")


@app.command("glossary")
def glossary(
    connection: Connection,
    fmt: Annotated[InfoFormat, typer.Option("--format", "-f")] = InfoFormat.table,
) -> None:
    """List the glossary."""
    with open_workbench() as workbench:
        page = workbench.assistant.knowledge.list_glossary(connection, limit=1000)
    if fmt is InfoFormat.json:
        print_json(page)
        return
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    table.add_column("term", no_wrap=True)
    table.add_column("definition", ratio=1)
    for t in page.items:
        table.add_row(Text(t.term), Text(t.definition))
    if page.items:
        stdout_console().print(table)
    page_footer(len(page.items), 0, page.total, "terms")


@app.command("define")
def define(
    connection: Connection,
    term: Annotated[str, typer.Argument(help="The term.")],
    definition: Annotated[str, typer.Argument(help="What it means in this data.")],
) -> None:
    """Add or replace a glossary entry."""
    from querydeck.assistant.models import GlossaryInput

    with open_workbench() as workbench:
        entry, created = workbench.assistant.knowledge.put_term(
            connection, GlossaryInput(term=term, definition=definition)
        )
    message(f"{'added' if created else 'replaced'} {entry.term!r}")


@app.command("undefine")
def undefine(connection: Connection, term: Annotated[str, typer.Argument()]) -> None:
    """Remove a glossary entry."""
    with open_workbench() as workbench:
        workbench.assistant.knowledge.delete_term(connection, term)
    message(f"removed {term!r}")


@app.command("export")
def export(
    connection: Connection,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="A file (else stdout).")
    ] = None,
) -> None:
    """Write the knowledge base as Markdown."""
    with open_workbench() as workbench:
        text = workbench.assistant.knowledge.export_markdown(connection)
    if output is None:
        write_stdout(text)
    else:
        output.write_text(text, encoding="utf-8")
        message(f"wrote {output}")


@app.command("import")
def import_(
    connection: Connection,
    path: Annotated[Path, typer.Argument(help="A Markdown file ('-': stdin).")],
) -> None:
    """Add or update examples and glossary entries from a Markdown file."""
    try:
        text = sys.stdin.read() if str(path) == "-" else path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"The file cannot be read: {exc}") from None
    with open_workbench() as workbench:
        report = workbench.assistant.knowledge.import_markdown(connection, text)
    message(
        f"examples: {report.examples_added} added, {report.examples_updated} updated; "
        f"glossary: {report.glossary_added} added, {report.glossary_updated} updated"
    )


@app.command("settings")
def settings(
    connection: Connection,
    sampling: Annotated[
        bool | None,
        typer.Option("--sampling/--no-sampling", help="Profile text values for the value index."),
    ] = None,
    send_samples: Annotated[
        bool | None,
        typer.Option("--send-samples/--no-send-samples", help="Send sample values to the model."),
    ] = None,
) -> None:
    """Show, or change, the connection's assistant switches."""
    with open_workbench() as workbench:
        current = workbench.assistant.connection_settings(connection)
        if sampling is not None or send_samples is not None:
            current = workbench.assistant.set_connection_settings(
                connection,
                current.model_copy(
                    update={
                        k: v
                        for k, v in (
                            ("allow_sampling", sampling),
                            ("send_sample_values", send_samples),
                        )
                        if v is not None
                    }
                ),
            )
    print_json(current)
