"""The lexical index of candidate tables: BM25 over each table's words, in tantivy.

tantivy was kept over bm25s, which ``bench/retrieval.py`` (part of ``make bench``) measures
next to it: it builds the index faster, queries as fast, and needs no numpy (which pyarrow
would then import in every process). Documents and queries are made of
:func:`querydeck.assistant.text.words`, so tantivy's own tokenizer only splits on spaces
and lower-cases what is already lower case; queries are built term by term (the query
language is never parsed: a question is not a query).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

_HEAP_BYTES = 50_000_000


class LexicalIndex:
    """BM25 over documents given as word lists; ``search`` answers (document number,
    score) pairs, best first."""

    def __init__(self, documents: Sequence[Sequence[str]]) -> None:
        import tantivy  # on first use: a server that never asks does not load it

        self._tantivy: Any = tantivy
        builder = tantivy.SchemaBuilder()
        builder.add_text_field("body", stored=False, tokenizer_name="whitespace")
        builder.add_integer_field("doc", stored=True, indexed=False, fast=False)
        self._schema = builder.build()
        self._index = tantivy.Index(self._schema)
        writer = self._index.writer(heap_size=_HEAP_BYTES, num_threads=1)
        for number, words in enumerate(documents):
            writer.add_document(tantivy.Document(body=" ".join(words), doc=number))
        writer.commit()
        writer.wait_merging_threads()
        self._index.reload()
        self._searcher = self._index.searcher()
        self.size = len(documents)

    def search(self, words: Sequence[str], limit: int) -> list[tuple[int, float]]:
        unique = list(dict.fromkeys(w for w in words if w))
        if not unique or self.size == 0:
            return []
        tantivy = self._tantivy
        query = tantivy.Query.boolean_query(
            [
                (tantivy.Occur.Should, tantivy.Query.term_query(self._schema, "body", word))
                for word in unique
            ]
        )
        hits = self._searcher.search(query, limit).hits
        return [
            (int(self._searcher.doc(address)["doc"][0]), float(score)) for score, address in hits
        ]
