"""One question to one checked SELECT.

Candidate tables (retrieval) → stage 1: the model picks tables (validated JSON, retried
once, else the best candidates) → examples and glossary → stage 2: the model writes SQL
from compact DDL → checks (guard, catalog names, EXPLAIN) → a retryable problem is fed back,
at most ``rounds`` times. Connection and permission errors stop at once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from querydeck.assistant import output, prompts
from querydeck.assistant.checks import catalog_problems, guard_problem
from querydeck.assistant.client import Reply
from querydeck.assistant.models import Candidate, ExampleUsed, Problem, Round, Sent
from querydeck.assistant.prompts import Shot, Turn
from querydeck.assistant.retrieval import Ranked, SchemaIndex, candidates, table_key
from querydeck.assistant.sessions import Flavour
from querydeck.drivers.catalog_model import TableMeta
from querydeck.errors import (
    FileAccessDenied,
    ModelOutputInvalid,
    ModelSqlInvalid,
    ModelSqlRejected,
    QueryDeckError,
    QueryFailed,
    QueryRejected,
)
from querydeck.sql.checker import StatementChecker

#: Tables taken from the candidates when stage 1's answer cannot be used.
FALLBACK_TABLES = 5

Chat = Callable[[list[dict[str, str]], str, bool], Reply]
"""``chat(messages, purpose, json_output)``: one logged model call."""


@dataclass(frozen=True)
class Knowledge:
    """What the knowledge base gives a question."""

    shots: Sequence[tuple[str, Shot, float]] = ()  # (example id, shot, score)
    glossary: Sequence[tuple[str, str]] = ()


@dataclass
class Outcome:
    sql: str
    candidates: list[Candidate]
    tables: list[str]
    examples: list[ExampleUsed]
    sent: Sent
    rounds: list[Round]
    tokens_in: int = 0
    tokens_out: int = 0
    stage1: str = "model"
    guarded: str = ""


@dataclass
class _Tally:
    tokens_in: int = 0
    tokens_out: int = 0

    def add(self, reply: Reply) -> Reply:
        self.tokens_in += reply.tokens_in or 0
        self.tokens_out += reply.tokens_out or 0
        return reply


@dataclass
class Pipeline:
    index: SchemaIndex
    flavour: Flavour
    checker: StatementChecker
    chat: Chat
    explain: Callable[[str], None]
    candidate_count: int
    rounds: int
    send_samples: bool = False
    question_embedding: Sequence[float] | None = None
    tally: _Tally = field(default_factory=_Tally)

    @property
    def dialect(self) -> str:
        return self.flavour.dialect

    def run(self, question: str, knowledge: Knowledge, turns: Sequence[Turn]) -> Outcome:
        context = " ".join([*(t.question for t in turns), question])
        ranked = self.index.rank(
            context, self.candidate_count, question_embedding=self.question_embedding
        )
        chosen, how = self.choose(question, ranked, turns)
        literals = [
            f"{h.table}.{h.column} = {h.value!r}" for h in self.index.values.match(question)
        ][:10]
        if not self.send_samples:
            literals = []
        samples = self.index.values.samples if self.send_samples else {}
        ddl = [
            prompts.compact_ddl(
                t,
                self.dialect,
                samples.get((t.schema, t.name)),
                schema_qualified=self.flavour.style.schema_qualified,
            )
            for t in chosen
        ]
        messages = prompts.stage2(
            question,
            self.dialect,
            ddl,
            shots=[s for _, s, _ in knowledge.shots],
            glossary=knowledge.glossary,
            literals=literals,
            turns=turns,
        )
        sql, guarded, rounds = self.write(messages)
        return Outcome(
            sql=sql,
            candidates=candidates(ranked),
            tables=[table_key(t) for t in chosen],
            examples=[
                ExampleUsed(id=i, question=s.question, score=round(score, 4))
                for i, s, score in knowledge.shots
            ],
            sent=Sent(
                tables=[table_key(t) for t in chosen],
                candidate_names=len(ranked),
                sample_values=self.send_samples and bool(samples or literals),
                value_matches=len(literals),
                examples=len(knowledge.shots),
                glossary=len(knowledge.glossary),
            ),
            rounds=rounds,
            tokens_in=self.tally.tokens_in,
            tokens_out=self.tally.tokens_out,
            stage1=how,
            guarded=guarded,
        )

    # --- stage 1 ----------------------------------------------------------------------

    def choose(
        self, question: str, ranked: Sequence[Ranked], turns: Sequence[Turn]
    ) -> tuple[list[TableMeta], str]:
        if not ranked:
            return [], "none"
        allowed = [table_key(r.table) for r in ranked]
        listing = [prompts.listing_line(r.table, self.dialect) for r in ranked]
        messages = prompts.stage1(question, listing, turns)
        names: list[str] | None = None
        how = "model"
        for attempt in range(2):
            reply = self.tally.add(self.chat(messages, "ask.tables", True))
            try:
                names = output.tables_of(reply.content, allowed)
                break
            except ValueError as exc:
                if attempt == 0:
                    messages = [
                        *messages,
                        {"role": "assistant", "content": (reply.content or "")[:2000]},
                        {
                            "role": "user",
                            "content": f"That was not usable ({exc}). Answer only with "
                            '{"tables": ["schema.table", ...]}.',
                        },
                    ]
        if not names:
            names = allowed[:FALLBACK_TABLES]
            how = "fallback"
        chosen = [self.index.find(n) for n in names]
        tables = [t for t in chosen if t is not None]
        for strong in self.index.strong(ranked):
            if strong not in tables:
                tables.append(strong)
        return self._bridged(tables), how

    def _bridged(self, tables: list[TableMeta]) -> list[TableMeta]:
        """Add a table that joins two chosen ones not joined directly (a link table)."""
        keys = {table_key(t) for t in tables}
        extra: list[TableMeta] = []
        for i, a in enumerate(tables):
            near_a = {table_key(n): n for n in self.index.neighbours(a)}
            for b in tables[i + 1 :]:
                if table_key(b) in near_a:
                    continue
                for n in self.index.neighbours(b):
                    if table_key(n) in near_a and table_key(n) not in keys:
                        extra.append(n)
                        keys.add(table_key(n))
                        break
        return tables + extra

    # --- stage 2 and the corrections ------------------------------------------------

    def write(self, messages: list[dict[str, str]]) -> tuple[str, str, list[Round]]:
        rounds: list[Round] = []
        for attempt in range(self.rounds + 1):
            reply = self.tally.add(
                self.chat(messages, "ask.sql" if attempt == 0 else "ask.fix", False)
            )
            try:
                sql = output.sql_of(reply.content)
            except output.NoSql as exc:
                sql, problems, guarded = "", [Problem(kind="syntax", message=str(exc))], ""
            else:
                guarded, problems = self.check(sql)
            if not problems:
                return sql, guarded, rounds
            rounds.append(Round(sql=sql, problems=problems))
            messages = [*messages, *prompts.correction(sql, problems)]
        raise _final_error(rounds)

    def check(self, sql: str) -> tuple[str, list[Problem]]:
        """The guarded text and the problems of ``sql`` (none: it may be run)."""
        guarded, refusal = guard_problem(self.checker, sql, self.flavour.rules)
        if refusal is not None or guarded is None:
            return "", [refusal] if refusal else []
        problems = catalog_problems(sql, self.dialect, self.index)
        if problems:
            return guarded, problems
        try:
            self.explain(guarded)
        except (QueryFailed, QueryRejected) as exc:
            if isinstance(exc, FileAccessDenied):
                raise
            return guarded, [Problem(kind="explain", message=f"{exc.code}: {exc.message}")]
        return guarded, []


def _final_error(rounds: list[Round]) -> QueryDeckError:
    last = rounds[-1]
    detail = {
        "sql": last.sql,
        "problems": [p.model_dump() for p in last.problems],
        "rounds": len(rounds),
    }
    kinds = {p.kind for p in last.problems}
    if not last.sql:
        return ModelOutputInvalid(
            f"The model did not answer with SQL ({last.problems[0].message}).", detail=detail
        )
    if kinds == {"guard"}:
        return ModelSqlRejected(
            "The model's SQL was refused by the guard (it is not one read-only statement); "
            "it was not run.",
            detail=detail,
        )
    return ModelSqlInvalid(
        f"The model's SQL still has problems after {len(rounds) - 1} correction(s): "
        + "; ".join(p.message for p in last.problems[:3]),
        detail=detail,
    )
