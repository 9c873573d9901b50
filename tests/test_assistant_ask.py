"""The ask pipeline on the demo connections (TPC-H in DuckDB, Chinook in SQLite) against the
tests' scripted model server: the oracle scores 100%, corrections fix a wrong column, and
hostile or broken answers never run."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from querydeck.app.workbench import Workbench
from querydeck.assistant.models import AskInput
from querydeck.auth.principal import LOCAL
from querydeck.errors import (
    LLMNotConfigured,
    ModelOutputInvalid,
    ModelSqlInvalid,
    ModelSqlRejected,
)
from tests.assistant_fixtures import add_endpoint, demo_workbench, gold
from tests.llmserver import (
    Answer,
    LLMServer,
    constant,
    fenced,
    llm_server,
    oracle,
    stage2_says,
    wrong_column_first,
)

CHINOOK = gold("chinook")
TPCH = gold("tpch")


@pytest.fixture(scope="module")
def server() -> Iterator[LLMServer]:
    with llm_server() as srv:
        yield srv


@pytest.fixture(scope="module")
def wb(
    tmp_path_factory: pytest.TempPathFactory, demo_files: Path, server: LLMServer
) -> Iterator[Workbench]:
    workbench = demo_workbench(tmp_path_factory.mktemp("ask") / "data", demo_files)
    add_endpoint(workbench, server.url)
    try:
        yield workbench
    finally:
        workbench.close()


def ask(wb: Workbench, connection: str, question: str, **extra: object):  # type: ignore[no-untyped-def]
    return wb.assistant.ask(connection, AskInput(question=question, **extra), actor=LOCAL)


@pytest.mark.parametrize(("connection", "name"), [("chinook", "chinook"), ("demo", "tpch")])
def test_the_oracle_scores_every_question(
    wb: Workbench, server: LLMServer, connection: str, name: str
) -> None:
    answers = CHINOOK if name == "chinook" else TPCH
    server.use(oracle(answers, "sqlite" if name == "chinook" else "duckdb"))
    report = wb.assistant.harness.evaluate(connection, _questions(answers), actor=LOCAL)
    failed = [(r.question, r.error_code) for r in report.results if not r.correct]
    assert failed == []
    assert report.execution_accuracy == 1.0
    assert report.questions == len(answers) >= 25
    assert report.recall_at_10 >= 0.95
    assert report.guard_pass_rate == 1.0


def _questions(answers: dict[str, str]):  # type: ignore[no-untyped-def]
    from querydeck.assistant.models import EvalQuestion

    return [EvalQuestion(question=q, sql=s) for q, s in answers.items()]


def test_an_answer_says_what_was_used_and_sent(wb: Workbench, server: LLMServer) -> None:
    server.use(oracle(CHINOOK, "sqlite"))
    question = "Which artist has the most albums?"
    answer = ask(wb, "chinook", question)
    assert answer.sql == CHINOOK[question]
    assert set(answer.tables) >= {"main.Album", "main.Artist"}
    assert answer.candidates[0].table in ("Album", "Artist")
    assert answer.sent.sample_values is False
    assert set(answer.sent.tables) == set(answer.tables)
    assert answer.rounds == []
    assert answer.tokens_in > 0
    assert answer.tokens_out > 0
    assert answer.endpoint == "local"
    # only the chosen tables' DDL reached stage 2
    stage2 = server.requests[-1][1]["messages"][-1]["content"]
    assert "CREATE TABLE Album" in stage2
    assert "CREATE TABLE Invoice " not in stage2


def test_a_wrong_column_is_corrected(wb: Workbench, server: LLMServer) -> None:
    question = "What is the longest track's name?"
    server.use(wrong_column_first(CHINOOK, "sqlite", "Milisecs", "Milliseconds"))
    answer = ask(wb, "chinook", question)
    assert answer.sql == CHINOOK[question]
    assert len(answer.rounds) == 1
    problem = answer.rounds[0].problems[0]
    assert problem.kind == "unknown_column"
    assert "Milliseconds" in problem.suggestions
    fix = server.requests[-1][1]["messages"][-1]["content"]
    assert "Did you mean: Milliseconds?" in fix


def test_a_delete_is_refused_and_never_run(wb: Workbench, server: LLMServer) -> None:
    server.use(stage2_says(fenced("DELETE FROM Track"), CHINOOK, "sqlite"))
    with pytest.raises(ModelSqlRejected) as caught:
        ask(wb, "chinook", "How many albums are there?", execute=True)
    assert caught.value.http_status == 422
    assert caught.value.detail["rounds"] == 3  # the first answer and two corrections
    with wb.assistant.sessions.open("chinook") as guarded:
        assert guarded.rows("SELECT COUNT(*) FROM Track") == [(3503,)]


def test_prose_is_invalid_output(wb: Workbench, server: LLMServer) -> None:
    server.use(stage2_says("The answer is forty-two, I think.", CHINOOK, "sqlite"))
    with pytest.raises(ModelOutputInvalid) as caught:
        ask(wb, "chinook", "How many albums are there?")
    assert caught.value.http_status == 502


def test_unknown_tables_stop_after_the_rounds(wb: Workbench, server: LLMServer) -> None:
    server.use(stage2_says(fenced("SELECT * FROM Albums"), CHINOOK, "sqlite"))
    with pytest.raises(ModelSqlInvalid) as caught:
        ask(wb, "chinook", "How many albums are there?")
    problems = caught.value.detail["problems"]
    assert problems[0]["kind"] == "unknown_table"
    assert "Album" in problems[0]["suggestions"]


def test_broken_stage1_json_falls_back_to_the_candidates(wb: Workbench, server: LLMServer) -> None:
    base = oracle(CHINOOK, "sqlite")

    def script(path: str, body: dict) -> Answer:  # type: ignore[type-arg]
        from tests.llmserver import is_stage1

        if is_stage1(body):
            return Answer(content='{"tables": ["Album", ')
        return base(path, body)

    server.use(script)
    question = "How many albums are there?"
    answer = ask(wb, "chinook", question)
    assert answer.sql == CHINOOK[question]
    stage1_calls = [b for _, b, _ in server.requests if "choose the database tables" in str(b)]
    assert len(stage1_calls) == 2  # retried once, then the best candidates were used


def test_execute_makes_a_normal_run(wb: Workbench, server: LLMServer) -> None:
    server.use(oracle(TPCH, "duckdb"))
    answer = ask(wb, "demo", "How many customers are there?", execute=True)
    assert answer.run_id is not None
    run = wb.runs.wait(answer.run_id, 30)
    assert run.status.value == "succeeded"
    assert run.row_count == 1


def test_no_endpoint_is_503(tmp_path: Path, demo_files: Path) -> None:
    bare = demo_workbench(tmp_path / "data", demo_files)
    try:
        with pytest.raises(LLMNotConfigured) as caught:
            ask(bare, "chinook", "How many albums are there?")
        assert caught.value.http_status == 503
    finally:
        bare.close()


def test_follow_up_carries_the_earlier_question(wb: Workbench, server: LLMServer) -> None:
    server.use(oracle(CHINOOK, "sqlite"))
    first = ask(wb, "chinook", "How many customers live in Brazil?")
    server.use(
        constant(Answer(content=fenced("SELECT COUNT(*) FROM Customer WHERE Country = 'Canada'")))
    )
    second = wb.assistant.ask(
        "chinook",
        AskInput(question="And in Canada?", follow_up_of=first.id),
        actor=LOCAL,
    )
    assert second.follow_up_of == first.id
    text = server.prompts()
    assert "Earlier question: How many customers live in Brazil?" in text
    assert CHINOOK["How many customers live in Brazil?"] in text


def test_an_explanation_in_plain_words(wb: Workbench, server: LLMServer) -> None:
    base = oracle(CHINOOK, "sqlite")

    def script(path: str, body: dict) -> Answer:  # type: ignore[type-arg]
        if "Explain in a few plain sentences" in str(body):
            return Answer(content="It counts the albums.")
        return base(path, body)

    server.use(script)
    answer = ask(wb, "chinook", "How many albums are there?", explain=True)
    assert answer.explanation == "It counts the albums."
    purposes = [
        e.purpose
        for e in wb.assistant.endpoints.inference_log(actor=LOCAL, answer_id=answer.id).items
    ]
    assert purposes == ["explain", "ask.sql", "ask.tables"]


def test_embeddings_join_the_ranking(tmp_path: Path, demo_files: Path, server: LLMServer) -> None:
    bench = demo_workbench(tmp_path / "data", demo_files)
    try:
        add_endpoint(bench, server.url)
        add_endpoint(bench, server.url, "vectors", kind="embeddings")
        server.use(oracle(CHINOOK, "sqlite"))
        answer = ask(bench, "chinook", "How many playlists are there?")
        assert answer.sql == CHINOOK["How many playlists are there?"]
        assert any("embeddings" in c.why for c in answer.candidates)
        log = bench.assistant.endpoints.inference_log(actor=LOCAL, limit=100).items
        assert {"embed.tables", "embed.question"} <= {e.purpose for e in log}
        paths = [p for p, _, _ in server.requests]
        assert paths.count("/v1/embeddings") == 2  # the tables once, then the question
    finally:
        bench.close()
