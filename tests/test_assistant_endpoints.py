"""Model endpoints, the HTTP client and the inference log, against the tests' scripted
model server: errors mapped (timeout, 429, 500, huge answers), loopback only when allowed,
API keys sealed and never echoed, each user reading only their own log entries."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import select

from querydeck.app.workbench import Workbench
from querydeck.assistant.models import (
    AskInput,
    EndpointChanges,
    EndpointInput,
    InvokeInput,
    Message,
)
from querydeck.auth.principal import LOCAL, Role
from querydeck.errors import (
    Forbidden,
    InvalidInput,
    LLMNotConfigured,
    ModelAuthFailed,
    ModelEndpointExists,
    ModelEndpointInvalid,
    ModelEndpointNotFound,
    ModelOutputInvalid,
    ModelRateLimited,
    ModelRequestRejected,
    ModelTargetForbidden,
    ModelTimeout,
    ModelUnavailable,
    ModelUnreachable,
)
from querydeck.settings import load_settings
from querydeck.store.assistant_tables import InferenceRow, ModelEndpointRow
from tests.apiauth import ensure_user
from tests.assistant_fixtures import add_endpoint, demo_workbench, gold
from tests.llmserver import Answer, LLMServer, chat_body, constant, llm_server, oracle

KEY = "sk-test-SENTINEL-0123456789abcdef"


@pytest.fixture(scope="module")
def server() -> Iterator[LLMServer]:
    with llm_server() as srv:
        yield srv


@pytest.fixture(scope="module")
def wb(
    tmp_path_factory: pytest.TempPathFactory, demo_files: Path, server: LLMServer
) -> Iterator[Workbench]:
    workbench = demo_workbench(tmp_path_factory.mktemp("endpoints") / "data", demo_files)
    add_endpoint(workbench, server.url, "main", api_key=KEY, timeout_s=1.0, default=True)
    add_endpoint(workbench, server.url, "vectors", kind="embeddings", timeout_s=0.5)
    try:
        yield workbench
    finally:
        workbench.close()


def hello() -> InvokeInput:
    return InvokeInput(messages=[Message(role="user", content="hello")])


def test_invoke_sends_the_key_and_logs_the_call(wb: Workbench, server: LLMServer) -> None:
    server.use(constant(Answer(content="hi there")))
    result = wb.assistant.endpoints.invoke("main", hello(), actor=LOCAL)
    assert result.content == "hi there"
    assert (result.tokens_in, result.tokens_out) == (11, 7)
    path, body, headers = server.requests[-1]
    assert path == "/v1/chat/completions"
    assert body["model"] == "scripted"
    assert body["temperature"] == 0
    assert headers["Authorization"] == f"Bearer {KEY}"
    assert headers["Host"].startswith("127.0.0.1:")
    entry = wb.assistant.endpoints.inference_log(actor=LOCAL, limit=1).items[0]
    assert entry.purpose == "invoke"
    assert entry.status == "ok"
    assert "hello" in entry.prompt
    assert entry.response == "hi there"


def test_the_key_is_sealed_and_never_shown(wb: Workbench) -> None:
    info = wb.assistant.endpoints.get("main")
    assert info.has_api_key
    assert KEY not in info.model_dump_json()
    with wb.db.read() as session:
        stored = session.scalar(
            select(ModelEndpointRow.api_key).where(ModelEndpointRow.name == "main")
        )
    assert stored is not None
    assert KEY.encode() not in stored


@pytest.mark.parametrize(
    ("answer", "error", "status"),
    [
        (
            Answer(status=429, content="slow down", headers={"Retry-After": "7"}),
            ModelRateLimited,
            429,
        ),
        (Answer(status=500, content="boom"), ModelUnavailable, 503),
        (Answer(status=401, content="bad key"), ModelAuthFailed, 502),
        (Answer(status=404, content="no model"), ModelRequestRejected, 502),
        (
            Answer(status=302, headers={"Location": "http://169.254.169.254/"}),
            ModelRequestRejected,
            502,
        ),
        (Answer(body=b"not json"), ModelOutputInvalid, 502),
        (Answer(body=b'{"choices": []}'), ModelOutputInvalid, 502),
        (Answer(body=chat_body("x" * 2_000_000)), ModelOutputInvalid, 502),
        (Answer(content="late", delay_s=2.5), ModelTimeout, 504),
        (Answer(content="trickled", trickle_s=0.05), ModelTimeout, 504),
    ],
    ids=[
        "429",
        "500",
        "401",
        "404",
        "redirect",
        "not-json",
        "no-message",
        "huge",
        "slow",
        "trickle",
    ],
)
def test_provider_failures_are_mapped(
    wb: Workbench, server: LLMServer, answer: Answer, error: type[Exception], status: int
) -> None:
    server.use(constant(answer))
    with pytest.raises(error) as caught:
        wb.assistant.endpoints.invoke("main", hello(), actor=LOCAL)
    assert caught.value.http_status == status  # type: ignore[attr-defined]
    assert KEY not in str(caught.value)
    entry = wb.assistant.endpoints.inference_log(actor=LOCAL, limit=1).items[0]
    assert entry.status == "error"
    assert entry.error_code == caught.value.code  # type: ignore[attr-defined]
    if isinstance(caught.value, ModelRateLimited):
        assert caught.value.detail["retry_after_s"] == 7


def test_a_timeout_through_ask_is_504(wb: Workbench, server: LLMServer) -> None:
    server.use(constant(Answer(content="late", delay_s=2.5)))
    with pytest.raises(ModelTimeout) as caught:
        wb.assistant.ask("chinook", AskInput(question="How many albums?"), actor=LOCAL)
    assert caught.value.code == "MODEL_TIMEOUT"


def test_a_key_echoed_by_the_provider_is_redacted(wb: Workbench, server: LLMServer) -> None:
    server.use(constant(Answer(content=f"your key is {KEY} and Bearer {KEY}")))
    wb.assistant.endpoints.invoke("main", hello(), actor=LOCAL)
    entry = wb.assistant.endpoints.inference_log(actor=LOCAL, limit=1).items[0]
    assert KEY not in entry.response
    assert "[redacted]" in entry.response
    with wb.db.read() as session:
        texts = session.scalars(select(InferenceRow.response)).all()
    assert all(KEY not in t for t in texts)


def test_embeddings_and_probing(wb: Workbench, server: LLMServer) -> None:
    server.use(oracle({}, "sqlite"))
    result = wb.assistant.endpoints.invoke("vectors", InvokeInput(input=["a b", "c"]), actor=LOCAL)
    assert result.embeddings is not None
    assert len(result.embeddings) == 2
    probed = wb.assistant.endpoints.test("vectors", actor=LOCAL)
    assert probed.capabilities.embeddings is True
    assert probed.capabilities.dimension == 32
    server.use(constant(Answer(content='{"ok": true}')))
    chat = wb.assistant.endpoints.test("main", actor=LOCAL)
    assert chat.capabilities.chat is True
    assert chat.capabilities.json_output is True
    with pytest.raises(InvalidInput):
        wb.assistant.endpoints.invoke("vectors", hello(), actor=LOCAL)
    with pytest.raises(InvalidInput):
        wb.assistant.endpoints.invoke("main", InvokeInput(input=["x"]), actor=LOCAL)


def test_a_failed_probe_is_kept(wb: Workbench, server: LLMServer) -> None:
    server.use(constant(Answer(status=500)))
    with pytest.raises(ModelUnavailable):
        wb.assistant.endpoints.test("main", actor=LOCAL)
    assert wb.assistant.endpoints.get("main").capabilities.error_code == "MODEL_UNAVAILABLE"


def test_inference_logs_are_isolated_between_users(wb: Workbench, server: LLMServer) -> None:
    server.use(constant(Answer(content="for ann")))
    ann = ensure_user(wb, "ann", Role.analyst)
    bob = ensure_user(wb, "bob", Role.analyst)
    wb.assistant.endpoints.invoke("main", hello(), actor=ann)
    server.use(constant(Answer(content="for bob")))
    wb.assistant.endpoints.invoke("main", hello(), actor=bob)
    ann_log = wb.assistant.endpoints.inference_log(actor=ann)
    assert {e.user for e in ann_log.items} == {"ann"}
    assert [e.response for e in ann_log.items] == ["for ann"]
    with pytest.raises(Forbidden):
        wb.assistant.endpoints.inference_log(actor=ann, user="bob")
    with pytest.raises(Forbidden):
        wb.assistant.endpoints.inference_log(actor=ann, everyone=True)
    everyone = wb.assistant.endpoints.inference_log(actor=LOCAL, everyone=True, limit=1000)
    assert {"ann", "bob", "local"} <= {e.user for e in everyone.items}
    only_bob = wb.assistant.endpoints.inference_log(actor=LOCAL, user="bob")
    assert [e.response for e in only_bob.items] == ["for bob"]


def test_only_admins_manage_endpoints_and_viewers_cannot_invoke(wb: Workbench) -> None:
    ann = ensure_user(wb, "ann", Role.analyst)
    viewer = ensure_user(wb, "vic", Role.viewer)
    values = EndpointInput(name="x", base_url="http://127.0.0.1:9/v1", model="m")
    with pytest.raises(Forbidden):
        wb.assistant.endpoints.create(values, actor=ann)
    with pytest.raises(Forbidden):
        wb.assistant.endpoints.update("main", EndpointChanges(model="m2"), actor=ann)
    with pytest.raises(Forbidden):
        wb.assistant.endpoints.delete("main", actor=ann)
    with pytest.raises(Forbidden):
        wb.assistant.endpoints.invoke("main", hello(), actor=viewer)
    assert [e.name for e in wb.assistant.endpoints.listing(actor=viewer).items] == [
        "main",
        "vectors",
    ]


def test_endpoint_lifecycle(wb: Workbench, server: LLMServer) -> None:
    made = wb.assistant.endpoints.create(
        EndpointInput(
            name="spare", base_url=server.url + "/", model="m", api_key=SecretStr("k-1234")
        )
    )
    assert made.base_url == server.url
    with pytest.raises(ModelEndpointExists):
        wb.assistant.endpoints.create(EndpointInput(name="SPARE", base_url=server.url, model="m"))
    changed = wb.assistant.endpoints.update(
        "spare",
        EndpointChanges(api_key=SecretStr(""), model="m2", default=True, rate_limit="1/minute"),
    )
    assert not changed.has_api_key
    assert changed.default
    assert not wb.assistant.endpoints.get("main").default
    server.use(constant(Answer(content="once")))
    wb.assistant.endpoints.invoke("spare", hello(), actor=LOCAL)
    with pytest.raises(ModelRateLimited):
        wb.assistant.endpoints.invoke("spare", hello(), actor=LOCAL)
    wb.assistant.endpoints.update("main", EndpointChanges(default=True))
    wb.assistant.endpoints.delete("spare")
    with pytest.raises(ModelEndpointNotFound):
        wb.assistant.endpoints.get("spare")
    actions = [e.action for e in wb.admin.audit_log(LOCAL, limit=20).items]
    assert {"model_endpoint.create", "model_endpoint.update", "model_endpoint.delete"} <= set(
        actions
    )


@pytest.mark.parametrize(
    "url",
    ["ftp://127.0.0.1/v1", "http://user:pw@127.0.0.1/v1", "http://127.0.0.1/v1?x=1", "nonsense"],
)
def test_bad_urls_are_refused(wb: Workbench, url: str) -> None:
    with pytest.raises(ModelEndpointInvalid):
        wb.assistant.endpoints.create(EndpointInput(name="bad", base_url=url, model="m"))


def test_a_kind_mismatch_is_refused(wb: Workbench) -> None:
    with pytest.raises(ModelEndpointInvalid):
        wb.assistant.ask("chinook", AskInput(question="x", endpoint="vectors"), actor=LOCAL)


@pytest.mark.parametrize(
    "url", ["http://169.254.169.254/v1", "http://[::1]:8/v1", "http://0.0.0.0:1/v1"]
)
def test_forbidden_targets(wb: Workbench, url: str) -> None:
    if "::1" in url:  # loopback is allowed in this Workbench; see the next test
        return
    with pytest.raises(ModelTargetForbidden):
        wb.assistant.endpoints.create(EndpointInput(name="meta", base_url=url, model="m"))


def test_loopback_needs_the_setting(tmp_path: Path, server: LLMServer) -> None:
    wb = Workbench(load_settings(data_dir=tmp_path / "data")).open()
    try:
        with pytest.raises(ModelTargetForbidden) as caught:
            wb.assistant.endpoints.create(
                EndpointInput(name="local", base_url=server.url, model="m")
            )
        assert "assistant_allow_loopback" in caught.value.message
    finally:
        wb.close()


def test_an_unreachable_server(wb: Workbench, server: LLMServer) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    wb.assistant.endpoints.create(
        EndpointInput(name="gone", base_url=f"http://127.0.0.1:{port}/v1", model="m", timeout_s=2)
    )
    try:
        with pytest.raises(ModelUnreachable):
            wb.assistant.endpoints.invoke("gone", hello(), actor=LOCAL)
    finally:
        wb.assistant.endpoints.delete("gone")


def test_several_chat_endpoints_without_a_default(
    tmp_path: Path, demo_files: Path, server: LLMServer
) -> None:
    wb = demo_workbench(tmp_path / "data", demo_files)
    try:
        with pytest.raises(LLMNotConfigured):
            wb.assistant.ask("chinook", AskInput(question="x"), actor=LOCAL)
        add_endpoint(wb, server.url, "one")
        add_endpoint(wb, server.url, "two")
        with pytest.raises(LLMNotConfigured):
            wb.assistant.ask("chinook", AskInput(question="x"), actor=LOCAL)
        server.use(oracle(gold("chinook"), "sqlite"))
        answer = wb.assistant.ask(
            "chinook", AskInput(question="How many albums are there?", endpoint="two"), actor=LOCAL
        )
        assert answer.endpoint == "two"
    finally:
        wb.close()


def test_key_rotation_reseals_endpoint_keys(tmp_path: Path, server: LLMServer) -> None:
    wb = Workbench(load_settings(data_dir=tmp_path / "data", assistant_allow_loopback=True)).open()
    try:
        add_endpoint(wb, server.url, "main", api_key=KEY)
        wb.admin.rotate_key()
        server.use(constant(Answer(content="ok")))
        wb.assistant.endpoints.invoke("main", hello(), actor=LOCAL)
        assert server.requests[-1][2]["Authorization"] == f"Bearer {KEY}"
    finally:
        wb.close()
    reopened = Workbench(
        load_settings(data_dir=tmp_path / "data", assistant_allow_loopback=True)
    ).open()
    try:
        reopened.assistant.endpoints.invoke("main", hello(), actor=LOCAL)
        assert server.requests[-1][2]["Authorization"] == f"Bearer {KEY}"
    finally:
        reopened.close()


def test_log_entries_are_capped(tmp_path: Path, server: LLMServer) -> None:
    wb = Workbench(
        load_settings(
            data_dir=tmp_path / "data", assistant_allow_loopback=True, assistant_log_max_chars=50
        )
    ).open()
    try:
        add_endpoint(wb, server.url, "main")
        server.use(constant(Answer(content="y" * 500)))
        wb.assistant.endpoints.invoke(
            "main", InvokeInput(messages=[Message(role="user", content="x" * 500)]), actor=LOCAL
        )
        entry = wb.assistant.endpoints.inference_log(actor=LOCAL).items[0]
        assert entry.response.startswith("y" * 50)
        assert "450 more characters not kept" in entry.response
        assert len(entry.prompt) < 120
        assert json.loads(json.dumps(entry.model_dump(mode="json")))
    finally:
        wb.close()


def test_old_log_entries_are_pruned(tmp_path: Path, server: LLMServer) -> None:
    import datetime as dt

    settings = load_settings(
        data_dir=tmp_path / "data", assistant_allow_loopback=True, assistant_log_retention_days=1
    )
    wb = Workbench(settings).open()
    try:
        add_endpoint(wb, server.url, "main")
        server.use(constant(Answer(content="fresh")))
        wb.assistant.endpoints.invoke("main", hello(), actor=LOCAL)
        wb.assistant.endpoints.invoke("main", hello(), actor=LOCAL)
        with wb.db.read() as session:
            old_id = session.scalars(select(InferenceRow.id)).first()

        def age(session) -> None:  # type: ignore[no-untyped-def]
            session.get(InferenceRow, old_id).at -= dt.timedelta(days=3)

        wb.db.write(age)
        assert wb.assistant.pruner.prune() == 1
        left = wb.assistant.endpoints.inference_log(actor=LOCAL).items
        assert len(left) == 1
        assert left[0].id != old_id
        assert wb.admin.audit_log(LOCAL, action="assistant.log.prune").total == 1
    finally:
        wb.close()
