"""The compliance suite every driver runs.

Subclass :class:`DriverSuite` in a ``test_<engine>.py`` module as ``class TestEngine
(DriverSuite)`` and provide:

- ``driver_cls``: the driver class;
- a ``driver`` fixture: a :class:`Driver` (not connected) whose database is a scratch one
  holding the table :data:`FIXTURE_TABLE` ``(id integer, name text)`` with exactly
  :data:`FIXTURE_ROWS`, created with the engine's own client;
- ``sleep_sql``: one statement that runs for at least 30 s (``SELECT pg_sleep(30)``,
  ``SELECT SLEEP(30)``, a runaway recursive CTE or cross join);
- ``type_cases()``: one :class:`TypeCase` per id of :data:`REQUIRED_TYPES` (plus ``array``
  when the driver's capabilities say ``arrays``), unless the id is in ``unsupported_types``
  with the reason; build them from the constants below (:data:`BIG_INT`, ...);
- ``connection_failures(tmp_path)``: ``(label, driver, expected ConnectionFailed subclass)``
  triples (a missing file, a closed port, a wrong password, a login without access to the
  database...), each answered with exactly that class's code; logins they need come from
  the ``failure_logins`` fixture (``self.failure_logins``), which a subclass overrides;
- ``good_urls`` (URL → expected options) and ``forbidden_urls`` (each must raise
  ``ConnectionParamForbidden``).

Chinese text (:data:`CHINESE_TEXT`) goes through every driver as ``SELECT '…' AS v``
(``text_sql`` for another spelling); files in GBK/GB18030, pages and exports are covered
end to end by ``tests/test_chinese_text.py``.

Optional overrides: ``fixture_arrow_types`` (Arrow types of ``id`` and ``name``),
``write_statements``, ``multi_statements``, ``many_rows_sql(n)`` (a recursive CTE by
default), ``fixture_rows(driver)`` (read through a fresh driver connection by default),
``fixture_schema(driver)`` (the schema holding the fixture table: ``main`` by default),
``parallel_sessions`` (sessions opened at once by the concurrency case: 40).

The catalog part (schemas, ``describe_schema`` and the shape of what it returns) runs for
every driver whose capabilities say ``catalog``; the declarations the guard and the
catalog read (function policy, DDL style, rules) are checked for every driver.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar

import pyarrow as pa
import pytest

from querydeck.drivers import registry
from querydeck.drivers.arrow_rows import native_type
from querydeck.drivers.base import (
    BATCH_ROWS,
    Driver,
    DriverOptions,
    EngineSession,
    ResultStream,
    ServerInfo,
)
from querydeck.drivers.catalog_model import RELATION_KINDS, DdlStyle, SchemaMeta
from querydeck.errors import (
    CatalogNotFound,
    CatalogUnsupported,
    ConnectionFailed,
    ConnectionParamForbidden,
    QueryCancelled,
    QueryDeckError,
    QueryFailed,
    QueryRejected,
    QueryTimeout,
)

FIXTURE_TABLE = "qd_items"
FIXTURE_ROWS: list[tuple[int, str]] = [(1, "alpha"), (2, "beta"), (3, "gamma")]
FIXTURE_SELECT = f"SELECT id, name FROM {FIXTURE_TABLE} ORDER BY id"

BIG_INT = 9007199254740993  # 2**53 + 1: a float would round it
MIN_INT64 = -9223372036854775808
EXACT_DECIMAL = Decimal("12345678901234567890.123456789")
UNICODE_TEXT = "emoji 😀 CJK 漢字 combining e\u0301 RTL שלום\u200f"
#: Chinese as users write it: simplified and traditional, full-width punctuation and
#: letters, and GB18030's four-byte characters (CJK Extension B, outside GBK and the BMP).
CHINESE_TEXT = "北京市朝阳区；「标点」、——…（全角）繁體中文 ＡＢＣ 𠀀𪚥𠮷 㐀"
NUL_TEXT = "a\x00b"
BINARY = b"\x00\xff\x10qd"
DATE = dt.date(2024, 2, 29)
#: An instant; engines are given it with a +02:00 offset and must return it in UTC.
INSTANT = dt.datetime(2024, 2, 29, 21, 59, 58, 123456, tzinfo=dt.UTC)
INSTANT_TEXT = "2024-02-29 23:59:58.123456+02:00"
JSON_VALUE: dict[str, Any] = {"a": [1, 2.5, None], "b": "é"}
JSON_TEXT = '{"a": [1, 2.5, null], "b": "é"}'
ARRAY = [1, 2, 3]

REQUIRED_TYPES = (
    "int_above_2_53",
    "int64_min",
    "decimal",
    "date",
    "timestamp_tz",
    "boolean",
    "text_unicode",
    "text_nul",
    "binary",
    "json",
)

TIMEOUT_S = 1.0
#: Slack over a timeout, generous for a noisy machine.
TIMEOUT_SLACK_S = 3.0


@dataclass(frozen=True)
class TypeCase:
    """One value through the driver: ``sql`` returns one row with one column whose value,
    after ``normalize``, equals ``expected`` (and has its Python type) and whose Arrow
    type is ``arrow_type`` (or satisfies it, when it is a predicate)."""

    id: str
    sql: str
    expected: Any
    arrow_type: pa.DataType | Callable[[pa.DataType], bool]
    normalize: Callable[[Any], Any] | None = None


def is_utc_timestamp(arrow_type: pa.DataType) -> bool:
    return pa.types.is_timestamp(arrow_type) and arrow_type.tz in ("UTC", "+00:00", "Etc/UTC")


def json_loads(value: Any) -> Any:
    return json.loads(value)


def read_table(stream: ResultStream) -> pa.Table:
    """Every batch of ``stream``, checked against its schema."""
    batches = list(stream)
    for batch in batches:
        assert batch.num_rows > 0
        assert batch.schema.equals(stream.schema, check_metadata=True)
    return pa.Table.from_batches(batches, schema=stream.schema)


def read_rows(stream: ResultStream) -> list[tuple[Any, ...]]:
    table = read_table(stream)
    return list(zip(*(column.to_pylist() for column in table.columns), strict=True))


class DriverSuite:
    """The tests every driver passes (see the module docstring for the hooks)."""

    driver_cls: ClassVar[type[Driver[Any]]]
    sleep_sql: ClassVar[str]
    good_urls: ClassVar[tuple[tuple[str, dict[str, Any]], ...]]
    forbidden_urls: ClassVar[tuple[str, ...]]
    fixture_arrow_types: ClassVar[tuple[pa.DataType, pa.DataType]] = (pa.int64(), pa.string())
    unsupported_types: ClassVar[dict[str, str]] = {}
    #: Sessions opened at once by the concurrency case.
    parallel_sessions: ClassVar[int] = 40
    write_statements: ClassVar[tuple[str, ...]] = (
        f"INSERT INTO {FIXTURE_TABLE} (id, name) VALUES (99, 'evil')",
        f"UPDATE {FIXTURE_TABLE} SET name = 'evil'",
        f"DELETE FROM {FIXTURE_TABLE}",
        f"DROP TABLE {FIXTURE_TABLE}",
        "CREATE TABLE qd_evil (id INTEGER)",
    )
    multi_statements: ClassVar[tuple[str, ...]] = (
        f"SELECT 1; DELETE FROM {FIXTURE_TABLE}",
        f"SELECT 1; INSERT INTO {FIXTURE_TABLE} (id, name) VALUES (99, 'evil')",
        f"SELECT 1;\nDROP TABLE {FIXTURE_TABLE}",
    )

    def type_cases(self) -> list[TypeCase]:
        raise NotImplementedError("a DriverSuite subclass lists its type cases")

    def connection_failures(
        self, tmp_path: Path
    ) -> list[tuple[str, Driver[Any], type[ConnectionFailed]]]:
        raise NotImplementedError("a DriverSuite subclass lists its connection failures")

    def many_rows_sql(self, n: int) -> str:
        """One integer column ``n`` with the values 1..n in order."""
        return (
            f"WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < {n}) "
            "SELECT n FROM r"
        )

    def fixture_schema(self, driver: Driver[Any]) -> str:
        """The schema that holds :data:`FIXTURE_TABLE`."""
        return "main"

    def fixture_rows(self, driver: Driver[Any]) -> list[tuple[Any, ...]]:
        """The fixture table as it is now, read through a fresh connection."""
        with driver.connect(timeout_s=10) as conn:
            return read_rows(conn.execute(FIXTURE_SELECT, timeout_s=10))

    # --- plumbing -------------------------------------------------------------------------

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        if "type_case" in metafunc.fixturenames:
            cases = self.type_cases()
            metafunc.parametrize("type_case", cases, ids=[case.id for case in cases])

    @pytest.fixture
    def conn(self, driver: Driver[Any]) -> Iterator[EngineSession]:
        connection = driver.connect(timeout_s=10)
        yield connection
        connection.close()

    # --- the driver class -----------------------------------------------------------------

    def test_class_attributes(self) -> None:
        cls = self.driver_cls
        assert cls.name
        assert cls.title
        assert cls.dialect
        assert cls.url_schemes
        assert issubclass(cls.Options, DriverOptions)
        assert registry.load(cls.name) is cls
        assert registry.describe(cls.name)["options_schema"]["type"] == "object"

    def test_declares_what_the_guard_and_catalog_read(self) -> None:
        cls = self.driver_cls
        rules = cls.sql_rules()
        assert rules is cls.sql_rules()  # made once per class
        assert rules.dialect == cls.dialect
        assert isinstance(cls.forbidden_functions, Mapping)
        for pattern, reason in cls.forbidden_functions.items():
            assert pattern == pattern.lower(), pattern
            assert reason, pattern
        assert isinstance(cls.ddl_style, DdlStyle)
        assert rules.native_check is None or callable(rules.native_check)

    def test_options_refuse_unknown_keys(self) -> None:
        with pytest.raises(ValueError, match="qd_unknown"):
            self.driver_cls.Options.model_validate({"qd_unknown": 1})

    def test_urls_parse_into_valid_options(self) -> None:
        for url, expected in self.good_urls:
            options = self.driver_cls.options_from_url(url)
            assert options == expected, url
            self.driver_cls.Options.model_validate(options)

    def test_urls_with_unknown_parameters_are_refused(self) -> None:
        assert self.forbidden_urls
        for url in self.forbidden_urls:
            with pytest.raises(ConnectionParamForbidden):
                self.driver_cls.options_from_url(url)

    # --- sessions -------------------------------------------------------------------------

    def test_ping_returns_a_version(self, conn: EngineSession) -> None:
        info = conn.ping()
        assert isinstance(info, ServerInfo)
        assert any(ch.isdigit() for ch in info.version)

    def test_close_is_idempotent(self, driver: Driver[Any]) -> None:
        conn = driver.connect(timeout_s=10)
        conn.close()
        conn.close()
        with pytest.raises(QueryDeckError):
            read_rows(conn.execute(FIXTURE_SELECT, timeout_s=10))

    def test_sessions_opened_in_parallel_all_answer(self, driver: Driver[Any]) -> None:
        """Sessions of one connection opened at the same moment are each configured
        without racing the others (locked settings, shared database instances)."""
        count = self.parallel_sessions
        barrier = threading.Barrier(count)
        results: list[object] = [None] * count

        def open_and_read(index: int) -> None:
            try:
                barrier.wait(timeout=60)
                with driver.connect(timeout_s=30) as session:
                    results[index] = read_rows(session.execute(FIXTURE_SELECT, timeout_s=30))
            except Exception as exc:  # reported below, with every other thread's outcome
                results[index] = exc

        threads = [threading.Thread(target=open_and_read, args=(i,)) for i in range(count)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        failures = [result for result in results if result != FIXTURE_ROWS]
        assert failures == [], f"{len(failures)} of {count} sessions failed: {failures[:3]}"

    @pytest.fixture
    def failure_logins(self) -> Iterator[dict[str, str]]:
        """Logins the connection-failure cases need, by name (a subclass overrides it to
        create them and drop them after: a valid login without access to a database)."""
        yield {}  # noqa: PT022 (a subclass creates logins here and drops them after)

    def test_connection_failures_are_mapped(
        self, tmp_path: Path, failure_logins: dict[str, str]
    ) -> None:
        self.failure_logins = failure_logins  # read by connection_failures
        failures = self.connection_failures(tmp_path)
        assert failures
        for label, driver, expected in failures:
            with pytest.raises(ConnectionFailed) as caught:
                driver.connect(timeout_s=5).close()
            assert isinstance(caught.value, expected), (label, caught.value)
            if expected is not ConnectionFailed:  # each kind of failure has its own code
                assert caught.value.code == expected.code, (label, caught.value)
            message = caught.value.message
            assert message, label
            assert "Traceback" not in message, label
            assert str(tmp_path) not in message, label

    # --- results --------------------------------------------------------------------------

    def test_select_rows_schema_and_native_types(self, conn: EngineSession) -> None:
        stream = conn.execute(FIXTURE_SELECT, timeout_s=10)
        assert stream.schema.names == ["id", "name"]
        assert tuple(stream.schema.types) == self.fixture_arrow_types
        for arrow_field in stream.schema:
            assert native_type(arrow_field), arrow_field
        assert read_rows(stream) == FIXTURE_ROWS

    def test_type_cases_cover_the_required_types(self, driver: Driver[Any]) -> None:
        required = set(REQUIRED_TYPES)
        if driver.capabilities.arrays:
            required.add("array")
        provided = {case.id for case in self.type_cases()}
        assert required - provided - set(self.unsupported_types) == set()

    def test_type_round_trip(self, conn: EngineSession, type_case: TypeCase) -> None:
        stream = conn.execute(type_case.sql, timeout_s=10)
        table = read_table(stream)
        assert (table.num_rows, table.num_columns) == (1, 1)
        arrow_field = stream.schema.field(0)
        expected_type = type_case.arrow_type
        if isinstance(expected_type, pa.DataType):
            assert arrow_field.type == expected_type
        else:
            assert expected_type(arrow_field.type), arrow_field.type
        assert native_type(arrow_field)
        value = table.column(0)[0].as_py()
        if type_case.normalize is not None:
            value = type_case.normalize(value)
        assert value == type_case.expected
        assert type(value) is type(type_case.expected)
        if isinstance(value, dt.datetime) and value.tzinfo is not None:
            assert value.utcoffset() == dt.timedelta(0)

    def text_sql(self, text: str) -> str:
        """One row, one text column ``v`` holding ``text`` (no quote in it)."""
        return f"SELECT '{text}' AS v"

    def test_chinese_text_round_trip(self, conn: EngineSession) -> None:
        stream = conn.execute(self.text_sql(CHINESE_TEXT), timeout_s=10)
        assert pa.types.is_string(stream.schema.field(0).type) or pa.types.is_large_string(
            stream.schema.field(0).type
        )
        assert read_rows(stream) == [(CHINESE_TEXT,)]

    def test_many_rows_stream_in_bounded_batches(self, conn: EngineSession) -> None:
        n = 2 * BATCH_ROWS + 123
        stream = conn.execute(self.many_rows_sql(n), timeout_s=30)
        sizes = []
        values: list[int] = []
        for batch in stream:
            assert batch.schema.equals(stream.schema, check_metadata=True)
            sizes.append(batch.num_rows)
            values.extend(int(v) for v in batch.column(0).to_pylist())
        assert len(sizes) >= 3
        assert all(0 < size <= BATCH_ROWS for size in sizes), sizes
        assert values == list(range(1, n + 1))

    def test_stream_closed_early(self, conn: EngineSession) -> None:
        stream = conn.execute(self.many_rows_sql(50 * BATCH_ROWS), timeout_s=30)
        first = next(iter(stream))
        assert first.num_rows > 0
        stream.close()
        stream.close()
        assert list(stream) == []
        assert read_rows(conn.execute(FIXTURE_SELECT, timeout_s=10)) == FIXTURE_ROWS

    # --- time limits and cancellation -----------------------------------------------------

    def test_timeout(self, driver: Driver[Any], conn: EngineSession) -> None:
        started = time.monotonic()
        with pytest.raises(QueryTimeout):
            read_table(conn.execute(self.sleep_sql, timeout_s=TIMEOUT_S))
        assert time.monotonic() - started < TIMEOUT_S + TIMEOUT_SLACK_S
        try:
            assert read_rows(conn.execute(FIXTURE_SELECT, timeout_s=10)) == FIXTURE_ROWS
        except QueryDeckError:
            with driver.connect(timeout_s=10) as fresh:
                assert read_rows(fresh.execute(FIXTURE_SELECT, timeout_s=10)) == FIXTURE_ROWS

    def test_cancel_from_another_thread(self, conn: EngineSession) -> None:
        outcome: list[BaseException | None] = []

        def run() -> None:
            try:
                read_table(conn.execute(self.sleep_sql, timeout_s=60))
            except BaseException as exc:
                outcome.append(exc)
            else:
                outcome.append(None)

        worker = threading.Thread(target=run, daemon=True)
        worker.start()
        time.sleep(0.3)
        first_cancel = time.monotonic()
        while worker.is_alive() and time.monotonic() - first_cancel < 10:
            conn.cancel()
            worker.join(0.2)
        assert not worker.is_alive(), "cancel() did not stop the statement"
        assert time.monotonic() - first_cancel < TIMEOUT_SLACK_S
        assert len(outcome) == 1
        assert isinstance(outcome[0], QueryCancelled), outcome

    def test_cancel_when_idle_is_a_no_op(self, conn: EngineSession) -> None:
        conn.cancel()
        assert read_rows(conn.execute(FIXTURE_SELECT, timeout_s=10)) == FIXTURE_ROWS

    # --- read-only ------------------------------------------------------------------------

    def test_second_statement_never_runs(self, driver: Driver[Any], conn: EngineSession) -> None:
        for sql in self.multi_statements:
            with contextlib.suppress(QueryFailed, QueryRejected):
                read_table(conn.execute(sql, timeout_s=10))
            assert self.fixture_rows(driver) == FIXTURE_ROWS, sql

    def test_writes_fail_and_change_nothing(self, driver: Driver[Any], conn: EngineSession) -> None:
        for sql in self.write_statements:
            with pytest.raises((QueryFailed, QueryRejected)):
                read_table(conn.execute(sql, timeout_s=10))
            assert self.fixture_rows(driver) == FIXTURE_ROWS, sql
        with pytest.raises(QueryFailed, match="qd_evil"):
            read_table(conn.execute("SELECT * FROM qd_evil", timeout_s=10))

    # --- errors ---------------------------------------------------------------------------

    def test_unknown_table_is_a_query_failure_naming_it(self, conn: EngineSession) -> None:
        with pytest.raises(QueryFailed) as caught:
            read_table(conn.execute("SELECT * FROM qd_no_such_table", timeout_s=10))
        assert "qd_no_such_table" in caught.value.message
        assert read_rows(conn.execute(FIXTURE_SELECT, timeout_s=10)) == FIXTURE_ROWS

    # --- pooling ----------------------------------------------------------------------------

    def test_reset_gives_a_fresh_session_or_declines(self, conn: EngineSession) -> None:
        """A driver either cannot reset (False: never pooled) or leaves a session that runs
        the next statement, even after a stream closed early."""
        stream = conn.execute(self.many_rows_sql(BATCH_ROWS * 2), timeout_s=30)
        next(iter(stream))
        if conn.reset():
            assert conn.alive()
            assert read_rows(conn.execute(FIXTURE_SELECT, timeout_s=10)) == FIXTURE_ROWS
            assert conn.reset()
        else:
            assert type(conn).reset is EngineSession.reset  # only the default declines

    # --- catalog --------------------------------------------------------------------------

    def _catalog(self, conn: EngineSession) -> bool:
        """True when the driver declares a catalog; otherwise checks that asking for one
        is refused as unsupported, and the caller has nothing more to check."""
        if self.driver_cls.capabilities.catalog:
            return True
        with pytest.raises(CatalogUnsupported):
            conn.schemas()
        with pytest.raises(CatalogUnsupported):
            conn.describe_schema("main", timeout_s=10)
        return False

    def test_schemas_include_the_fixture_schema(
        self, driver: Driver[Any], conn: EngineSession
    ) -> None:
        if not self._catalog(conn):
            return
        schemas = conn.schemas()
        assert self.fixture_schema(driver) in schemas
        assert len(schemas) == len(set(schemas))
        if not self.driver_cls.capabilities.schemas:
            assert schemas == ["main"]

    def test_describe_schema_shape(self, driver: Driver[Any], conn: EngineSession) -> None:
        if not self._catalog(conn):
            return
        schema = self.fixture_schema(driver)
        meta = conn.describe_schema(schema, timeout_s=30)
        assert isinstance(meta, SchemaMeta)
        assert meta.name == schema
        json.dumps(dataclasses.asdict(meta))  # plain, JSON-ready data
        names = [t.name for t in meta.tables]
        assert len(names) == len(set(names))
        tables = {t.name: t for t in meta.tables}
        assert FIXTURE_TABLE in tables, names
        table = tables[FIXTURE_TABLE]
        assert table.kind == "table"
        assert [c.name for c in table.columns] == ["id", "name"]
        assert [c.family for c in table.columns] == ["integer", "text"]
        assert all(c.native_type for c in table.columns)
        for each in meta.tables:
            assert each.kind in RELATION_KINDS, each.kind
            assert each.schema == schema
            columns = [c.name for c in each.columns]
            assert len(columns) == len(set(columns)), each.name
            assert set(each.primary_key) <= set(columns), each.name
            for fk in each.foreign_keys:
                assert len(fk.columns) == len(fk.ref_columns) > 0, each.name
        assert self.fixture_rows(driver) == FIXTURE_ROWS  # describing changed nothing

    def test_describe_an_unknown_schema(self, conn: EngineSession) -> None:
        if not self._catalog(conn):
            return
        with pytest.raises(CatalogNotFound):
            conn.describe_schema("qd_no_such_schema", timeout_s=30)
        assert read_rows(conn.execute(FIXTURE_SELECT, timeout_s=10)) == FIXTURE_ROWS


# --- extreme values (issue 16, item 7) -------------------------------------------------


@dataclass(frozen=True)
class ExtremeCase:
    """One row of extreme values through the driver, the result store, a page and every
    export format: ``sql`` returns one row whose page values (JSON, as the API answers
    them) are ``expected``."""

    id: str
    sql: str
    expected: list[Any]


class ExtremeValueSuite:
    """Mixed into a driver's suite class next to :class:`DriverSuite` by drivers whose
    engine has extreme values (infinite or far dates, NaN and infinite floats, -0.0, huge
    decimals, intervals): ``extreme_cases()`` lists them. Each case is stored as a run's
    result is, then read as a page and exported in every format, none of which may fail
    or write a placeholder for a value."""

    def extreme_cases(self) -> list[ExtremeCase]:
        raise NotImplementedError("list the engine's extreme values")

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        super().pytest_generate_tests(metafunc)  # type: ignore[misc]
        if "extreme_case" in metafunc.fixturenames:
            cases = self.extreme_cases()
            metafunc.parametrize("extreme_case", cases, ids=[case.id for case in cases])

    def test_extreme_values_round_trip(
        self, conn: EngineSession, extreme_case: ExtremeCase, tmp_path: Path
    ) -> None:
        import csv
        import io

        import orjson
        import pyarrow.parquet as pq

        from querydeck.runs.export.formats import ExportFormat
        from querydeck.runs.export.writers import Export
        from querydeck.runs.results import jsonrows
        from querydeck.runs.results.store import ResultStore

        store = ResultStore(tmp_path).prepare()
        stream = conn.execute(extreme_case.sql, timeout_s=10)
        writer = store.writer("extreme", stream.schema)
        writer.drain(stream, 10, lambda: None)
        writer.commit()
        table = store.read("extreme", 0, 10)
        assert jsonrows.rows(table) == [extreme_case.expected], jsonrows.rows(table)
        names = table.schema.names
        for fmt in ExportFormat:
            export = Export(store, "extreme", store.open("extreme"), fmt, "x", 1)
            body = b"".join(export.chunks())
            if fmt in (ExportFormat.csv, ExportFormat.tsv, ExportFormat.excel):
                text = body.decode("utf-8-sig")
                assert "out of range" not in text
                assert "MonthDayNano" not in text
                delimiter = "\t" if fmt is ExportFormat.tsv else ","
                rows = list(csv.reader(io.StringIO(text), delimiter=delimiter))
                assert len(rows) == 2
                assert len(rows[1]) == len(names)
            elif fmt is ExportFormat.json:
                assert orjson.loads(body) == [dict(zip(names, extreme_case.expected, strict=True))]
            elif fmt is ExportFormat.ndjson:
                assert orjson.loads(body) == dict(zip(names, extreme_case.expected, strict=True))
            else:
                assert pq.read_metadata(io.BytesIO(body)).num_rows == 1
