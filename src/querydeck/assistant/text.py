"""Words of names, comments and questions, as the retrieval indexes see them.

Names are split at underscores, digits and camelCase (``InvoiceLine`` and ``invoice_line``
are both ``invoice line``), everything is folded to lower case without accents, and a light
stemmer makes plurals meet their singular (``customers`` → ``customer``, ``countries`` →
``country``). The same function makes the index and the query, so the two always agree.
"""

from __future__ import annotations

import functools
import re
import unicodedata

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
#: Letters and digits apart: ``address2`` is ``address`` and ``2``.
_TOKEN = re.compile(r"[^\W\d_]+|\d+", re.UNICODE)
#: Texts up to this long have their words remembered.
CACHED_CHARS = 200
#: Words that say nothing about which table a question needs.
STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "do",
        "does",
        "for",
        "from",
        "has",
        "have",
        "how",
        "i",
        "in",
        "is",
        "it",
        "its",
        "list",
        "me",
        "my",
        "of",
        "on",
        "or",
        "per",
        "show",
        "that",
        "the",
        "their",
        "them",
        "there",
        "these",
        "this",
        "those",
        "to",
        "was",
        "were",
        "what",
        "when",
        "where",
        "which",
        "who",
        "whom",
        "whose",
        "with",
        "give",
        "find",
        "tell",
        "all",
        "each",
        "every",
        "any",
        "many",
        "much",
        "number",
        "count",
        "total",
    ]
)


def fold(text: str) -> str:
    if text.isascii():
        return text.lower()
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


@functools.lru_cache(maxsize=65_536)
def stem(word: str) -> str:
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 4 and word.endswith(("ses", "xes", "ches", "shes")):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def words(text: str, *, drop_stopwords: bool = False) -> list[str]:
    """The index words of ``text``."""
    if len(text) > CACHED_CHARS:
        return list(_words(text, drop_stopwords))
    return list(_cached_words(text, drop_stopwords))


def _words(text: str, drop_stopwords: bool) -> tuple[str, ...]:
    split = _CAMEL.sub(" ", text)
    return tuple(
        stem(part)
        for part in _TOKEN.findall(fold(split))
        if not (drop_stopwords and part in STOPWORDS)
    )


# Names repeat across a catalog's tables (id, name, created_at...): building a large
# catalog's index spent most of its time splitting the same names again.
_cached_words = functools.lru_cache(maxsize=65_536)(_words)


def phrases(text: str, longest: int = 3) -> list[str]:
    """Runs of 1 to ``longest`` consecutive folded words of ``text`` (for value matching:
    "New York" is one value)."""
    tokens = _WORD.findall(fold(text))
    found = []
    for size in range(longest, 0, -1):
        for start in range(len(tokens) - size + 1):
            found.append(" ".join(tokens[start : start + size]))
    return found


def value_key(value: str) -> str:
    """How a column value is matched against question phrases."""
    return " ".join(_WORD.findall(fold(value)))
