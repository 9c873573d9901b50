"""The assistant on PostgreSQL (Chinook, snake_case names, read by a read-only login): the
oracle scores 100%, EXPLAIN failures and wrong columns are corrected, sampled values reach
the model only when the connection's switch allows it."""

from __future__ import annotations

import re
from collections.abc import Iterator

import psycopg
import pytest
import sqlglot
from sqlglot import exp

from querydeck.app.workbench import Workbench
from querydeck.assistant.models import AskInput, AssistantSettings, EvalQuestion, ExampleInput
from querydeck.auth.principal import LOCAL
from querydeck.settings import load_settings
from tests import chinook
from tests.assistant_fixtures import add_endpoint, gold
from tests.llmserver import (
    Answer,
    LLMServer,
    fenced,
    is_correction,
    is_stage1,
    llm_server,
    oracle,
    wrong_column_first,
)
from tests.services import postgres_database, postgres_reader

pytestmark = pytest.mark.services


def snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


def for_postgres(sql: str) -> str:
    tree = sqlglot.parse_one(sql, read="sqlite")
    for identifier in tree.find_all(exp.Identifier):
        identifier.set("this", snake(identifier.name))
    return str(tree.sql(dialect="postgres"))


PG_GOLD = {q: for_postgres(s) for q, s in gold("chinook").items()}


@pytest.fixture(scope="module")
def server() -> Iterator[LLMServer]:
    with llm_server() as srv:
        yield srv


@pytest.fixture(scope="module")
def admin_url() -> Iterator[str]:
    with postgres_database() as url:
        chinook.load_postgres(url)
        yield url


@pytest.fixture(scope="module")
def wb(
    tmp_path_factory: pytest.TempPathFactory, server: LLMServer, admin_url: str
) -> Iterator[Workbench]:
    with postgres_reader(admin_url) as reader:
        settings = load_settings(
            data_dir=tmp_path_factory.mktemp("pg") / "data", assistant_allow_loopback=True
        )
        with Workbench(settings) as workbench:
            workbench.connections.create("pg", url=reader)
            add_endpoint(workbench, server.url)
            yield workbench


def test_the_oracle_scores_every_question(wb: Workbench, server: LLMServer) -> None:
    server.use(oracle(PG_GOLD, "postgres"))
    questions = [EvalQuestion(question=q, sql=s) for q, s in PG_GOLD.items()]
    report = wb.assistant.harness.evaluate("pg", questions, actor=LOCAL)
    assert [(r.question, r.error_code) for r in report.results if not r.correct] == []
    assert report.execution_accuracy == 1.0
    assert report.recall_at_10 >= 0.95
    assert report.explain_pass_rate == 1.0


def test_a_wrong_column_is_corrected(wb: Workbench, server: LLMServer) -> None:
    question = "What is the longest track's name?"
    server.use(wrong_column_first(PG_GOLD, "postgres", "length_ms", "milliseconds"))
    answer = wb.assistant.ask("pg", AskInput(question=question), actor=LOCAL)
    assert answer.sql == PG_GOLD[question]
    assert answer.rounds[0].problems[0].kind == "unknown_column"
    assert "public.track" in answer.tables


def test_an_explain_failure_is_fed_back(wb: Workbench, server: LLMServer) -> None:
    question = "How many tracks cost more than 0.99?"
    base = oracle(PG_GOLD, "postgres")

    def script(path: str, body: dict) -> Answer:  # type: ignore[type-arg]
        if is_stage1(body) or is_correction(body):
            return base(path, body)
        return Answer(content=fenced("SELECT COUNT(*) FROM track WHERE unit_price > 'cheap'"))

    server.use(script)
    answer = wb.assistant.ask("pg", AskInput(question=question), actor=LOCAL)
    assert answer.sql == PG_GOLD[question]
    assert [p.kind for p in answer.rounds[0].problems] == ["explain"]
    fix = server.requests[-1][1]["messages"][-1]["content"]
    assert "That SQL cannot be used" in fix


def test_sample_values_reach_the_model_only_when_allowed(wb: Workbench, server: LLMServer) -> None:
    question = "How many customers live in Brazil?"
    server.use(oracle(PG_GOLD, "postgres"))
    plain = wb.assistant.ask("pg", AskInput(question=question), actor=LOCAL)
    assert plain.sent.sample_values is False
    assert "values" not in plain.candidates[0].why
    wb.assistant.set_connection_settings("pg", AssistantSettings(allow_sampling=True))
    server.use(oracle(PG_GOLD, "postgres"))
    sampled = wb.assistant.ask("pg", AskInput(question=question), actor=LOCAL)
    found = {c.table: c.why for c in sampled.candidates[:2]}
    assert "values" in found["customer"]  # Customer.country holds 'Brazil'
    assert "values" in found["invoice"]  # and so does Invoice.billing_country
    assert sampled.sent.sample_values is False
    assert "'Brazil'" not in server.prompts()
    wb.assistant.set_connection_settings(
        "pg", AssistantSettings(allow_sampling=True, send_sample_values=True)
    )
    server.use(oracle(PG_GOLD, "postgres"))
    sent = wb.assistant.ask("pg", AskInput(question=question), actor=LOCAL)
    assert sent.sent.sample_values is True
    assert sent.sent.value_matches >= 1
    assert "customer.country = 'Brazil'" in server.prompts()
    wb.assistant.set_connection_settings("pg", AssistantSettings())


def test_a_refresh_that_drops_a_column_makes_examples_stale(wb: Workbench, admin_url: str) -> None:
    made = wb.assistant.knowledge.add_example(
        "pg",
        ExampleInput(question="Fax numbers of customers", sql="SELECT fax FROM customer"),
        actor=LOCAL,
    )
    other = wb.assistant.knowledge.add_example(
        "pg", ExampleInput(question="Genres", sql="SELECT name FROM genre"), actor=LOCAL
    )
    wb.assistant.knowledge.review_example("pg", made.id, "approved", actor=LOCAL)
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute("ALTER TABLE customer DROP COLUMN fax")
    wb.catalog.refresh("pg")
    stale = wb.assistant.knowledge.list_examples("pg", status="stale", actor=LOCAL)
    assert [e.id for e in stale.items] == [made.id]
    assert "customer.fax" in (stale.items[0].stale_reason or "")
    assert wb.assistant.knowledge.get_example("pg", other.id, actor=LOCAL).status == "candidate"
