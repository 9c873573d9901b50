"""What the guard must know of one engine, declared by its driver
(:meth:`querydeck.drivers.base.Driver.sql_rules`): the guard itself names no engine."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property

from querydeck.sql.policy import FunctionPolicy, NamePatterns

#: An engine's own parser asked about one statement's text: raises
#: :class:`~querydeck.errors.QueryRejected` when it does not see one read statement.
NativeCheck = Callable[[str, FunctionPolicy], None]


@dataclass(frozen=True, eq=False)
class EngineRules:
    """The dialect sqlglot parses in, the functions the engine may not call, the engine
    parser's second opinion (where one runs in-process) and the engine's syntax quirks."""

    dialect: str
    forbidden_functions: Mapping[str, str]
    native_check: NativeCheck | None = field(default=None)
    #: ``/*! … */`` comments are executed by the server (the MySQL family).
    executable_comments: bool = False
    #: A quoted table name that looks like a path or URL is read as that file (DuckDB).
    quoted_names_read_files: bool = False
    #: Catalog reads the engine answers and proves reads (:mod:`querydeck.sql.metadata`
    #: forms: ``SHOW TABLES``, ``DESCRIBE``...); none by default.
    metadata_reads: frozenset[str] = frozenset()
    #: Relations the engine may not read (views over denied functions): pattern → reason.
    forbidden_relations: Mapping[str, str] = field(default_factory=dict)
    #: Settings that may not be read by name (``@@datadir``, ``current_setting('…')``).
    forbidden_settings: Mapping[str, str] = field(default_factory=dict)
    #: Functions whose first argument names a setting they read (``current_setting``).
    setting_functions: frozenset[str] = frozenset()

    @cached_property
    def relations(self) -> NamePatterns:
        return NamePatterns(self.forbidden_relations)

    @cached_property
    def settings(self) -> NamePatterns:
        return NamePatterns(self.forbidden_settings)

    @cached_property
    def default_policy(self) -> FunctionPolicy:
        """The engine's policy without an administrator's additions."""
        return FunctionPolicy(self.forbidden_functions, dialect=self.dialect)
