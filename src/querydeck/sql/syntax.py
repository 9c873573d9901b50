"""Syntax errors in SQL terms: what is wrong, with the position of the token that is wrong.

sqlglot's own messages name its classes (``Required keyword: 'expression' missing for
<class 'sqlglot.expressions.core.Mul'>``) and point at the token where it gave up, which is
often after the mistake (``SELEC * FROM t`` was reported at ``FROM``). Here a parse error
becomes a :class:`~querydeck.errors.SqlParseError` that says, in order of preference:

1. a first word that starts no statement (``SELEC``), with the keyword it resembles;
2. a word before the failure that resembles a clause keyword (``FORM``, ``WHER``);
3. what the parser expected (a closing parenthesis, a value after an operator, a table
   name...) and the token it met instead, or that the statement ended too early.

The detail carries ``line``/``column`` (1-based) of that token and ``token`` (its text).
"""

from __future__ import annotations

import difflib
import re

from sqlglot import Token, TokenType
from sqlglot.errors import ParseError, TokenError

from querydeck.errors import SqlParseError
from querydeck.sql.positions import position

#: Words a statement may start with (on some engine); the first word of a failed
#: statement that is none of these is the mistake.
STATEMENT_WORDS = (
    "SELECT",
    "WITH",
    "VALUES",
    "EXPLAIN",
    "DESCRIBE",
    "DESC",
    "SHOW",
    "TABLE",
    "FROM",
    "SUMMARIZE",
    "PRAGMA",
)
#: Keywords people mistype inside a statement.
CLAUSE_WORDS = (
    "SELECT",
    "FROM",
    "WHERE",
    "GROUP",
    "ORDER",
    "HAVING",
    "LIMIT",
    "OFFSET",
    "JOIN",
    "INNER",
    "LEFT",
    "RIGHT",
    "OUTER",
    "CROSS",
    "UNION",
    "INTERSECT",
    "EXCEPT",
    "DISTINCT",
    "BETWEEN",
    "LIKE",
    "CASE",
    "WHEN",
    "THEN",
    "ELSE",
    "QUALIFY",
    "WINDOW",
    "PARTITION",
    "OVER",
    "USING",
    "VALUES",
)
#: sqlglot's node classes that appear in "missing for <class ...>", as SQL.
_OPERATORS = {
    "Add": "'+'",
    "Sub": "'-'",
    "Mul": "'*'",
    "Div": "'/'",
    "Mod": "'%'",
    "EQ": "'='",
    "NEQ": "'<>'",
    "GT": "'>'",
    "GTE": "'>='",
    "LT": "'<'",
    "LTE": "'<='",
    "And": "AND",
    "Or": "OR",
    "Not": "NOT",
    "Like": "LIKE",
    "ILike": "ILIKE",
    "In": "IN",
    "Is": "IS",
    "Between": "BETWEEN",
    "DPipe": "'||'",
    "Limit": "LIMIT",
    "Offset": "OFFSET",
    "Where": "WHERE",
    "Having": "HAVING",
    "Alias": "AS",
    "Cast": "CAST",
    "Join": "JOIN",
}
_CLASS = re.compile(r"<class '(?:[\w.]+\.)?(\w+)'>")
_TOKEN = re.compile(r"<Token token_type: [\w.]+, text: (.*?), line: \d+.*?>")
_EXPECTED = re.compile(r"^Expected (.+?) but got (.+)$")
_QUOTES = ("'", '"', "`")


def _word(text: str) -> str:
    return f"'{text}'" if len(text) <= 40 else f"'{text[:37]}…'"


def _resembles(text: str, words: tuple[str, ...]) -> str | None:
    upper = text.upper()
    if len(upper) < 3 or upper in words or not upper.isalpha():
        return None
    found = difflib.get_close_matches(upper, words, n=1, cutoff=0.75)
    if not found or upper == found[0] + "S":  # ORDERS is a name, not a typo of ORDER
        return None
    return found[0]


def _error_token(tokens: list[Token], line: int, col: int) -> int | None:
    """The index of the token sqlglot stopped at (its line and end column)."""
    for i, token in enumerate(tokens):
        if token.line == line and token.col == col:
            return i
    return None


def _sanitise(description: str) -> str:
    """sqlglot's text with its class and token reprs replaced by SQL words."""
    text = _TOKEN.sub(lambda m: _word(m[1]), description)
    return _CLASS.sub(lambda m: _OPERATORS.get(m[1], m[1].lower()), text)


def _rejected(sql: str, offset: int, token: str | None, message: str) -> SqlParseError:
    detail: dict[str, object] = {**position(sql, offset)}
    if token is not None:
        detail["token"] = token
    return SqlParseError(message, detail=detail)


def parse_error(sql: str, tokens: list[Token], exc: ParseError) -> SqlParseError:
    """``exc`` (from parsing ``tokens`` of ``sql``) in SQL terms."""
    first = exc.errors[0] if exc.errors else {}
    description = str(first.get("description") or "")
    at = _error_token(tokens, int(first.get("line") or 0), int(first.get("col") or 0))
    if tokens and tokens[0].token_type == TokenType.VAR:
        head = tokens[0]
        if head.text.upper() not in STATEMENT_WORDS:
            guess = _resembles(head.text, STATEMENT_WORDS)
            hint = f"; did you mean {guess}?" if guess else " (SELECT, WITH, VALUES...)."
            return _rejected(
                sql, head.start, head.text, f"{_word(head.text)} does not start a statement{hint}"
            )
    last = at if at is not None else len(tokens) - 1
    for token in tokens[max(0, last - 1) : last + 1]:  # the word before the failure, then it
        if token.token_type != TokenType.VAR:
            continue
        guess = _resembles(token.text, CLAUSE_WORDS)
        if guess is not None:
            return _rejected(
                sql,
                token.start,
                token.text,
                f"Unexpected {_word(token.text)}: did you mean {guess}?",
            )
    if at is None:
        offset = len(sql.rstrip())
        return _rejected(sql, offset, None, f"Invalid SQL: {_sanitise(description)}.")
    token = tokens[at]
    ends = at == len(tokens) - 1
    near = _word(token.text)
    missing = re.match(r"^Required keyword: '\w+' missing for (<class '[^']+'>)", description)
    if missing:
        construct = _sanitise(missing[1])
        if ends and token.text.upper() == construct.strip("'").upper():
            text = f"The statement ends after {construct}: a value is missing."
        else:
            text = f"{construct} is missing a value: unexpected {near}."
        return _rejected(sql, token.start, token.text, text)
    if description.startswith("Expecting )"):
        return _rejected(sql, token.start, token.text, f"A ')' is missing before {near}.")
    expected = _EXPECTED.match(description)
    if expected:
        what = _sanitise(expected[1])
        return _rejected(sql, token.start, token.text, f"Expected {what} but found {near}.")
    if description.startswith("Invalid expression / Unexpected token"):
        text = f"Unexpected {near} at the end." if ends else f"Unexpected {near} here."
        return _rejected(sql, token.start, token.text, text)
    return _rejected(
        sql, token.start, token.text, f"Invalid SQL near {near}: {_sanitise(description)}."
    )


def _unclosed_quote(sql: str) -> int | None:
    """The offset of a quote that is never closed (comments skipped), if any."""
    i, n = 0, len(sql)
    while i < n:
        c = sql[i]
        if sql.startswith("--", i):
            end = sql.find("\n", i)
            i = n if end < 0 else end + 1
        elif sql.startswith("/*", i):
            end = sql.find("*/", i + 2)
            if end < 0:
                return None
            i = end + 2
        elif c in _QUOTES:
            j = i + 1
            while True:
                j = sql.find(c, j)
                if j < 0:
                    return i
                if sql.startswith(c * 2, j):  # a doubled quote inside
                    j += 2
                    continue
                break
            i = j + 1
        else:
            i += 1
    return None


def token_error(sql: str, exc: TokenError) -> SqlParseError:
    """A text the tokenizer could not split into words (an unclosed quote or comment)."""
    quote = _unclosed_quote(sql)
    if quote is not None:
        mark = sql[quote]
        return _rejected(
            sql, quote, mark, f"The quoted text that starts here is never closed: add a {mark}."
        )
    start = sql.find("/*")
    if start >= 0 and sql.find("*/", start + 2) < 0:
        return _rejected(sql, start, "/*", "The comment that starts here is never closed: add */.")
    return SqlParseError("The SQL cannot be read: it has characters that start no SQL word.")


__all__ = ["CLAUSE_WORDS", "STATEMENT_WORDS", "parse_error", "token_error"]
