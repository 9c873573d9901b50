"""The value index: which low-cardinality text columns hold a word of the question.

Built only where a connection's assistant settings allow sampling: each text column of
each table is profiled with one guarded ``GROUP BY`` (its most frequent values); a column
with at most ``MAX_DISTINCT`` values is kept. A question phrase equal to a value ("Brazil",
"Rock", "AUTOMOBILE") points at its column: the table is a candidate and the model may be
told the literal (only when sample values may be sent).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from querydeck.assistant.text import STOPWORDS, phrases, value_key
from querydeck.catalog.ddl import ident
from querydeck.drivers.catalog_model import TableMeta
from querydeck.errors import QueryDeckError

log = logging.getLogger("querydeck.assistant")

#: A column with more distinct values than this is not a "category" column.
MAX_DISTINCT = 50
#: Columns profiled per connection at most (the largest catalogs keep the first ones).
MAX_COLUMNS = 400
MAX_VALUE_CHARS = 80
#: Seconds the profiling of one connection may take in all (it runs on a first question):
#: the columns not reached by then are left out of the index.
PROFILE_BUDGET_S = 30.0


@dataclass(frozen=True)
class ValueHit:
    schema: str
    table: str
    column: str
    value: str


def profile_sql(table: TableMeta, column: str, dialect: str, *, schema_qualified: bool) -> str:
    qualified = ident(table.name, dialect)
    if schema_qualified:
        qualified = f"{ident(table.schema, dialect)}.{qualified}"
    col = ident(column, dialect)
    return (
        f"SELECT {col} AS v, COUNT(*) AS n FROM {qualified} WHERE {col} IS NOT NULL "
        f"GROUP BY {col} ORDER BY n DESC LIMIT {MAX_DISTINCT + 1}"
    )


def text_columns(tables: Sequence[TableMeta]) -> Iterable[tuple[TableMeta, str]]:
    count = 0
    for table in tables:
        for column in table.columns:
            if column.family != "text":
                continue
            yield table, column.name
            count += 1
            if count >= MAX_COLUMNS:
                return


class ValueIndex:
    def __init__(self) -> None:
        self._values: dict[str, list[ValueHit]] = {}
        #: (schema, table) -> column -> a few values (what may be sent as samples).
        self.samples: dict[tuple[str, str], dict[str, list[str]]] = {}

    @classmethod
    def build(
        cls,
        tables: Sequence[TableMeta],
        dialect: str,
        fetch: Callable[[str], list[object]],
        *,
        schema_qualified: bool = True,
        budget_s: float = PROFILE_BUDGET_S,
    ) -> ValueIndex:
        """Profile text columns with ``fetch(sql) -> first column's values`` until
        ``budget_s`` is spent; a column whose profile fails is skipped."""
        index = cls()
        deadline = time.monotonic() + budget_s
        for table, column in text_columns(tables):
            if time.monotonic() > deadline:
                log.warning(
                    "value index stopped at %s.%s: profiling budget spent", table.name, column
                )
                break
            try:
                values = fetch(
                    profile_sql(table, column, dialect, schema_qualified=schema_qualified)
                )
            except QueryDeckError as exc:  # one column's failure does not stop the index
                log.info("value profile of %s.%s skipped: %s", table.name, column, exc.code)
                continue
            if len(values) > MAX_DISTINCT:
                continue
            kept = [str(v)[:MAX_VALUE_CHARS] for v in values if isinstance(v, str) and v.strip()]
            if kept:
                index.add(table.schema, table.name, column, kept)
        return index

    def add(self, schema: str, table: str, column: str, values: Sequence[str]) -> None:
        self.samples.setdefault((schema, table), {})[column] = list(values[:5])
        for value in values:
            key = value_key(value)
            if key:
                self._values.setdefault(key, []).append(ValueHit(schema, table, column, value))

    def __len__(self) -> int:
        return len(self._values)

    def match(self, question: str) -> list[ValueHit]:
        """Columns holding a phrase of the question, longest phrases first."""
        found: list[ValueHit] = []
        seen: set[tuple[str, str, str, str]] = set()
        for phrase in phrases(question):
            if len(phrase) < 2 or phrase in STOPWORDS:
                continue
            for hit in self._values.get(phrase, ()):
                marker = (hit.schema, hit.table, hit.column, hit.value)
                if marker not in seen:
                    seen.add(marker)
                    found.append(hit)
        return found
