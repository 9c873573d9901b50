"""The accuracy harness: questions with gold SQL, the assistant's answers, and figures.

Execution accuracy compares the result sets of the gold and the generated SQL (as multisets
of rows, or as lists when the gold SQL orders its outermost query; numbers compared after
rounding to 6 significant digits, column names ignored). Schema-linking recall@k is the share
of the gold SQL's tables (read with sqlglot) among the first k candidates.
"""

from __future__ import annotations

import math
import statistics
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

import orjson
from pydantic import ValidationError
from sqlglot import exp
from sqlglot.errors import SqlglotError

from querydeck.assistant.models import EvalQuestion, EvalReport, EvalResult
from querydeck.assistant.pipeline import Outcome
from querydeck.assistant.retrieval import Ranked, table_key
from querydeck.drivers.catalog_model import TableMeta
from querydeck.errors import QueryDeckError, QuestionFileInvalid

MAX_QUESTIONS = 10_000


def load_questions(text: str) -> list[EvalQuestion]:
    """JSON Lines of ``{"question": ..., "sql": ...}`` (blank lines and ``//`` comments
    skipped; other keys than ``id`` refused)."""
    out: list[EvalQuestion] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("//"):
            continue
        try:
            out.append(EvalQuestion.model_validate(orjson.loads(line)))
        except (orjson.JSONDecodeError, ValidationError):
            raise QuestionFileInvalid(
                'Each line of a question file is one {"question": "...", "sql": "..."} object.',
                detail={"line": number},
            ) from None
        if len(out) > MAX_QUESTIONS:
            raise QuestionFileInvalid(
                f"A question file has at most {MAX_QUESTIONS:,} questions.",
                detail={"line": number},
            )
    if not out:
        raise QuestionFileInvalid("The question file has no question.", detail={"line": 1})
    return out


def ordered(sql: str, dialect: str) -> bool:
    """Whether the outermost query orders its rows."""
    try:
        tree: exp.Expr = exp.maybe_parse(sql, dialect=dialect)
    except SqlglotError:
        return False
    return bool(tree.args.get("order"))


def _value(v: Any) -> Any:
    if isinstance(v, bool) or v is None:
        return v
    if isinstance(v, (int, float, Decimal)):
        number = float(v)
        if math.isnan(number) or number == 0:
            return 0.0
        digits = 5 - math.floor(math.log10(abs(number)))
        return round(number, digits)
    return str(v)


def same_result(
    gold: Sequence[Sequence[Any]], got: Sequence[Sequence[Any]], in_order: bool
) -> bool:
    a = [tuple(_value(v) for v in row) for row in gold]
    b = [tuple(_value(v) for v in row) for row in got]
    if in_order:
        return a == b
    return Counter(a) == Counter(b)


def recall(gold: Sequence[str], ranked: Sequence[str], k: int) -> float:
    if not gold:
        return 1.0
    top = set(ranked[:k])
    return sum(1 for g in gold if g in top) / len(gold)


@dataclass
class Harness:
    """What one evaluation needs: ranking, answering, executing (callables bound to one
    connection by the service)."""

    dialect: str
    rank: Callable[[str], list[Ranked]]
    tables_of: Callable[[str], list[TableMeta]]
    execute: Callable[[str], list[tuple[Any, ...]]]
    answer: Callable[[EvalQuestion], Outcome] | None = None
    baseline: Callable[[EvalQuestion], tuple[str, int, int]] | None = None

    def run(
        self,
        connection: str,
        questions: Sequence[EvalQuestion],
        *,
        mode: Literal["pipeline", "baseline", "retrieval"],
        endpoint: str | None,
    ) -> EvalReport:
        results = [self._one(q, mode) for q in questions]
        return _report(connection, mode, endpoint, results)

    def _one(self, q: EvalQuestion, mode: str) -> EvalResult:
        gold_tables = [table_key(t) for t in self.tables_of(q.sql)]
        ranked = [table_key(r.table) for r in self.rank(q.question)]
        result = EvalResult(
            question=q.question,
            gold_sql=q.sql,
            gold_tables=gold_tables,
            recall_at_5=recall(gold_tables, ranked, 5),
            recall_at_10=recall(gold_tables, ranked, 10),
        )
        if mode == "retrieval":
            return result
        started = time.monotonic()
        try:
            if mode == "baseline":
                assert self.baseline is not None
                result.sql, result.tokens_in, result.tokens_out = self.baseline(q)
            else:
                assert self.answer is not None
                outcome = self.answer(q)
                result.sql = outcome.sql
                result.rounds = len(outcome.rounds)
                result.tokens_in, result.tokens_out = outcome.tokens_in, outcome.tokens_out
                result.example_hit = bool(outcome.examples)
                result.unknown_names = sum(
                    1
                    for r in outcome.rounds
                    for p in r.problems
                    if p.kind in ("unknown_table", "unknown_column")
                )
                result.guard_passed = not any(
                    p.kind == "guard" for r in outcome.rounds for p in r.problems
                )
                result.explain_passed = not any(
                    p.kind == "explain" for r in outcome.rounds for p in r.problems
                )
        except QueryDeckError as exc:
            result.error_code = exc.code
            result.correct = False
            result.guard_passed = exc.code != "LLM_SQL_REJECTED"
            result.latency_ms = round((time.monotonic() - started) * 1000, 3)
            return result
        result.latency_ms = round((time.monotonic() - started) * 1000, 3)
        try:
            gold_rows = self.execute(q.sql)
        except QueryDeckError as exc:
            result.error_code = f"GOLD_{exc.code}"
            return result
        try:
            got = self.execute(result.sql or "")
        except QueryDeckError as exc:
            result.error_code, result.correct = exc.code, False
            return result
        result.correct = same_result(gold_rows, got, ordered(q.sql, self.dialect))
        return result


def _mean(values: Sequence[float]) -> float | None:
    return round(sum(values) / len(values), 4) if values else None


def _report(
    connection: str, mode: Any, endpoint: str | None, results: list[EvalResult]
) -> EvalReport:
    n = len(results)
    judged = [r for r in results if r.correct is not None]
    report = EvalReport(
        connection=connection,
        mode=mode,
        endpoint=endpoint,
        questions=n,
        recall_at_5=_mean([r.recall_at_5 for r in results]) or 0.0,
        recall_at_10=_mean([r.recall_at_10 for r in results]) or 0.0,
        results=results,
    )
    if mode == "retrieval" or not n:
        return report
    report.execution_accuracy = _mean([1.0 if r.correct else 0.0 for r in judged])
    report.tokens_in = sum(r.tokens_in for r in results)
    report.tokens_out = sum(r.tokens_out for r in results)
    report.latency_ms_p50 = round(statistics.median(r.latency_ms for r in results), 3)
    if mode == "pipeline":
        report.example_hit_at_k = _mean([1.0 if r.example_hit else 0.0 for r in results])
        report.unknown_name_rate = _mean([1.0 if r.unknown_names else 0.0 for r in results])
        report.guard_pass_rate = _mean([1.0 if r.guard_passed else 0.0 for r in results])
        report.explain_pass_rate = _mean([1.0 if r.explain_passed else 0.0 for r in results])
        report.mean_rounds = _mean([float(r.rounds) for r in results])
    return report
