"""The assistant's own statements on a connection: EXPLAIN of a model's SQL, the value
profiles of the value index, and the eval harness's gold and generated SQL.

Each goes through the same statement checker as a run (the guard, the function policy, the
row cap) on a read-only engine session of the connection's driver, with the run timeout:
a :class:`GuardedSession` runs nothing the guard has not passed.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from querydeck.drivers import registry
from querydeck.drivers.base import EngineSession
from querydeck.drivers.catalog_model import DdlStyle
from querydeck.sources.connections import ConnectionStore
from querydeck.sql.checker import StatementChecker
from querydeck.sql.rules import EngineRules

#: Rows an eval statement may return (results are compared in memory).
EVAL_MAX_ROWS = 100_000


@dataclass(frozen=True)
class Flavour:
    """What the assistant must know of a connection's engine, declared by its driver: the
    guard's rules (with the sqlglot dialect) and how its DDL names tables."""

    rules: EngineRules
    style: DdlStyle

    @property
    def dialect(self) -> str:
        return self.rules.dialect

    @classmethod
    def of(cls, driver: str) -> Flavour:
        found = registry.load(driver)
        return cls(found.sql_rules(), found.ddl_style)


class GuardedSession:
    """An engine session of a connection that runs only statements the guard passed."""

    def __init__(
        self,
        engine: EngineSession,
        checker: StatementChecker,
        rules: EngineRules,
        timeout_s: float,
    ) -> None:
        self._engine = engine
        self._checker = checker
        self.rules = rules
        self._timeout_s = timeout_s

    def explain(self, guarded: str) -> None:
        """EXPLAIN a statement that passed the guard; raises the engine's error."""
        text = self._checker("EXPLAIN " + guarded, rules=self.rules, max_rows=1)
        stream = self._engine.execute(text, timeout_s=self._timeout_s)
        try:
            for _ in stream:
                pass
        finally:
            stream.close()

    def rows(self, sql: str, max_rows: int = EVAL_MAX_ROWS) -> list[tuple[Any, ...]]:
        text = self._checker(sql, rules=self.rules, max_rows=max_rows)
        stream = self._engine.execute(text, timeout_s=self._timeout_s)
        out: list[tuple[Any, ...]] = []
        try:
            for batch in stream:
                columns = [c.to_pylist() for c in batch.columns]
                out.extend(zip(*columns, strict=True))
                if len(out) > max_rows:
                    break
        finally:
            stream.close()
        return out[:max_rows]

    def first_column(self, sql: str) -> list[object]:
        return [row[0] for row in self.rows(sql, max_rows=1000)]


class GuardedSessions:
    """Opens a :class:`GuardedSession` of a connection for a few statements."""

    def __init__(
        self,
        connections: ConnectionStore,
        checker: StatementChecker,
        *,
        connect_timeout_s: float,
        timeout_s: float,
    ) -> None:
        self._connections = connections
        self._checker = checker
        self._connect_timeout_s = connect_timeout_s
        self._timeout_s = timeout_s

    @contextmanager
    def open(self, connection: str) -> Iterator[GuardedSession]:
        _, driver = self._connections.driver_for(connection)
        engine = driver.connect(timeout_s=self._connect_timeout_s)
        try:
            rules = driver.rules_for(driver.options)  # with its flavour's deny table
            yield GuardedSession(engine, self._checker, rules, self._timeout_s)
        finally:
            engine.close()
