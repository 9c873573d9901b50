"""The guard: one pipeline that decides whether a statement may run.

1. Raw text: size, NUL bytes and unpaired surrogates, emptiness, and (MySQL family)
   executable comments ``/*! … */`` that the server runs but parsers skip.
2. Parse in the connection's dialect with sqlglot. A parse error rejects: nothing is ever
   "run anyway".
3. Exactly one statement, whose root is a read: SELECT, a set operation, VALUES, a
   parenthesised query, or EXPLAIN (without ANALYZE) of one of those.
4. An allow-list of syntax nodes: every node in the tree — CTEs and subqueries included —
   must be a known query-building block (clauses, expressions, operators, functions).
   Anything else (DML, DDL, INTO, FOR UPDATE, SET, COPY, commands…) is rejected, including
   node kinds nobody thought of, because they are simply not on the list.
5. The function policy (:mod:`querydeck.sql.policy`) on normalised function names.
6. A second opinion from the engine's own parser where one runs in-process (DuckDB's
   ``extract_statements``, PostgreSQL's grammar through pglast), declared by the driver.
   A disagreement rejects.

What is specific to an engine (its dialect, its function table, its parser, its quirks)
comes from the :class:`~querydeck.sql.rules.EngineRules` its driver declares.

A rejection raises :class:`~querydeck.errors.QueryRejected` with a stable code, the
offending construct and its 1-based line and column.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

import sqlglot
from sqlglot import Dialect, Token, TokenType, exp
from sqlglot.errors import ParseError, TokenError

from querydeck.errors import (
    FileAccessDenied,
    QueryRejected,
    SqlEmpty,
    SqlForbiddenFunction,
    SqlForbiddenSyntax,
    SqlMultipleStatements,
    SqlNotReadOnly,
    SqlParseError,
    SqlTooComplex,
    SqlTooLarge,
)
from querydeck.sql import metadata
from querydeck.sql.policy import FILE_ACCESS, FunctionPolicy, normalise
from querydeck.sql.positions import position
from querydeck.sql.rules import EngineRules
from querydeck.sql.syntax import parse_error, token_error

_EXECUTABLE_COMMENT = re.compile(r"/\*[!M]")
#: Tokens one statement may have by default (``max_sql_tokens``): the guard's work is
#: linear in them, about 15 µs each, so a statement costs at most about half a second.
DEFAULT_MAX_TOKENS = 25_000
#: A fast over-estimate of a statement's tokens, counted before the real tokenizer runs: a
#: quoted string or a comment is one match, a word one, any other character one.
_ROUGH_TOKEN = re.compile(r"'[^']*'|\"[^\"]*\"|`[^`]*`|--[^\n]*|/\*.*?\*/|\w+|[^\w\s]", re.DOTALL)
_SURROGATE = re.compile("[\ud800-\udfff]")

_READ_ROOTS: tuple[type[exp.Expr], ...] = (
    exp.Select,
    exp.SetOperation,
    exp.Values,
    exp.Subquery,
    exp.Pivot,
)

#: Syntax nodes a read may contain, besides functions (checked by the policy) and
#: operators. Kept explicit: a node kind that is not here is rejected.
_ALLOWED_NODES: tuple[type[exp.Expr], ...] = (
    *_READ_ROOTS,
    exp.Alias,
    exp.Aliases,
    exp.All,
    exp.Any,
    exp.Between,
    exp.Boolean,
    exp.Bracket,
    exp.Column,
    exp.Cube,
    exp.CTE,
    exp.DataType,
    exp.DataTypeParam,
    exp.Distinct,
    exp.Dot,
    exp.Escape,
    exp.Fetch,
    exp.Filter,
    exp.Final,
    exp.From,
    exp.Group,
    exp.GroupingSets,
    exp.Having,
    exp.Identifier,
    exp.IgnoreNulls,
    exp.In,
    exp.Interval,
    exp.Is,
    exp.Join,
    exp.Kwarg,
    exp.Lambda,
    exp.Lateral,
    exp.Limit,
    exp.LimitOptions,
    exp.Literal,
    exp.Null,
    exp.Offset,
    exp.Order,
    exp.Ordered,
    exp.Paren,
    exp.PreWhere,
    exp.Pivot,
    exp.Qualify,
    exp.RespectNulls,
    exp.Rollup,
    exp.Slice,
    exp.Star,
    exp.Table,
    exp.TableAlias,
    exp.TableSample,
    exp.Tuple,
    exp.Var,
    exp.Where,
    exp.Window,
    exp.WindowSpec,
    exp.With,
    exp.WithinGroup,
    exp.Placeholder,
    exp.Parameter,
    exp.Hint,
    exp.JSONPath,
    exp.JSONPathPart,
    exp.RecursiveWithSearch,
    exp.Connect,
    exp.Prior,
    exp.HexString,
    exp.BitString,
    exp.ByteString,
    exp.RawString,
    exp.UnicodeString,
    exp.National,
    exp.Introducer,
    exp.Columns,
    exp.PivotAlias,
    exp.UnpivotColumns,
    exp.HavingMax,
    exp.WithFill,
    exp.Unary,
    exp.ScopeResolution,
    exp.SessionParameter,
    exp.IndexTableHint,
    exp.JSONSchema,
    exp.JSONColumnDef,
    exp.Partition,
    exp.AtTimeZone,
    exp.PositionalColumn,
    exp.JSONKeyValue,  # JSON_OBJECT(key, value, ...): pairs of expressions
)


_ALLOWED, _FUNCTION, _MAYBE, _FORBIDDEN, _TABLE = range(5)
#: A DuckDB table name that DuckDB would read as a file or URL (a "replacement scan":
#: ``FROM 'data.csv'``, ``FROM "/etc/passwd"``, ``FROM 's3://…'``).
_FILE_LIKE_NAME = re.compile(r"[./\\:~]")
#: Query nodes and their clauses that change how the engine runs or answers (ClickHouse:
#: ``SELECT … SETTINGS readonly = 0``, ``… FORMAT TabSeparated``): a setting is
#: configuration, and a format would replace the one querydeck reads the rows in.
_QUERY_NODES = frozenset({exp.Select, exp.Union, exp.Intersect, exp.Except, exp.Subquery})
_QUERY_CLAUSES: tuple[tuple[str, str, type[QueryRejected]], ...] = (
    ("settings", "SETTINGS", SqlNotReadOnly),
    ("format", "FORMAT", SqlForbiddenSyntax),
)
#: Each node class's verdict, worked out once per class (isinstance over the whole list
#: for every node was the guard's largest cost).
_KINDS: dict[type[exp.Expr], int] = {}


def _kind(cls: type[exp.Expr]) -> int:
    if issubclass(cls, exp.Func):
        return _FUNCTION
    if issubclass(cls, exp.PropertyEQ):
        return _MAYBE
    if issubclass(cls, exp.Table):
        return _TABLE
    if issubclass(cls, (*_ALLOWED_NODES, exp.Binary)):
        return _ALLOWED
    return _FORBIDDEN


def _assignment(node: exp.Expr) -> bool:
    """``:=`` outside a function's named arguments assigns a session variable (MySQL)."""
    return isinstance(node, exp.PropertyEQ) and not isinstance(node.parent, exp.Func)


#: EXPLAIN's options before the statement it explains (PostgreSQL, MySQL, SQLite, DuckDB).
_EXPLAIN_OPTIONS = re.compile(
    r"^(?:\s+|\([^()]*\)|(?:ANALY[SZ]E|VERBOSE|COSTS|BUFFERS|QUERY\s+PLAN|EXTENDED"
    r"|PARTITIONS|FORMAT\s*=\s*\w+)\b)*",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class GuardedStatement:
    """A statement that passed the guard."""

    sql: str
    """The text to send to the engine: the user's statement without trailing ``;``/comments."""
    tree: exp.Expr
    explain: bool
    has_limit: bool


def _locate(sql: str, node: exp.Expr, keyword: str | None = None) -> dict[str, int]:
    for sub in node.walk():
        meta = sub.meta if sub._meta else None  # avoid creating an empty meta
        if meta and "start" in meta:
            return position(sql, int(meta["start"]))
    if keyword:
        found = re.search(rf"\b{re.escape(keyword)}\b", sql, re.IGNORECASE)
        if found:
            return position(sql, found.start())
    return {"line": 1, "column": 1}


def _reject(
    error: type[QueryRejected], message: str, sql: str, offset: int | None = None, **detail: object
) -> QueryRejected:
    where = position(sql, offset) if offset is not None else {}
    return error(message, detail={**where, **detail})


def check_text(sql: str, *, rules: EngineRules, max_bytes: int) -> None:
    """Checks made on the raw text before any parsing."""
    if "\x00" in sql:
        raise _reject(SqlParseError, "The SQL contains a NUL character.", sql, sql.index("\x00"))
    surrogate = _SURROGATE.search(sql)
    if surrogate:
        raise _reject(SqlParseError, "The SQL is not valid Unicode text.", sql, surrogate.start())
    if len(sql.encode("utf-8")) > max_bytes:
        raise SqlTooLarge(
            f"The SQL is larger than the limit of {max_bytes:,} bytes.",
            detail={"limit_bytes": max_bytes},
        )
    if rules.executable_comments:
        found = _EXECUTABLE_COMMENT.search(sql)
        if found:
            raise _reject(
                SqlForbiddenSyntax,
                "Executable comments (/*! … */) are not allowed.",
                sql,
                found.start(),
                construct="/*!",
            )


def _too_complex(limit: int) -> SqlTooComplex:
    return SqlTooComplex(
        f"The statement is too complex to check: it has more than {limit:,} words and "
        "symbols. Split it up, or use a table (or a join) instead of a long list of values "
        "or conditions.",
        detail={"limit_tokens": limit},
    )


def over_budget(sql: str, max_tokens: int) -> bool:
    """True when ``sql`` has more than about ``max_tokens`` tokens (an over-estimate; the
    count stops at the limit: cheap whatever the size)."""
    if len(sql) <= max_tokens:
        return False  # every token takes a character at least
    beyond = itertools.islice(_ROUGH_TOKEN.finditer(sql), max_tokens, None)
    return next(beyond, None) is not None


def check_budget(sql: str, max_tokens: int) -> None:
    """Refuse a statement with more than ``max_tokens`` tokens before the tokenizer and the
    parser spend time on it."""
    if over_budget(sql, max_tokens):
        raise _too_complex(max_tokens)


def _parse(sql: str, tokens: list[Token], dialect: str) -> list[exp.Expr]:
    """Parse already-made tokens (tokenising twice would double the cost)."""
    try:
        parsed = Dialect.get_or_raise(dialect).parser().parse(tokens, sql)
    except ParseError as exc:
        raise parse_error(sql, tokens, exc) from None
    except TokenError as exc:
        raise token_error(sql, exc) from None
    except RecursionError:
        raise SqlParseError("The SQL is nested too deeply to check.") from None
    return [e for e in parsed if e is not None and not isinstance(e, exp.Semicolon)]


def _check_tree(
    sql: str, tree: exp.Expr, rules: EngineRules, policy: FunctionPolicy, start: int = 0
) -> None:
    if not isinstance(tree, _READ_ROOTS):
        # The statement's own first word (sqlglot may read an unknown one as something
        # else entirely: ``LISTEN x`` parses as a column with an alias).
        word = re.match(r"[A-Za-z_]+", sql[start:])
        name = word[0].upper() if word else tree.key.upper()
        text = f"Only read statements (SELECT, VALUES, EXPLAIN) may run; this is {name}."
        if rules.metadata_reads and name in metadata.LEADING_WORDS:
            allowed = ", ".join(sorted(rules.metadata_reads))
            text = (
                f"This {name} statement is not one of the catalog reads allowed here: "
                f"{allowed} (names and a LIKE pattern only)."
            )
        raise SqlNotReadOnly(text, detail={**position(sql, start), "construct": name})
    try:
        nodes = list(tree.walk())
    except RecursionError:
        raise SqlParseError("The SQL is nested too deeply to check.") from None
    for node in nodes:
        kind = _KINDS.get(type(node))
        if kind is None:
            kind = _KINDS[type(node)] = _kind(type(node))
        if kind == _ALLOWED:
            if type(node) in _QUERY_NODES:
                _check_clauses(sql, node)
            elif type(node) is exp.SessionParameter and rules.forbidden_settings:
                _check_setting(sql, node, rules, node.name)
            continue
        if kind == _FUNCTION:
            assert isinstance(node, exp.Func)
            _check_function(sql, node, policy)
            if rules.setting_functions:
                _check_setting_call(sql, node, rules)
            continue
        if kind == _MAYBE and not _assignment(node):
            continue
        if kind == _TABLE:
            _check_table(sql, node, rules)
            continue
        construct = _construct(node, rules.dialect)
        write_like = isinstance(node, (exp.DML, exp.Into, exp.Lock, exp.Create, exp.Drop))
        error = SqlNotReadOnly if write_like else SqlForbiddenSyntax
        raise error(
            f"{construct} is not allowed in a read-only statement.",
            detail={**_locate(sql, node, construct), "construct": construct},
        )


_LEADING_KEYWORDS = re.compile(r"[A-Z]+(?: [A-Z]+)*")


def _construct(node: exp.Expr, dialect: str) -> str:
    """A refused node as its SQL keywords (``INTO``, ``FOR UPDATE``), never sqlglot's node
    name; the node's own name only when its SQL starts with none."""
    try:
        text = node.sql(dialect=dialect)
    except Exception:  # a node sqlglot cannot write back in this dialect
        text = ""
    found = _LEADING_KEYWORDS.match(text)
    return found[0][:40] if found else node.key.upper()


def _check_clauses(sql: str, node: exp.Expr) -> None:
    for arg, construct, error in _QUERY_CLAUSES:
        if node.args.get(arg):
            raise error(
                f"{construct} is not allowed in a read-only statement.",
                detail={**_locate(sql, node, construct), "construct": construct},
            )


def _check_table(sql: str, node: exp.Expr, rules: EngineRules) -> None:
    """A relation the engine may not read (views over denied functions, system tables that
    show the server's paths); some engines (DuckDB) read a quoted table name that looks
    like a path or URL as that file."""
    name = node.this
    if rules.forbidden_relations and isinstance(name, exp.Identifier):
        _check_relation(sql, node, rules, name.name.lower())
    if not rules.quoted_names_read_files or not isinstance(name, exp.Identifier):
        return
    if name.quoted and _FILE_LIKE_NAME.search(name.name):
        raise FileAccessDenied(
            f"The table name {name.name!r} would make the engine read a file or URL.",
            detail={**_locate(sql, node), "construct": "file as table"},
        )


def _check_relation(sql: str, node: exp.Expr, rules: EngineRules, name: str) -> None:
    schema = node.args.get("db")
    names = (
        (f"{schema.name.lower()}.{name}", name) if isinstance(schema, exp.Identifier) else (name,)
    )
    reason = rules.relations.reason(*names)
    if reason is not None:
        raise SqlForbiddenFunction(
            f"The relation {names[0]} may not be read: it {reason}.",
            detail={**_locate(sql, node, name), "construct": names[0]},
        )


def _check_setting(sql: str, node: exp.Expr, rules: EngineRules, name: str) -> None:
    setting = name.strip().lower()
    reason = rules.settings.reason(setting)
    if reason is not None:
        raise SqlForbiddenFunction(
            f"The setting {setting} may not be read: it {reason}.",
            detail={**_locate(sql, node, name), "construct": setting},
        )


def _check_setting_call(sql: str, node: exp.Func, rules: EngineRules) -> None:
    """A function that reads the setting its first argument names: only a string literal
    says which one before the run."""
    function = normalise(_function_name(node))
    if function not in rules.setting_functions:
        return
    first = node.expressions[0] if node.expressions else node.args.get("this")
    if isinstance(first, exp.Literal) and first.is_string:
        _check_setting(sql, node, rules, first.name)
        return
    raise SqlForbiddenFunction(
        f"The function {function}() may only read a setting named by a string literal.",
        detail={**_locate(sql, node, function), "construct": function},
    )


def _function_name(node: exp.Func) -> str:
    if isinstance(node, exp.Anonymous):
        return str(node.name)
    return node.sql_name()


def _check_function(sql: str, node: exp.Func, policy: FunctionPolicy) -> None:
    name = _function_name(node)
    reason = policy.reason(name)
    if reason is None:
        return
    error = FileAccessDenied if reason == FILE_ACCESS else SqlForbiddenFunction
    raise error(
        f"The function {name.lower()}() is not allowed: it {reason}.",
        detail={**_locate(sql, node, name), "construct": name.lower()},
    )


def _tokens(sql: str, dialect: str) -> list[Token]:
    try:
        return list(sqlglot.tokenize(sql, read=dialect))
    except TokenError as exc:
        raise token_error(sql, exc) from None
    except ParseError as exc:
        raise parse_error(sql, [], exc) from None


def _statement(sql: str, tokens: list[Token]) -> tuple[str, list[Token]]:
    """The one statement's text and tokens, without a trailing semicolon; more than one
    statement is refused."""
    semicolons = [i for i, t in enumerate(tokens) if t.token_type == TokenType.SEMICOLON]
    if semicolons:
        first = tokens[semicolons[0]]
        if len(semicolons) > 1 or semicolons[0] != len(tokens) - 1 or sql[first.end + 1 :].strip():
            offset = (
                first.end + 1 + (len(sql[first.end + 1 :]) - len(sql[first.end + 1 :].lstrip()))
            )
            raise _reject(
                SqlMultipleStatements,
                "Only one statement may run at a time; remove what follows the first ';'.",
                sql,
                min(offset, len(sql) - 1),
            )
        tokens = tokens[: semicolons[0]]
    return (sql[: tokens[-1].end + 1] if tokens else ""), tokens


def _refuse_analyze(sql: str, options: str, node: exp.Expr) -> None:
    if re.search(r"\bANALY[SZ]E\b", options, re.IGNORECASE):
        raise SqlNotReadOnly(
            "EXPLAIN ANALYZE executes the statement; use EXPLAIN without ANALYZE.",
            detail={**_locate(sql, node, "ANALYZE"), "construct": "EXPLAIN ANALYZE"},
        )


def _second_opinion(text: str, rules: EngineRules, policy: FunctionPolicy) -> None:
    if rules.native_check is not None:
        rules.native_check(text, policy)


def _explain(
    sql: str,
    command: exp.Command,
    rules: EngineRules,
    max_bytes: int,
    policy: FunctionPolicy,
    max_tokens: int,
) -> GuardedStatement:
    rest = command.expression.name if isinstance(command.expression, exp.Literal) else ""
    options = _EXPLAIN_OPTIONS.match(rest)
    body = rest[options.end() :] if options else rest
    _refuse_analyze(sql, options.group(0) if options else "", command)
    if not body.strip():
        raise SqlNotReadOnly(
            "EXPLAIN must be followed by a read statement.",
            detail={"construct": "EXPLAIN"},
        )
    inner = guard(body, rules=rules, max_bytes=max_bytes, policy=policy, max_tokens=max_tokens)
    text, _ = _statement(sql, _tokens(sql, rules.dialect))
    _second_opinion(text, rules, policy)
    return GuardedStatement(text, inner.tree, True, True)


def guard(
    sql: str,
    *,
    rules: EngineRules,
    max_bytes: int = 1_000_000,
    policy: FunctionPolicy | None = None,
    max_tokens: int = DEFAULT_MAX_TOKENS,
) -> GuardedStatement:
    """Check ``sql`` for the engine of ``rules`` under ``policy`` (default: the engine's
    own, without an administrator's additions); returns the statement to run or raises
    QueryRejected. More than ``max_tokens`` tokens raise ``SQL_TOO_COMPLEX``."""
    policy = policy or rules.default_policy
    dialect = rules.dialect
    check_text(sql, rules=rules, max_bytes=max_bytes)
    if not sql.strip():
        raise SqlEmpty("The SQL is empty.")
    check_budget(sql, max_tokens)
    tokens = _tokens(sql, dialect)
    if len(tokens) > max_tokens:
        raise _too_complex(max_tokens)
    text, tokens = _statement(sql, tokens)
    if not text.strip():
        raise SqlEmpty("The SQL has no statement (only comments or semicolons).")
    if rules.metadata_reads and tokens[0].text.upper() in metadata.LEADING_WORDS:
        found = metadata.match(
            text, rules.metadata_reads, quoted_names_read_files=rules.quoted_names_read_files
        )
        if found is not None:  # a whole catalog read: nothing else can be in it
            _second_opinion(text, rules, policy)
            return GuardedStatement(text, exp.Command(this=found.form), True, True)
    statements = _parse(text, tokens, dialect)
    if len(statements) != 1:
        raise (SqlMultipleStatements if statements else SqlEmpty)(
            f"Exactly one statement may run at a time; found {len(statements)}."
        )
    tree = statements[0]
    if isinstance(tree, exp.Command) and str(tree.this).upper() == "EXPLAIN":
        return _explain(sql, tree, rules, max_bytes, policy, max_tokens)
    if isinstance(tree, exp.Describe) and isinstance(tree.this, _READ_ROOTS):
        _refuse_analyze(sql, str(tree.args.get("style") or ""), tree)
        _check_tree(sql, tree.this, rules, policy, tokens[0].start)
        _second_opinion(text, rules, policy)
        return GuardedStatement(text, tree.this, True, True)
    _check_tree(sql, tree, rules, policy, tokens[0].start)
    _second_opinion(text, rules, policy)
    has_limit = bool(tree.args.get("limit") or tree.args.get("fetch"))
    return GuardedStatement(text, tree, False, has_limit)
