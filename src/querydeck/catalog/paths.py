"""Catalog paths: ``schema``, ``schema.table``, ``schema.table.column``.

A segment that holds a dot, a double quote, leading or trailing spaces, or nothing is
written in double quotes with inner quotes doubled (as SQL does): ``public."my.table"``.
"""

from __future__ import annotations

from querydeck.errors import CatalogPathInvalid

MAX_PATH_CHARS = 40_000
MAX_SEGMENTS = 3


def quote(segment: str) -> str:
    if segment and "." not in segment and '"' not in segment and segment.strip() == segment:
        return segment
    return '"' + segment.replace('"', '""') + '"'


def format_path(*segments: str) -> str:
    return ".".join(quote(s) for s in segments)


def parse_path(text: str) -> list[str]:
    """The segments of ``text`` (empty text: no segment)."""
    if len(text) > MAX_PATH_CHARS:
        raise CatalogPathInvalid(f"A catalog path has at most {MAX_PATH_CHARS} characters.")
    if "\x00" in text:
        raise CatalogPathInvalid("A catalog path must not contain a NUL character.")
    if text == "":
        return []
    segments: list[str] = []
    i, n = 0, len(text)
    while True:
        if i < n and text[i] == '"':
            i += 1
            out = []
            while True:
                end = text.find('"', i)
                if end < 0:
                    raise CatalogPathInvalid("A quoted segment of the catalog path is not closed.")
                out.append(text[i:end])
                if end + 1 < n and text[end + 1] == '"':
                    out.append('"')
                    i = end + 2
                    continue
                i = end + 1
                break
            segments.append("".join(out))
        else:
            end = text.find(".", i)
            end = n if end < 0 else end
            raw = text[i:end]
            if not raw or '"' in raw:
                raise CatalogPathInvalid(
                    "Each segment of a catalog path is a name, or a double-quoted name when "
                    'it holds a dot or a quote: schema.table or "my.schema"."my table".'
                )
            segments.append(raw)
            i = end
        if i == n:
            break
        if text[i] != ".":
            raise CatalogPathInvalid("Segments of a catalog path are separated by dots.")
        i += 1
        if i == n:
            raise CatalogPathInvalid("A catalog path must not end with a dot.")
    if len(segments) > MAX_SEGMENTS:
        raise CatalogPathInvalid("A catalog path has at most three parts: schema.table.column.")
    return segments
