"""The retrieval indexes of each connection, built on first use and kept until the
connection's catalog, its sampling switch or the embeddings endpoint changes."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from querydeck.assistant.endpoints import Endpoint
from querydeck.assistant.retrieval import SchemaIndex
from querydeck.assistant.sessions import Flavour, GuardedSessions
from querydeck.assistant.values import ValueIndex
from querydeck.catalog.service import Catalogs
from querydeck.drivers.catalog_model import TableMeta
from querydeck.errors import QueryDeckError

log = logging.getLogger("querydeck.assistant")

#: Documents sent to an embeddings endpoint per call.
EMBED_BATCH = 64

Embed = Callable[[Endpoint, list[str]], list[list[float]]]


@dataclass(frozen=True)
class _Key:
    signature: tuple[tuple[str, int], ...]
    sampling: bool
    embeddings: str | None


class IndexCache:
    def __init__(self, catalog: Catalogs, sessions: GuardedSessions) -> None:
        self._catalog = catalog
        self._sessions = sessions
        self._built: dict[str, tuple[_Key, SchemaIndex]] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()

    def tables(self, connection: str) -> list[TableMeta]:
        return self._catalog.tables(connection)

    def get(
        self,
        connection_id: str,
        connection: str,
        flavour: Flavour,
        *,
        sampling: bool,
        embedder: Endpoint | None,
        embed: Embed,
    ) -> SchemaIndex:
        with self._lock:
            lock = self._locks.setdefault(connection_id, threading.Lock())
        with lock:
            # The signature is one small query; the tables are only read (and decoded)
            # when it changed.
            signature = self._catalog.signature(connection)
            key = _Key(
                signature,
                sampling,
                None if embedder is None else f"{embedder.info.id}@{embedder.info.updated_at}",
            )
            known = self._built.get(connection_id)
            if known is not None and known[0] == key:
                return known[1]
            tables = self._catalog.tables(connection)
            values = self._values(connection, flavour, tables) if sampling else None
            index = SchemaIndex(tables, values)
            index.signature = signature
            if embedder is not None:
                index.embeddings = self._embeddings(index, embedder, embed)
            self._built[connection_id] = (key, index)
            return index

    def _values(self, connection: str, flavour: Flavour, tables: list[TableMeta]) -> ValueIndex:
        try:
            with self._sessions.open(connection) as guarded:
                return ValueIndex.build(
                    tables,
                    flavour.dialect,
                    guarded.first_column,
                    schema_qualified=flavour.style.schema_qualified,
                )
        except QueryDeckError as exc:
            log.warning("value index of %s not built: %s", connection, exc.code)
            return ValueIndex()

    @staticmethod
    def _embeddings(
        index: SchemaIndex, endpoint: Endpoint, embed: Embed
    ) -> list[list[float]] | None:
        texts = [" ".join(doc[:512]) for doc in index.documents]
        vectors: list[list[float]] = []
        try:
            for start in range(0, len(texts), EMBED_BATCH):
                vectors.extend(embed(endpoint, texts[start : start + EMBED_BATCH]))
        except QueryDeckError as exc:
            log.warning("table embeddings not built: %s", exc.code)
            return None
        return vectors

    def forget(self, connection_id: str) -> None:
        with self._lock:
            self._built.pop(connection_id, None)
