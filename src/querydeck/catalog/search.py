"""An in-memory search index over every cached catalog: relation and column names and
comments, ranked exact > prefix > substring > comment > fuzzy.

Text is compared after NFKC normalisation and case folding, so ``ＮＡＭＥ``, ``Name`` and
``name`` are one key, and a composed ``é`` matches a decomposed one. Names shared by many
columns (``id``, ``name``) are one key pointing at all of them, so a query scans the
distinct names once. Fuzzy matches come from shared trigrams (similarity ≥ 0.2).
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass

import orjson

MIN_SIMILARITY = 0.2
TIERS = ("exact", "prefix", "substring", "comment", "fuzzy")
_KIND_ORDER = {"column": 1}


def fold(text: str) -> str:
    """NFKC + casefold (then NFKC again: case folding can denormalise)."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())


def trigrams(text: str) -> set[str]:
    padded = f"  {text} "
    return {padded[i : i + 3] for i in range(len(padded) - 2)}


@dataclass(frozen=True)
class Entry:
    kind: str
    connection_id: str
    schema: str
    table: str
    column: str | None
    name: str
    comment: str | None
    native_type: str | None

    @property
    def order(self) -> tuple[int, str, str, str, str]:
        return (
            _KIND_ORDER.get(self.kind, 0),
            self.connection_id,
            self.schema,
            self.table,
            self.column or "",
        )


@dataclass(frozen=True)
class Hit:
    entry: Entry
    match: str


class SearchIndex:
    """Built once from the cached descriptions; answers queries without the database."""

    def __init__(self, tables: list[tuple[str, str, bytes]]) -> None:
        entries: list[Entry] = []
        for connection_id, schema, content in tables:
            data = orjson.loads(content)
            table = data["name"]
            entries.append(
                Entry(
                    data["kind"],
                    connection_id,
                    schema,
                    table,
                    None,
                    table,
                    data.get("comment"),
                    None,
                )
            )
            for column in data["columns"]:
                entries.append(
                    Entry(
                        "column",
                        connection_id,
                        schema,
                        table,
                        column["name"],
                        column["name"],
                        column.get("comment"),
                        column["native_type"],
                    )
                )
        entries.sort(key=lambda e: e.order)
        self.size = len(entries)
        self._by_key: dict[str, list[Entry]] = {}
        self._comments: list[tuple[str, Entry]] = []
        for entry in entries:
            self._by_key.setdefault(fold(entry.name), []).append(entry)
            if entry.comment:
                self._comments.append((fold(entry.comment), entry))
        self._keys = sorted(self._by_key, key=lambda k: (len(k), k))
        self._grams: dict[str, list[str]] = {}
        self._gram_counts: dict[str, int] = {}
        for name in self._keys:
            grams = trigrams(name)
            self._gram_counts[name] = len(grams)
            for gram in grams:
                self._grams.setdefault(gram, []).append(name)

    def search(
        self, query: str, *, limit: int, offset: int, allowed: Collection[str] | None = None
    ) -> tuple[list[Hit], int]:
        """One page of hits, best first, and how many there are in all (only in the
        connection ids ``allowed`` when given)."""
        q = fold(query).strip()
        groups: list[tuple[str, list[Entry]]] = []
        exact = self._by_key.get(q)
        if exact:
            groups.append(("exact", exact))
        prefix: list[str] = []
        inner: list[str] = []
        for name in self._keys:
            if name != q and q in name:
                (prefix if name.startswith(q) else inner).append(name)
        groups.extend(("prefix", self._by_key[n]) for n in prefix)
        groups.extend(("substring", self._by_key[n]) for n in inner)
        matched = {q, *prefix, *inner}
        comments = [e for text, e in self._comments if q in text and fold(e.name) not in matched]
        if comments:
            groups.append(("comment", comments))
        if len(q) >= 3:
            groups.extend(("fuzzy", self._by_key[n]) for n in self._fuzzy(q, matched))
        if allowed is not None:
            groups = [(m, [e for e in g if e.connection_id in allowed]) for m, g in groups]
        total = sum(len(g) for _, g in groups)
        page: list[Hit] = []
        skip = offset
        for match, group in groups:
            if len(page) >= limit:
                break
            if skip >= len(group):
                skip -= len(group)
                continue
            for entry in group[skip : skip + limit - len(page)]:
                page.append(Hit(entry, match))
            skip = 0
        return page, total

    def _fuzzy(self, q: str, matched: set[str]) -> list[str]:
        wanted = trigrams(q)
        shared: Counter[str] = Counter()
        for gram in wanted:
            names = self._grams.get(gram)
            if names:
                shared.update(names)
        scored = []
        for name, count in shared.items():
            if name in matched:
                continue
            similarity = count / (len(wanted) + self._gram_counts[name] - count)
            if similarity >= MIN_SIMILARITY:
                scored.append((-similarity, len(name), name))
        scored.sort()
        return [name for _, _, name in scored]
