"""The assistant's pure parts: words, retrieval and its fusion, reading model output, the
Markdown knowledge files, result comparison, and a static check that nothing reachable from
model output evaluates or executes it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import querydeck.assistant as assistant_package
from querydeck.assistant import markdown, output
from querydeck.assistant.evaluation import load_questions, ordered, recall, same_result
from querydeck.assistant.knowledge import similarity, staleness, uses_of
from querydeck.assistant.models import Example, GlossaryEntry
from querydeck.assistant.prompts import compact_ddl, name
from querydeck.assistant.retrieval import SchemaIndex, parts
from querydeck.assistant.text import phrases, words
from querydeck.assistant.values import ValueIndex, profile_sql
from querydeck.drivers.catalog_model import ColumnMeta, ForeignKeyMeta, TableMeta
from querydeck.errors import KnowledgeFileInvalid, QueryDeckError, QuestionFileInvalid
from querydeck.store.tables import utcnow


def column(
    name: str, native: str = "INTEGER", family: str = "integer", comment: str | None = None
) -> ColumnMeta:
    return ColumnMeta(
        name=name, ordinal=0, native_type=native, family=family, nullable=True, comment=comment
    )


def table(
    name: str, *columns: str, fks: tuple[str, ...] = (), comment: str | None = None
) -> TableMeta:
    return TableMeta(
        schema="s",
        name=name,
        kind="table",
        columns=[column(c) for c in columns],
        foreign_keys=[ForeignKeyMeta(None, [f"{f}_id"], "s", f, ["id"]) for f in fks],
        comment=comment,
    )


SHOP = [
    table("customer", "id", "first_name", "country"),
    table("orders", "id", "customer_id", "o_totalprice", fks=("customer",)),
    table("order_line", "id", "orders_id", "product_id", "quantity", fks=("orders", "product")),
    table("product", "id", "title", "unit_price", comment="Things we sell"),
    table("warehouse", "id", "city"),
]


def test_words_split_names_and_fold() -> None:
    assert words("InvoiceLine") == ["invoice", "line"]
    assert words("invoice_line_id") == ["invoice", "line", "id"]
    assert words("Countries and Boxes") == ["country", "and", "box"]
    assert words("Which customers?", drop_stopwords=True) == ["customer"]
    assert words("Café") == ["cafe"]
    assert words("address2") == ["address", "2"]
    assert phrases("New York City", longest=2) == ["new york", "york city", "new", "york", "city"]


def test_compound_words_are_found_by_their_halves() -> None:
    assert {"total", "price"} <= set(parts("totalprice"))
    assert parts("price") == ()
    index = SchemaIndex(SHOP)
    best = index.rank("total price of each order", 3)
    assert best[0].table.name == "orders"


def test_ranking_expands_along_foreign_keys_and_keeps_strong_hits() -> None:
    index = SchemaIndex(SHOP)
    ranked = index.rank("products sold, with quantities", 10)
    names = [r.table.name for r in ranked]
    assert names[0] in ("product", "order_line")
    assert "orders" in names  # a neighbour of order_line
    assert "warehouse" not in names
    assert any("foreign_key" in r.why for r in ranked)
    assert {t.name for t in index.strong(ranked)} <= set(names[:2])
    assert index.neighbours(SHOP[2]) == [SHOP[1], SHOP[3]]
    assert index.find("s.product") is SHOP[3]
    assert index.find("PRODUCT") is SHOP[3]
    assert index.find("nope") is None
    assert index.rank("", 5) == []


def test_values_and_embeddings_are_fused() -> None:
    values = ValueIndex()
    values.add("s", "warehouse", "city", ["Lisbon", "Porto"])
    index = SchemaIndex(SHOP, values)
    ranked = index.rank("stock in Lisbon", 5)
    assert ranked[0].table.name == "warehouse"
    assert "values" in ranked[0].why
    assert [h.value for h in values.match("Lisbon or Porto?")] == ["Lisbon", "Porto"]
    index.embeddings = [[1.0, 0.0] if t.name == "product" else [0.0, 1.0] for t in SHOP]
    by_vector = index.rank("zzz", 5, question_embedding=[1.0, 0.0])
    assert by_vector[0].table.name == "product"
    assert "embeddings" in by_vector[0].why


def test_value_index_build_keeps_low_cardinality_text_columns() -> None:
    texts = [
        TableMeta(
            "s",
            "t",
            "table",
            columns=[column("kind", "TEXT", "text"), column("note", "TEXT", "text")],
        )
    ]
    asked: list[str] = []

    def fetch(sql: str) -> list[object]:
        asked.append(sql)
        if '"kind"' in sql:
            return ["red", "blue"]
        if '"note"' in sql:
            return [f"n{i}" for i in range(60)]  # too many distinct values
        raise AssertionError(sql)

    index = ValueIndex.build(texts, "postgres", fetch)
    assert len(index) == 2
    assert index.samples == {("s", "t"): {"kind": ["red", "blue"]}}
    assert asked[0].startswith('SELECT "kind" AS v, COUNT(*) AS n FROM "s"."t"')
    assert 'FROM "t"' in profile_sql(texts[0], "kind", "sqlite", schema_qualified=False)

    def failing(sql: str) -> list[object]:
        raise QueryDeckError("no")

    assert len(ValueIndex.build(texts, "postgres", failing)) == 0


@pytest.mark.parametrize(
    ("text", "sql"),
    [
        ("```sql\nSELECT 1\n```", "SELECT 1"),
        ("Here you go:\n```\nSELECT 2;\n```\nEnjoy.", "SELECT 2;"),
        ("  with x as (select 1) select * from x", "with x as (select 1) select * from x"),
        ("(SELECT 1) UNION (SELECT 2)", "(SELECT 1) UNION (SELECT 2)"),
    ],
)
def test_sql_is_read_from_an_answer(text: str, sql: str) -> None:
    assert output.sql_of(text) == sql


@pytest.mark.parametrize(
    "text",
    [None, "", "   ", "It is 42.", "```sql\nSELECT 1\n```\n```sql\nSELECT 2\n```", "```sql\n\n```"],
)
def test_not_one_statement_is_refused(text: str | None) -> None:
    with pytest.raises(output.NoSql):
        output.sql_of(text)


def test_stage1_json_is_validated_and_repaired() -> None:
    allowed = ["s.customer", "s.orders", "t.orders"]
    assert output.tables_of('{"tables": ["s.customer", "nope"]}', allowed) == ["s.customer"]
    assert output.tables_of('Sure! ```json\n{"tables": ["CUSTOMER"]}\n```', allowed) == [
        "s.customer"
    ]
    assert output.tables_of('{"tables": ["orders"]}', allowed) == []  # ambiguous bare name
    for broken in (None, "no json", '{"tables": "customer"}', '{"tables": ['):
        with pytest.raises(ValueError):
            output.tables_of(broken, allowed)


def test_compact_ddl_quotes_only_what_needs_it() -> None:
    assert name("album", "postgres") == "album"
    assert name("Album", "postgres") == '"Album"'
    assert name("Album", "sqlite") == "Album"
    assert name("order", "duckdb") == '"order"'
    ddl = compact_ddl(SHOP[3], "postgres", {"title": ["Lamp", "Desk"]})
    assert ddl.startswith("-- Things we sell\nCREATE TABLE s.product (")
    assert "title INTEGER,  -- e.g. 'Lamp', 'Desk'" in ddl
    assert "s.order_line" not in ddl
    assert "FOREIGN KEY (orders_id) REFERENCES orders(id)" in compact_ddl(SHOP[2], "postgres")


def _example(question: str, sql: str, status: str = "approved") -> Example:
    now = utcnow()
    return Example(
        id="e1",
        connection="c",
        question=question,
        sql=sql,
        notes="Line one.\n\nLine two.",
        tags=["a", "b"],
        tables=[],
        author="x",
        status=status,  # type: ignore[arg-type]
        created_at=now,
        updated_at=now,
    )


def test_markdown_round_trip() -> None:
    now = utcnow()
    term = GlossaryEntry(
        id="g",
        connection="c",
        term="revenue",
        definition="Sum of totals.",
        author="x",
        created_at=now,
        updated_at=now,
    )
    text = markdown.export("c", [_example("How many?", "SELECT\n  1")], [term])
    examples, terms = markdown.parse(text)
    assert (examples[0].question, examples[0].sql, examples[0].status) == (
        "How many?",
        "SELECT\n  1",
        "approved",
    )
    assert examples[0].tags == ["a", "b"]
    assert examples[0].notes == "Line one.\n\nLine two."
    assert (terms[0].term, terms[0].definition) == ("revenue", "Sum of totals.")
    assert markdown.export("c", [], []) == "# Knowledge base: c\n"


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("## Something: else\n", 1),
        ("# kb\n\n## Example: q\n\nno sql here\n", 3),
        ("## Example: q\n```sql\nSELECT 1\n", 1),
        ("## Example: q\nStatus: shipped\n```sql\nSELECT 1\n```\n", 1),
        ("## Glossary: t\n\n", 1),
        ("## Example: q\n```sql\nSELECT 1\n```\n```sql\nSELECT 2\n```\n", 1),
    ],
)
def test_malformed_markdown_says_where(text: str, line: int) -> None:
    with pytest.raises(KnowledgeFileInvalid) as caught:
        markdown.parse(text)
    assert caught.value.detail["line"] == line


def test_staleness_and_uses() -> None:
    catalog = {"s.orders": SHOP[1], "s.customer": SHOP[0]}
    uses = uses_of("SELECT o_totalprice FROM orders", "postgres", [SHOP[1]])
    assert uses == {"s.orders": {"o_totalprice": "INTEGER"}}
    assert staleness(uses, catalog) is None
    assert "no longer" in (staleness({"s.gone": {}}, catalog) or "")
    assert "s.orders.nope" in (staleness({"s.orders": {"nope": "INTEGER"}}, catalog) or "")
    assert "changed" in (staleness({"s.orders": {"id": "TEXT"}}, catalog) or "")
    star = uses_of("SELECT * FROM customer", "postgres", [SHOP[0]])
    assert set(star["s.customer"]) == {"id", "first_name", "country"}
    assert similarity(["a", "b"], ["b", "c"]) == pytest.approx(1 / 3)
    assert similarity([], ["a"]) == 0.0


def test_results_compare_as_multisets_unless_ordered() -> None:
    assert same_result([(1, "a"), (2, "b")], [(2, "b"), (1, "a")], in_order=False)
    assert not same_result([(1, "a"), (2, "b")], [(2, "b"), (1, "a")], in_order=True)
    assert same_result([(0.1 + 0.2,)], [(0.3,)], in_order=True)
    assert not same_result([(1,)], [(1,), (1,)], in_order=False)
    assert ordered("SELECT a FROM t ORDER BY a", "postgres")
    assert not ordered("SELECT a FROM (SELECT a FROM t ORDER BY a) x", "postgres")
    assert not ordered("SELEC nonsense ((", "postgres")
    assert recall(["a", "b"], ["b", "x", "a"], 2) == 0.5
    assert recall([], ["x"], 5) == 1.0


def test_question_files_are_checked() -> None:
    loaded = load_questions('// a comment\n\n{"question": "q", "sql": "SELECT 1"}\n')
    assert [q.question for q in loaded] == ["q"]
    for bad, line in (
        ("", 1),
        ('{"question": "q"}', 1),
        ('{"question": "q", "sql": "x"}\nnope', 2),
    ):
        with pytest.raises(QuestionFileInvalid) as caught:
            load_questions(bad)
        assert caught.value.detail["line"] == line


def test_nothing_in_the_assistant_evaluates_or_executes_text() -> None:
    """SECURITY_TESTS J5: no exec/eval/compile/subprocess/os.system anywhere in the
    assistant (model output can only ever be parsed as data and checked by the guard)."""
    banned_names = {"exec", "eval", "compile", "__import__", "breakpoint"}
    banned_attributes = {"exec", "eval", "system", "popen", "spawn", "execv", "execve"}
    banned_modules = {"subprocess", "pickle", "marshal", "code", "codeop"}
    package = Path(assistant_package.__file__).parent
    for path in package.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                func = node.func
                if isinstance(func, ast.Name):
                    assert func.id not in banned_names, f"{path.name}:{node.lineno} {func.id}"
                elif isinstance(func, ast.Attribute):
                    assert func.attr not in banned_attributes, f"{path.name}:{node.lineno}"
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = [a.name for a in node.names] + [getattr(node, "module", None) or ""]
                assert not banned_modules & {n.split(".")[0] for n in names}, path.name


def test_a_named_table_beats_look_alikes_and_numbers_name_nothing() -> None:
    crowd = [
        table(f"customer_{word}_{i}", "id", "note")
        for i, word in enumerate(["note", "city", "rank", "kind", "flag"] * 4)
    ]
    crowd.append(table("t10", "id", "customer_note"))
    index = SchemaIndex([*crowd, *SHOP])
    ranked = index.rank("The 10 customers with the most orders", 5)
    names = [r.table.name for r in ranked]
    assert names[:2] == ["orders", "customer"] or names[:2] == ["customer", "orders"]
    assert "t10" not in names
    assert "name" in ranked[0].why
    assert "joined" in ranked[0].why  # customer and orders join each other
    lineitem = SchemaIndex([table("lineitem", "l_quantity"), table("line_of_item_x", "y")])
    found = {r.table.name: r.why for r in lineitem.rank("line items", 2)}
    assert found["lineitem"] == ["name"]  # "line items" names it, in two halves
    assert "name" not in found["line_of_item_x"]  # "of" and "x" are not said


def test_value_profiling_stops_when_its_budget_is_spent() -> None:
    texts = [
        TableMeta("s", f"t{i}", "table", columns=[column("kind", "TEXT", "text")]) for i in range(5)
    ]
    asked: list[str] = []

    def fetch(sql: str) -> list[object]:
        asked.append(sql)
        return ["a"]

    assert len(ValueIndex.build(texts, "postgres", fetch, budget_s=-1)) == 0
    assert asked == []
    assert ValueIndex.build(texts, "postgres", fetch).samples[("s", "t4")] == {"kind": ["a"]}
