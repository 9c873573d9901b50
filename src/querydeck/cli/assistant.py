"""``querydeck ask`` and ``querydeck eval``: the assistant, on this machine's data directory
or, with ``--server``, on a querydeck server as your user there."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from pydantic import ValidationError
from rich import box
from rich.table import Table
from rich.text import Text

from querydeck.cli.common import (
    InfoFormat,
    message,
    milliseconds,
    open_client,
    print_json,
    stdout_console,
    write_stdout,
)
from querydeck.errors import InvalidInput

if TYPE_CHECKING:
    from querydeck.assistant.models import AskAnswer, EvalReport

Connection = Annotated[str, typer.Argument(metavar="NAME", help="The connection.")]
Endpoint = Annotated[
    str | None, typer.Option("--endpoint", "-e", help="A chat endpoint (default: the default).")
]


def ask(
    connection: Connection,
    question: Annotated[str, typer.Argument(help="The question, in plain language.")],
    endpoint: Endpoint = None,
    execute: Annotated[
        bool, typer.Option("--execute", "-x", help="Also run the SQL (a normal run).")
    ] = False,
    explain: Annotated[
        bool, typer.Option("--explain", help="Also explain the SQL in plain words.")
    ] = False,
    follow_up: Annotated[
        str | None, typer.Option("--follow-up", metavar="ANSWER_ID", help="An earlier answer.")
    ] = None,
    fmt: Annotated[InfoFormat, typer.Option("--format", "-f")] = InfoFormat.table,
) -> None:
    """Ask a question; print the checked SQL (stdout) and what it was made from (stderr)."""
    from querydeck.assistant.models import AskInput

    try:
        values = AskInput(
            question=question,
            endpoint=endpoint,
            execute=execute,
            explain=explain,
            follow_up_of=follow_up,
        )
    except ValidationError as exc:
        raise InvalidInput(f"Invalid question: {exc.errors()[0]['msg']}.") from None
    with open_client() as client:
        answer = client.assistant.ask(connection, values)
        run = client.runs.wait(answer.run_id, None) if answer.run_id else None
    if fmt is InfoFormat.json:
        print_json(answer)
        return
    write_stdout(answer.sql.rstrip() + "\n")
    _describe(answer)
    if run is not None:
        message(f"run {run.id}: {run.status.value}, {run.row_count or 0} rows")


def _describe(answer: AskAnswer) -> None:
    message(f"answer {answer.id} · tables: {', '.join(answer.tables) or '-'}")
    ranked = ", ".join(f"{c.schema_name}.{c.table} ({c.score:.3f})" for c in answer.candidates[:5])
    message(f"candidates: {ranked}")
    if answer.examples:
        message("examples: " + "; ".join(e.question for e in answer.examples))
    sent = answer.sent
    message(
        f"sent: DDL of {len(sent.tables)} tables, {sent.candidate_names} candidate names, "
        f"sample values {'yes' if sent.sample_values else 'no'}, "
        f"{sent.examples} examples, {sent.glossary} glossary entries"
    )
    message(
        f"{len(answer.rounds)} correction(s) · {answer.tokens_in} tokens in, "
        f"{answer.tokens_out} out · {milliseconds(answer.latency_ms)}"
    )
    if answer.explanation:
        message(answer.explanation)


def evaluate(
    connection: Connection,
    questions: Annotated[
        Path | None,
        typer.Option(
            "--questions",
            "-q",
            help='JSON Lines of {"question", "sql"}; without it, leave-one-out over the '
            "connection's approved examples.",
        ),
    ] = None,
    endpoint: Endpoint = None,
    baseline: Annotated[
        bool, typer.Option("--baseline", help='"Whole schema + question" with the same model.')
    ] = False,
    retrieval_only: Annotated[
        bool, typer.Option("--retrieval-only", help="Only the retrieval figures (no model).")
    ] = False,
    fmt: Annotated[InfoFormat, typer.Option("--format", "-f")] = InfoFormat.table,
) -> None:
    """Measure the assistant on questions with gold SQL (execution accuracy, recall@k...)."""
    from querydeck.assistant.evaluation import load_questions

    if baseline and retrieval_only:
        raise InvalidInput("--baseline and --retrieval-only do not go together.")
    mode = "retrieval" if retrieval_only else ("baseline" if baseline else "pipeline")
    loaded = None
    if questions is not None:
        try:
            text = questions.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidInput(f"The question file cannot be read: {exc}") from None
        loaded = load_questions(text)
    with open_client() as client:
        report = client.assistant.harness.evaluate(
            connection,
            loaded,
            mode=mode,  # type: ignore[arg-type]  # one of the three above
            endpoint=endpoint,
        )
    if fmt is InfoFormat.json:
        print_json(report)
        return
    _report_table(report)


def _figure(value: float | None, percent: bool = True) -> str:
    if value is None:
        return "-"
    return f"{value * 100:.1f}%" if percent else f"{value:g}"


def _report_table(report: EvalReport) -> None:
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    table.add_column("#", justify="right")
    table.add_column("question", ratio=1, overflow="fold")
    for name in ("correct", "recall@10", "rounds", "error"):
        table.add_column(name, no_wrap=True)
    for number, r in enumerate(report.results, start=1):
        correct = "-" if r.correct is None else ("yes" if r.correct else "NO")
        table.add_row(
            str(number),
            Text(r.question),
            correct,
            f"{r.recall_at_10:.2f}",
            str(r.rounds),
            r.error_code or "",
        )
    stdout_console().print(table)
    summary = Table.grid(padding=(0, 2))
    summary.add_column(style="bold")
    summary.add_column()
    for name, value in (
        ("connection", report.connection),
        ("mode", report.mode),
        ("endpoint", report.endpoint or "-"),
        ("questions", str(report.questions)),
        ("execution accuracy", _figure(report.execution_accuracy)),
        ("recall@5", _figure(report.recall_at_5)),
        ("recall@10", _figure(report.recall_at_10)),
        ("example hit@k", _figure(report.example_hit_at_k)),
        ("unknown names", _figure(report.unknown_name_rate)),
        ("guard pass", _figure(report.guard_pass_rate)),
        ("EXPLAIN pass", _figure(report.explain_pass_rate)),
        ("mean rounds", _figure(report.mean_rounds, percent=False)),
        ("latency p50", milliseconds(report.latency_ms_p50)),
        ("tokens", f"{report.tokens_in} in, {report.tokens_out} out"),
    ):
        summary.add_row(name, value)
    stdout_console().print(summary)
