"""Candidate tables for a question: lexical (BM25), value matches and optional embeddings,
fused by reciprocal rank, then expanded along foreign keys.

A :class:`SchemaIndex` is built from one connection's cached catalog (only connections the
user may browse reach it) and kept until a refresh changes that catalog.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from querydeck.assistant.lexical import LexicalIndex
from querydeck.assistant.models import Candidate
from querydeck.assistant.text import stem, words
from querydeck.assistant.values import ValueIndex
from querydeck.drivers.catalog_model import TableMeta

#: Reciprocal-rank fusion constant (the usual 60: ranks matter, raw scores do not).
RRF_K = 60
#: Repeats of a table's own name words in its document (a name says more than a column).
NAME_WEIGHT = 3
#: How many of the best tables have their foreign-key neighbours added.
EXPAND_FROM = 5
#: A neighbour's score, as a share of the table that brought it in.
NEIGHBOUR_SHARE = 0.5
#: Column words at least this long are also indexed by their halves, each at least
#: ``MIN_PART`` characters.
COMPOUND_CHARS = 8
MIN_PART = 3
#: Among this many best tables, one joined to another gets this share of its score.
COHERE_FROM = 30
COHERE_SHARE = 0.5
#: Lexical hits at least this share of the best score are kept whatever the model says.
STRONG_SHARE = 0.8


def table_key(table: TableMeta) -> str:
    return f"{table.schema}.{table.name}"


@functools.lru_cache(maxsize=65_536)
def parts(word: str) -> tuple[str, ...]:
    """The halves of a compound name word (``totalprice`` → ``total`` and ``price``, among
    other cuts): "total price" in a question then meets ``o_totalprice``. Cuts that are not
    words cost a little index space and match nothing a question says."""
    if len(word) < COMPOUND_CHARS or not word.isalpha():
        return ()
    out: list[str] = []
    for cut in range(MIN_PART, len(word) - MIN_PART + 1):
        out += [word[:cut], stem(word[cut:])]
    return tuple(out)


def name_words(table: TableMeta) -> list[str]:
    """The words of a table's name, without numbers (``sales_2024`` is about sales)."""
    return [w for w in words(table.name) if not w.isdigit()]


def query_words(question: str) -> list[str]:
    """The words of a question the lexical index is asked for (numbers are values, not
    names: "the 10 best customers" must not find ``t10``)."""
    return [w for w in words(question, drop_stopwords=True) if not w.isdigit()]


def document(table: TableMeta, values: dict[str, list[str]] | None = None) -> list[str]:
    """The words a table is found by: its name (weighted), comment, columns (and the halves
    of compound column words) and their comments, the tables it references and, where
    sampling is allowed, its top values."""
    doc = name_words(table) * NAME_WEIGHT
    if table.comment:
        doc += words(table.comment)
    for column in table.columns:
        named = words(column.name)
        doc += named
        for word in named:
            doc += parts(word)
        if column.comment:
            doc += words(column.comment)
    for fk in table.foreign_keys:
        doc += words(fk.ref_table)
    for samples in (values or {}).values():
        for value in samples:
            doc += words(value)
    return doc


@dataclass
class Ranked:
    table: TableMeta
    score: float
    why: list[str] = field(default_factory=list)
    lexical: float = 0.0


class SchemaIndex:
    """The retrieval indexes of one connection's catalog."""

    def __init__(self, tables: Sequence[TableMeta], values: ValueIndex | None = None) -> None:
        self.tables = list(tables)
        self.values = values or ValueIndex()
        self._by_key = {table_key(t): i for i, t in enumerate(self.tables)}
        self._by_name: dict[str, list[int]] = {}
        for i, t in enumerate(self.tables):
            self._by_name.setdefault(t.name.casefold(), []).append(i)
        samples = self.values.samples
        self.documents = [document(t, samples.get((t.schema, t.name))) for t in self.tables]
        self.lexical = LexicalIndex(self.documents)
        self._neighbours = self._foreign_keys()
        self._name_words = [name_words(t) for t in self.tables]
        self._by_name_word: dict[str, list[int]] = {}
        for i, named in enumerate(self._name_words):
            for word in set(named):
                self._by_name_word.setdefault(word, []).append(i)
                for half in parts(word)[::2]:  # first halves: "line" finds "lineitem"
                    self._by_name_word.setdefault(half, []).append(i)
        #: Table embeddings, when an embeddings endpoint exists (see indexes.py).
        self.embeddings: list[list[float]] | None = None
        #: The catalog signature the index was built from (see indexes.py).
        self.signature: tuple[tuple[str, int], ...] = ()

    def _foreign_keys(self) -> list[set[int]]:
        neighbours: list[set[int]] = [set() for _ in self.tables]
        for i, table in enumerate(self.tables):
            for fk in table.foreign_keys:
                j = self._by_key.get(f"{fk.ref_schema}.{fk.ref_table}")
                if j is None:
                    found = self._by_name.get(fk.ref_table.casefold(), [])
                    j = found[0] if len(found) == 1 else None
                if j is not None and j != i:
                    neighbours[i].add(j)
                    neighbours[j].add(i)
        return neighbours

    def find(self, name: str) -> TableMeta | None:
        """A table by ``schema.table`` or by a unique bare name."""
        i = self._by_key.get(name)
        if i is None:
            found = self._by_name.get(name.casefold(), [])
            i = found[0] if len(found) == 1 else None
        return None if i is None else self.tables[i]

    def neighbours(self, table: TableMeta) -> list[TableMeta]:
        i = self._by_key.get(table_key(table))
        return [] if i is None else [self.tables[j] for j in sorted(self._neighbours[i])]

    def rank(
        self,
        question: str,
        limit: int,
        *,
        question_embedding: Sequence[float] | None = None,
        depth: int = 100,
    ) -> list[Ranked]:
        """The ``limit`` best tables for ``question``, best first."""
        fused: dict[int, Ranked] = {}

        def add(i: int, rank: int, why: str) -> None:
            entry = fused.setdefault(i, Ranked(self.tables[i], 0.0))
            entry.score += 1.0 / (RRF_K + rank)
            if why not in entry.why:
                entry.why.append(why)

        asked = query_words(question)
        lexical = self.lexical.search(asked, depth)
        for rank, (i, score) in enumerate(lexical, start=1):
            add(i, rank, "lexical")
            fused[i].lexical = score
        for rank, i in enumerate(self._named(asked, lexical), start=1):
            add(i, rank, "name")
        value_tables: list[int] = []
        for hit in self.values.match(question):
            found = self._by_key.get(f"{hit.schema}.{hit.table}")
            if found is not None and found not in value_tables:
                value_tables.append(found)
        for rank, i in enumerate(value_tables, start=1):
            add(i, rank, "values")
        if question_embedding is not None and self.embeddings is not None:
            similar = _cosine_ranking(question_embedding, self.embeddings, depth)
            for rank, i in enumerate(similar, start=1):
                add(i, rank, "embeddings")
        self._cohere(fused)
        best = sorted(fused.items(), key=lambda kv: (-kv[1].score, table_key(kv[1].table)))
        for i, entry in best[:EXPAND_FROM]:
            for j in self._neighbours[i]:
                share = entry.score * NEIGHBOUR_SHARE
                neighbour = fused.get(j)
                if neighbour is None:
                    fused[j] = Ranked(self.tables[j], share, ["foreign_key"])
                elif neighbour.score < share:
                    neighbour.score = share
                    neighbour.why.append("foreign_key")
        ordered = sorted(fused.values(), key=lambda r: (-r.score, table_key(r.table)))
        return ordered[:limit]

    def _named(self, asked: Sequence[str], lexical: Sequence[tuple[int, float]]) -> list[int]:
        """Tables every word of whose name the question says ("customers" names
        ``customer``, "line items" ``lineitem``), longer names first, then by lexical
        score: among thousands of tables sharing the question's words, the one it names."""
        said = set(asked)
        found: set[int] = set()
        for word in said:
            found.update(self._by_name_word.get(word, ()))
        scores = dict(lexical)
        covered = [
            i
            for i in found
            if all(_said(w, said) for w in self._name_words[i]) and self._name_words[i]
        ]
        covered.sort(key=lambda i: (-len(self._name_words[i]), -scores.get(i, 0.0), i))
        return covered

    def _cohere(self, fused: dict[int, Ranked]) -> None:
        """Raise the best tables that join one another: the tables a question needs are
        connected by foreign keys; look-alikes scattered over a big schema are not."""
        best = sorted(fused, key=lambda i: -fused[i].score)[:COHERE_FROM]
        chosen = set(best)
        bonus = {
            i: max((fused[j].score for j in self._neighbours[i] & chosen), default=0.0)
            for i in best
        }
        for i, extra in bonus.items():
            if extra:
                fused[i].score += COHERE_SHARE * extra
                if "joined" not in fused[i].why:
                    fused[i].why.append("joined")

    def strong(self, ranked: Sequence[Ranked]) -> list[TableMeta]:
        """Lexical hits close to the best one: kept whatever the model chooses."""
        top = max((r.lexical for r in ranked), default=0.0)
        if top <= 0:
            return []
        return [r.table for r in ranked if r.lexical >= STRONG_SHARE * top]


def _said(word: str, said: set[str]) -> bool:
    """A name word the question says, whole or as the two halves of a compound."""
    if word in said:
        return True
    halves = parts(word)
    return any(halves[k] in said and halves[k + 1] in said for k in range(0, len(halves), 2))


def candidates(ranked: Sequence[Ranked]) -> list[Candidate]:
    return [
        Candidate(
            schema_name=r.table.schema, table=r.table.name, score=round(r.score, 6), why=r.why
        )
        for r in ranked
    ]


def _cosine_ranking(
    query: Sequence[float], vectors: Sequence[Sequence[float]], depth: int
) -> list[int]:
    qn = math.sqrt(sum(x * x for x in query)) or 1.0
    scored = []
    for i, vector in enumerate(vectors):
        if len(vector) != len(query):
            continue
        vn = math.sqrt(sum(x * x for x in vector)) or 1.0
        scored.append((sum(a * b for a, b in zip(query, vector, strict=True)) / (qn * vn), i))
    scored.sort(reverse=True)
    return [i for _, i in scored[:depth]]
