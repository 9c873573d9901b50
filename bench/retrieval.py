"""The assistant's retrieval and pipeline overhead.

Run alone with ``uv run --with bm25s python -m bench.retrieval`` (``make bench`` does).

- Candidate-table retrieval on 5,000 and 20,000 synthetic tables (10 columns each, names
  made of business words, a third with comments): index build time and p50/p99 query time
  of querydeck's index (tantivy), next to bm25s indexing the same word lists.
- Schema-linking recall@10 of the repository's question sets (Chinook and TPC-H, gold
  tables read from the gold SQL) when their tables hide among 5,000 synthetic ones.
- The ask pipeline's own overhead on the demo's Chinook with a scripted model that answers
  at once (the tests' local server: everything but the model), next to a plain run of the
  same gold SQL.
"""

from __future__ import annotations

import json
import random
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from tests.llmserver import llm_server, oracle

from querydeck.app import demo
from querydeck.app.workbench import Workbench
from querydeck.assistant.checks import tables_used
from querydeck.assistant.lexical import LexicalIndex
from querydeck.assistant.models import AskInput, EndpointInput
from querydeck.assistant.retrieval import SchemaIndex, document, table_key
from querydeck.assistant.text import words
from querydeck.auth.principal import LOCAL
from querydeck.drivers.catalog_model import ColumnMeta, ForeignKeyMeta, TableMeta
from querydeck.runs.models import RunRequest
from querydeck.settings import load_settings

ROOT = Path(__file__).resolve().parents[1]
QUESTIONS = ROOT / "tests" / "fixtures" / "assistant"
SIZES = (5_000, 20_000)
QUERIES = 400
VOCABULARY = [
    "customer",
    "order",
    "invoice",
    "line",
    "item",
    "product",
    "price",
    "total",
    "amount",
    "account",
    "balance",
    "country",
    "city",
    "region",
    "nation",
    "address",
    "phone",
    "email",
    "name",
    "title",
    "status",
    "kind",
    "type",
    "code",
    "date",
    "created",
    "updated",
    "shipped",
    "returned",
    "discount",
    "tax",
    "quantity",
    "supplier",
    "part",
    "warehouse",
    "stock",
    "employee",
    "manager",
    "department",
    "salary",
    "payment",
    "method",
    "currency",
    "rate",
    "segment",
    "priority",
    "clerk",
    "comment",
    "note",
    "track",
    "album",
    "artist",
    "genre",
    "media",
    "playlist",
    "sale",
    "revenue",
    "cost",
    "margin",
    "channel",
    "campaign",
    "click",
    "session",
    "user",
    "device",
    "event",
    "log",
    "audit",
    "ticket",
    "agent",
    "queue",
    "shift",
    "store",
    "brand",
    "category",
    "season",
    "promotion",
    "coupon",
    "refund",
    "return",
    "carrier",
    "route",
    "vehicle",
    "driver",
    "trip",
    "fare",
    "patient",
    "doctor",
    "visit",
    "claim",
    "policy",
    "premium",
    "loan",
    "branch",
    "ledger",
    "journal",
    "entry",
    "budget",
]


def synthetic(count: int, seed: int = 7) -> list[TableMeta]:
    rng = random.Random(seed)
    tables = []
    for i in range(count):
        a, b = rng.sample(VOCABULARY, 2)
        name = f"{a}_{b}_{i}" if i % 2 else f"{a}{b.capitalize()}{i}"
        columns = [
            ColumnMeta(
                name=f"{rng.choice(VOCABULARY)}_{rng.choice(VOCABULARY)}",
                ordinal=c,
                native_type="text",
                family="text",
                nullable=True,
            )
            for c in range(10)
        ]
        comment = " ".join(rng.sample(VOCABULARY, 6)) if i % 3 == 0 else None
        table = TableMeta("bench", name, "table", columns=columns, comment=comment)
        if i % 5 and tables:  # four tables in five reference an earlier one
            target = tables[rng.randrange(len(tables))]
            table.foreign_keys.append(
                ForeignKeyMeta(None, [f"{target.name}_id"], "bench", target.name, ["id"])
            )
        tables.append(table)
    return tables


def _queries(count: int, seed: int = 11) -> list[list[str]]:
    rng = random.Random(seed)
    return [
        words(" ".join(rng.sample(VOCABULARY, rng.randint(2, 5))), drop_stopwords=True)
        for _ in range(count)
    ]


def _percentiles(samples: Sequence[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def _timed(function: Callable[[], object]) -> float:
    started = time.perf_counter()
    function()
    return (time.perf_counter() - started) * 1000


class _Bm25s:
    def __init__(self, documents: Sequence[Sequence[str]]) -> None:
        import bm25s  # `make bench` runs with it (uv run --with): not a project dependency

        self.retriever = bm25s.BM25()
        self.retriever.index([list(d) for d in documents], show_progress=False)
        self.size = len(documents)

    def search(self, query: Sequence[str], limit: int) -> object:
        return self.retriever.retrieve([list(query)], k=min(limit, self.size), show_progress=False)


def retrieval_rows() -> list[tuple[str, str, str, str]]:
    rows = []
    queries = _queries(QUERIES)
    for size in SIZES:
        documents = [document(t) for t in synthetic(size)]
        builds: dict[str, list[float]] = {"tantivy": [], "bm25s": []}
        indexes: dict[str, LexicalIndex | _Bm25s] = {}
        for _ in range(3):  # alternated, medians
            for which, make in (("tantivy", LexicalIndex), ("bm25s", _Bm25s)):
                started = time.perf_counter()
                indexes[which] = make(documents)
                builds[which].append((time.perf_counter() - started) * 1000)
        times: dict[str, list[float]] = {"tantivy": [], "bm25s": []}
        for query in queries:
            for which, index in indexes.items():
                times[which].append(_timed(lambda i=index, q=query: i.search(q, 20)))
        rows.append(_ranking_row(size))
        t50, t99 = _percentiles(times["tantivy"])
        b50, b99 = _percentiles(times["bm25s"])
        tb, bb = statistics.median(builds["tantivy"]), statistics.median(builds["bm25s"])
        rows.append(
            (
                f"candidate tables, {size:,} tables: index build (median of 3)",
                f"tantivy {tb:,.0f} ms",
                f"bm25s {bb:,.0f} ms",
                f"{tb / bb:.2f}×",
            )
        )
        rows.append(
            (
                f"candidate tables, {size:,} tables: one query, top 20 ({QUERIES} queries)",
                f"tantivy p50 {t50:.2f} ms, p99 {t99:.2f} ms",
                f"bm25s p50 {b50:.2f} ms, p99 {b99:.2f} ms",
                f"{t50 / b50:.2f}× (p50)",
            )
        )
    return rows


def _ranking_row(size: int) -> tuple[str, str, str, str]:
    """The whole candidate ranking (BM25, name matches, joins, foreign-key neighbours) as
    an ask runs it, next to the BM25 query alone on the same index."""
    rng = random.Random(5)
    builds = []
    tables = synthetic(size)
    for _ in range(3):
        started = time.perf_counter()
        index = SchemaIndex(tables)
        builds.append((time.perf_counter() - started) * 1000)
    questions = [
        "which " + " ".join(rng.sample(VOCABULARY, rng.randint(2, 5))) + " are there?"
        for _ in range(QUERIES)
    ]
    ranked = [_timed(lambda q=q: index.rank(q, 20)) for q in questions]
    alone = [
        _timed(lambda q=q: index.lexical.search(words(q, drop_stopwords=True), 100))
        for q in questions
    ]
    r50, r99 = _percentiles(ranked)
    a50, a99 = _percentiles(alone)
    return (
        f"candidate tables, {size:,} tables: whole ranking of a question, top 20 "
        f"(index built in {statistics.median(builds):,.0f} ms with the table documents)",
        f"p50 {r50:.2f} ms, p99 {r99:.2f} ms",
        f"its BM25 query alone (top 100): p50 {a50:.2f} ms, p99 {a99:.2f} ms",
        f"{r50 / a50:.1f}× (p50; goal p50 ≤ 20 ms at 20,000)",
    )


def _load(name: str) -> list[dict[str, str]]:
    lines = (QUESTIONS / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def recall_row(catalogs: dict[str, tuple[str, list[TableMeta]]]) -> tuple[str, str, str, str]:
    """Recall@10 of every question with its connection's tables among 5,000 others."""
    noise = synthetic(5_000, seed=3)
    alone: list[float] = []
    hidden: list[float] = []
    for name, (dialect, tables) in catalogs.items():
        own = SchemaIndex(tables)
        crowd = SchemaIndex(tables + noise)
        for q in _load(name):
            gold = {table_key(t) for t in tables_used(q["sql"], dialect, own)}
            for index, out in ((own, alone), (crowd, hidden)):
                top = {table_key(r.table) for r in index.rank(q["question"], 10)}
                out.append(len(gold & top) / len(gold))
    count = len(alone)
    return (
        f"schema-linking recall@10, {count} questions (Chinook, TPC-H), lexical only",
        f"{statistics.mean(hidden):.3f} among 5,000 synthetic tables",
        f"{statistics.mean(alone):.3f} on the connection alone",
        "goal ≥ 0.95",
    )


def pipeline_rows() -> tuple[
    list[tuple[str, str, str, str]], dict[str, tuple[str, list[TableMeta]]]
]:
    directory = Path(tempfile.mkdtemp(prefix="qd-bench-assistant-"))
    try:
        demo.prepare(directory / "data" / "demo")
        settings = load_settings(
            data_dir=directory / "data", assistant_allow_loopback=True, assistant_log_max_chars=0
        )
        questions = _load("chinook")
        gold = {q["question"]: q["sql"] for q in questions}
        with llm_server() as server, Workbench(settings) as wb:
            wb.admin.create_demo()
            server.use(oracle(gold, "sqlite"))
            wb.assistant.endpoints.create(
                EndpointInput(name="scripted", base_url=server.url, model="m")
            )
            catalogs = {
                "chinook": ("sqlite", wb.assistant.indexes.tables("chinook")),
                "tpch": ("duckdb", wb.assistant.indexes.tables("demo")),
            }
            for q in questions[:3]:  # warm: indexes, sessions, caches
                wb.assistant.ask("chinook", AskInput(question=q["question"]), actor=LOCAL)
                wb.runs.run(RunRequest(connection="chinook", sql=q["sql"]), actor=LOCAL)
            asks: list[float] = []
            runs: list[float] = []
            for _ in range(3):
                for q in questions:
                    before = len(server.requests)
                    started = time.perf_counter()
                    answer = wb.assistant.ask(
                        "chinook", AskInput(question=q["question"]), actor=LOCAL
                    )
                    asks.append((time.perf_counter() - started) * 1000)
                    assert answer.sql == q["sql"]
                    assert len(server.requests) == before + 2
                    runs.append(
                        _timed(
                            lambda q=q: wb.runs.run(
                                RunRequest(connection="chinook", sql=q["sql"]), actor=LOCAL
                            )
                        )
                    )
            a50, a99 = _percentiles(asks)
            r50, r99 = _percentiles(runs)
        row = (
            f"ask pipeline overhead, Chinook (SQLite), {len(questions)} questions × 3, scripted "
            "model answering at once over local HTTP (2 calls: tables, SQL)",
            f"p50 {a50:.1f} ms, p99 {a99:.1f} ms",
            f"a plain run of the gold SQL: p50 {r50:.1f} ms, p99 {r99:.1f} ms",
            f"{a50 / r50:.1f}× (p50; goal p50 ≤ 50 ms)",
        )
        return [row], catalogs
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def run() -> list[tuple[str, str, str, str]]:
    pipeline, catalogs = pipeline_rows()
    return [*retrieval_rows(), recall_row(catalogs), *pipeline]


if __name__ == "__main__":
    for row in run():
        print(" | ".join(row))
