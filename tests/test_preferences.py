"""Per-user preferences: the core on SQLite and PostgreSQL app databases, the Workbench
methods and the /api/v1/me/preferences routes (real threads for the concurrent writers)."""

from __future__ import annotations

import random
import threading
import unicodedata
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from querydeck.api import create_app
from querydeck.app.workbench import Workbench
from querydeck.auth.preferences import MAX_VALUE_BYTES, Preferences
from querydeck.auth.principal import Principal, Role
from querydeck.errors import (
    PayloadTooLarge,
    PreferenceKeyInvalid,
    PreferenceNotFound,
    PreferenceValueInvalid,
)
from querydeck.store.database import AppDatabase
from tests.apiauth import bearer_token
from tests.services import POSTGRES_URL, unavailable, unique_name, with_database

WRITERS = 7
ALICE = Principal(username="alice", role=Role.analyst, via="token")
BOB = Principal(username="bob", role=Role.viewer, via="session")


# --- fixtures ------------------------------------------------------------------------------


@contextmanager
def _postgres_with_natural_language_collation() -> Iterator[str]:
    """A fresh PostgreSQL database whose default collation is ICU en-US (as on many
    servers), where "a" < "B" < "é" < "Z": listings must still be in code point order.
    Servers without ICU get their default collation."""
    import psycopg

    name = unique_name("qd_test")
    try:
        admin = psycopg.connect(POSTGRES_URL, autocommit=True, connect_timeout=5)
    except psycopg.Error as exc:
        unavailable("PostgreSQL", exc)
        raise
    try:
        try:
            admin.execute(
                f'CREATE DATABASE "{name}" TEMPLATE template0 LOCALE_PROVIDER icu '
                "ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'"
            )
        except psycopg.Error:
            admin.execute(f'CREATE DATABASE "{name}"')
        yield with_database(POSTGRES_URL, name)
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Preferences]:
    """One app database per backend for the module; each test uses its own user names."""
    if request.param == "sqlite":
        database = AppDatabase(f"sqlite:///{tmp_path_factory.mktemp('prefs') / 'app.db'}")
        database.migrate()
        yield Preferences(database)
        database.dispose()
        return
    with _postgres_with_natural_language_collation() as url:
        database = AppDatabase(url)
        database.migrate()
        yield Preferences(database)
        database.dispose()


@pytest.fixture
def user() -> str:
    return f"user-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def client(workbench: Workbench) -> Iterator[TestClient]:
    with TestClient(create_app(workbench)) as test_client:
        yield test_client


def act_as(client: TestClient, principal: Principal | None) -> TestClient:
    """The one place the tests authenticate: the request acts as ``principal`` with a new
    API token of that user (created when missing); None: no one."""
    client.headers.pop("Authorization", None)
    if principal is not None:
        workbench: Workbench = client.app.state.workbench  # type: ignore[attr-defined]
        token = bearer_token(workbench, username=principal.username, role=principal.role)
        client.headers["Authorization"] = f"Bearer {token}"
    return client


def url(key: str) -> str:
    return "/api/v1/me/preferences/" + quote(key, safe="/")


def run_threads(target: Callable[[int], None], count: int = WRITERS) -> None:
    """Run ``target(i)`` in ``count`` threads started together; re-raise the first error."""
    errors: list[BaseException] = []
    barrier = threading.Barrier(count)

    def body(index: int) -> None:
        try:
            barrier.wait()
            target(index)
        except BaseException as exc:  # collected and re-raised below
            errors.append(exc)

    threads = [threading.Thread(target=body, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    if errors:
        raise errors[0]


# --- the core, on SQLite and PostgreSQL -----------------------------------------------------


def test_put_creates_then_replaces_with_utc_timestamps(store: Preferences, user: str) -> None:
    first, created = store.put(user, "theme", {"mode": "dark"})
    assert created is True
    assert first.key == "theme"
    assert first.value == {"mode": "dark"}
    assert first.created_at == first.updated_at
    assert first.updated_at.utcoffset() == timedelta(0)

    second, created = store.put(user, "theme", ["light", 2])
    assert created is False
    assert second.value == ["light", 2]
    assert second.created_at == first.created_at
    assert second.updated_at >= first.updated_at

    read = store.get(user, "theme")
    assert read.value == ["light", 2]
    assert read.created_at == first.created_at
    assert read.updated_at == second.updated_at
    assert read.updated_at.tzinfo is not None
    assert read.updated_at.astimezone(UTC) == read.updated_at


@pytest.mark.parametrize(
    "value",
    [
        {"nested": {"list": [1, 2.5, -3, True, None, "x"]}, "empty": {}},
        [],
        "Grüße, 名前, 😀, a\x00b, \u200b",
        0,
        -(2**63),
        2**63 - 1,
        1.5e-300,
        True,
        False,
        None,
        "",
    ],
    ids=lambda v: type(v).__name__,
)
def test_any_json_value_round_trips(store: Preferences, user: str, value: Any) -> None:
    stored, _ = store.put(user, "k", value)
    assert stored.value == value
    read = store.get(user, "k")
    assert read.value == value
    assert type(read.value) is type(value)


def test_value_size_is_compact_utf8_json_up_to_64_kb(store: Preferences, user: str) -> None:
    # 32,767 two-byte characters and two quotes: exactly 65,536 bytes.
    exact = "é" * ((MAX_VALUE_BYTES - 2) // 2)
    store.put(user, "fits", exact)
    assert store.get(user, "fits").value == exact
    with pytest.raises(PayloadTooLarge) as caught:
        store.put(user, "big", exact + "é")  # 32,768 characters, 65,538 bytes
    assert caught.value.http_status == 413
    assert caught.value.detail == {"limit": MAX_VALUE_BYTES, "size": MAX_VALUE_BYTES + 2}
    with pytest.raises(PreferenceNotFound):
        store.get(user, "big")
    # An update that grows past the limit keeps the old value.
    with pytest.raises(PayloadTooLarge):
        store.put(user, "fits", {"a": exact})
    assert store.get(user, "fits").value == exact


@pytest.mark.parametrize(
    "value",
    [
        float("nan"),
        [1, float("inf")],
        {"x": float("-inf")},
        2**63,
        [-(2**63) - 1],
        2**64 - 1,
        {1: "int key"},
        {"set": {1, 2}},
        "\ud800",
        b"bytes",
        (1, 2),
        {"when": datetime(2026, 1, 1, tzinfo=UTC)},
        "nest",
    ],
)
def test_values_that_are_not_plain_json_are_refused(
    store: Preferences, user: str, value: Any
) -> None:
    if value == "nest":
        value = []
        for _ in range(300):
            value = [value]
    with pytest.raises(PreferenceValueInvalid) as caught:
        store.put(user, "k", value)
    assert caught.value.http_status == 422
    assert store.list(user).total == 0


VALID_KEYS = [
    "a",
    "7",
    "theme",
    "editor.font-size",
    "ui/panels/left_width",
    "ns:key_1",
    "名前",
    "Grüße",
    "हिन्दी",  # combining marks after the first letter
    "x" * 128,
    "a/7/ß",
]
INVALID_KEYS = [
    "",
    " a",
    "a b",
    "a\tb",
    "a\nb",
    "a\x00b",
    "a\x7f",
    "a\ud800",
    "a\u200bb",  # zero width space
    "a\u00a0b",  # no-break space
    "/a",
    "a/",
    "a//b",
    "a/./b",
    "a/../b",
    ".hidden",
    "-x",
    "_x",
    "\u0301a",  # a combining mark cannot start a key
    "a?b",
    "a%b",
    "a\\b",
    "😀",
    "x" * 129,
    "x" * 10_000,
]


@pytest.mark.parametrize("key", VALID_KEYS)
def test_valid_keys(store: Preferences, user: str, key: str) -> None:
    created, _ = store.put(user, key, 1)
    assert created.key == key
    assert store.get(user, key).value == 1
    assert [p.key for p in store.list(user).items] == [key]


@pytest.mark.parametrize("key", INVALID_KEYS, ids=lambda k: repr(k[:20]))
def test_invalid_keys_are_refused_everywhere(store: Preferences, user: str, key: str) -> None:
    for attempt in (
        lambda: store.put(user, key, 1),
        lambda: store.get(user, key),
        lambda: store.delete(user, key),
    ):
        with pytest.raises(PreferenceKeyInvalid) as caught:
            attempt()
        assert caught.value.http_status == 422
        assert caught.value.code == "PREFERENCE_KEY_INVALID"
    assert store.list(user).total == 0


def test_keys_are_nfc_normalised(store: Preferences, user: str) -> None:
    decomposed = "cafe\u0301"
    composed = unicodedata.normalize("NFC", decomposed)
    assert composed != decomposed
    made, created = store.put(user, decomposed, "one")
    assert created
    assert made.key == composed
    again, created = store.put(user, composed, "two")
    assert not created
    assert again.key == composed
    assert store.get(user, decomposed).value == "two"
    assert [p.key for p in store.list(user).items] == [composed]
    store.delete(user, decomposed)
    assert store.list(user).total == 0


def test_delete_then_missing_key_is_not_found(store: Preferences, user: str) -> None:
    store.put(user, "gone", 1)
    store.put(user, "kept", 2)
    store.delete(user, "gone")
    with pytest.raises(PreferenceNotFound) as caught:
        store.get(user, "gone")
    assert caught.value.http_status == 404
    assert caught.value.code == "PREFERENCE_NOT_FOUND"
    with pytest.raises(PreferenceNotFound):
        store.delete(user, "gone")
    with pytest.raises(PreferenceNotFound):
        store.delete(user, "never")
    assert [p.key for p in store.list(user).items] == ["kept"]
    _, created = store.put(user, "gone", 3)  # a deleted key can be made again
    assert created


def test_200_keys_page_by_50_without_gaps_or_repeats(store: Preferences, user: str) -> None:
    # Mixed case and Unicode: the order is code point order on every backend.
    keys = [f"k{i:03d}" for i in range(188)]
    keys += ["B", "a", "Z", "é", "名", "ß", "Ω", "0", "z/1", "z.1", "z:1", "z-1"]
    assert len(set(keys)) == 200
    shuffled = keys[:]
    random.Random(7).shuffle(shuffled)
    for key in shuffled:
        store.put(user, key, {"key": key})
    seen: list[str] = []
    for offset in range(0, 250, 50):
        page = store.list(user, limit=50, offset=offset)
        assert page.total == 200
        assert (page.limit, page.offset) == (50, offset)
        assert len(page.items) == max(0, min(50, 200 - offset))
        assert all(p.value == {"key": p.key} for p in page.items)
        seen.extend(p.key for p in page.items)
    assert seen == sorted(keys)  # Python sorts str by code point


def test_another_users_preferences_are_never_visible(store: Preferences, user: str) -> None:
    other = user + "-other"
    store.put(user, "secret/theme", "mine")
    assert store.list(other).total == 0
    assert store.list(other).items == []
    with pytest.raises(PreferenceNotFound):
        store.get(other, "secret/theme")
    with pytest.raises(PreferenceNotFound):
        store.delete(other, "secret/theme")
    _theirs, created = store.put(other, "secret/theme", "theirs")
    assert created  # their own key, not an update of mine
    assert store.get(user, "secret/theme").value == "mine"
    assert store.get(other, "secret/theme").value == "theirs"
    assert [p.value for p in store.list(user).items] == ["mine"]


def test_concurrent_writers_of_different_keys_lose_nothing(store: Preferences, user: str) -> None:
    per_writer = 15

    def writer(index: int) -> None:
        for n in range(per_writer):
            _, created = store.put(user, f"w{index}/k{n:02d}", {"writer": index, "n": n})
            assert created

    run_threads(writer)
    page = store.list(user, limit=1000)
    assert page.total == WRITERS * per_writer
    assert {p.key: p.value for p in page.items} == {
        f"w{i}/k{n:02d}": {"writer": i, "n": n} for i in range(WRITERS) for n in range(per_writer)
    }


def test_concurrent_writers_of_one_key_leave_one_value_intact(
    store: Preferences, user: str
) -> None:
    rounds = 8
    written: list[Any] = []
    created: list[bool] = []
    lock = threading.Lock()

    def writer(index: int) -> None:
        for n in range(rounds):
            value = {"writer": index, "n": n, "pad": [index] * 200, "text": f"{index}-{n}" * 50}
            _, made = store.put(user, "shared", value)
            with lock:
                written.append(value)
                created.append(made)

    run_threads(writer)
    assert len(written) == WRITERS * rounds
    assert created.count(True) == 1  # exactly one writer created it; the rest replaced it
    final = store.get(user, "shared").value
    assert final in written
    assert store.list(user).total == 1


# --- the Workbench ---------------------------------------------------------------------------


def test_workbench_methods_use_the_principals_user_name(workbench: Workbench) -> None:
    made, created = workbench.preferences.put(ALICE, "editor/tab-size", 4)
    assert created
    assert made.value == 4
    assert workbench.preferences.get(ALICE, "editor/tab-size").value == 4
    assert workbench.preferences.listing(BOB).total == 0
    with pytest.raises(PreferenceNotFound):
        workbench.preferences.get(BOB, "editor/tab-size")
    page = workbench.preferences.listing(ALICE, limit=1, offset=0)
    assert (page.total, [p.key for p in page.items]) == (1, ["editor/tab-size"])
    # The same user name through another way in is the same owner.
    same = Principal(username="alice", role=Role.analyst, via="session")
    assert workbench.preferences.get(same, "editor/tab-size").value == 4
    workbench.preferences.delete(ALICE, "editor/tab-size")
    assert workbench.preferences.listing(ALICE).total == 0


# --- HTTP -----------------------------------------------------------------------------------


def error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code, body
    assert "Traceback" not in response.text
    return dict(body["error"])


def test_http_routes_need_an_authenticated_user(client: TestClient, workbench: Workbench) -> None:
    workbench.preferences.put(ALICE, "theme", "dark")
    act_as(client, None)
    for response in (
        client.get("/api/v1/me/preferences"),
        client.get(url("theme")),
        client.put(url("theme"), json={"value": "light"}),
        client.delete(url("theme")),
    ):
        error(response, 401, "UNAUTHENTICATED")
    assert workbench.preferences.get(ALICE, "theme").value == "dark"


def test_http_put_get_list_delete(client: TestClient) -> None:
    act_as(client, ALICE)
    made = client.put(url("theme"), json={"value": {"mode": "dark"}})
    assert made.status_code == 201, made.text
    body = made.json()
    assert set(body) == {"key", "value", "updated_at", "created_at"}
    assert body["key"] == "theme"
    assert body["value"] == {"mode": "dark"}
    assert body["updated_at"].endswith("Z")
    assert body["created_at"].endswith("Z")

    replaced = client.put(url("theme"), json={"value": None})
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["value"] is None
    assert replaced.json()["created_at"] == body["created_at"]

    read = client.get(url("theme"))
    assert read.status_code == 200
    assert read.json() == replaced.json()

    listing = client.get("/api/v1/me/preferences")
    assert listing.status_code == 200
    assert listing.json() == {"items": [read.json()], "total": 1, "limit": 100, "offset": 0}

    gone = client.delete(url("theme"))
    assert gone.status_code == 204
    assert gone.content == b""
    error(client.get(url("theme")), 404, "PREFERENCE_NOT_FOUND")
    missing = error(client.delete(url("theme")), 404, "PREFERENCE_NOT_FOUND")
    assert missing["detail"] == {"key": "theme"}


def test_http_keys_with_slashes_and_percent_encoded_unicode(client: TestClient) -> None:
    act_as(client, ALICE)
    key = "ui/名前/Grüße"
    encoded = "/api/v1/me/preferences/ui/%E5%90%8D%E5%89%8D/Gr%C3%BC%C3%9Fe"
    assert client.put(encoded, json={"value": 1}).status_code == 201
    assert client.get(url(key)).json()["key"] == key
    # A decomposed (NFD) spelling of the same key is the same preference.
    nfd = unicodedata.normalize("NFD", key)
    assert nfd != key
    again = client.put(url(nfd), json={"value": 2})
    assert again.status_code == 200
    assert again.json()["key"] == key
    # An encoded "/" is just a "/".
    assert (
        client.get("/api/v1/me/preferences/ui%2F%E5%90%8D%E5%89%8D%2FGr%C3%BC%C3%9Fe").json()[
            "value"
        ]
        == 2
    )
    assert [p["key"] for p in client.get("/api/v1/me/preferences").json()["items"]] == [key]


@pytest.mark.parametrize(
    "path",
    ["a%20b", "a%00b", "a/", "a//b", "a/%2E%2E/b", "%F0%9F%98%80", "x" * 129, ""],
)
def test_http_invalid_keys_answer_422(client: TestClient, path: str) -> None:
    act_as(client, ALICE)
    base = "/api/v1/me/preferences/"
    error(client.put(base + path, json={"value": 1}), 422, "PREFERENCE_KEY_INVALID")
    error(client.get(base + path), 422, "PREFERENCE_KEY_INVALID")
    error(client.delete(base + path), 422, "PREFERENCE_KEY_INVALID")
    assert client.get("/api/v1/me/preferences").json()["total"] == 0


def test_http_bodies(client: TestClient) -> None:
    act_as(client, ALICE)
    exact = "x" * (MAX_VALUE_BYTES - 2)
    assert client.put(url("fits"), json={"value": exact}).status_code == 201
    # ASCII-escaped JSON (3x the UTF-8 size) of a value within the limit is accepted.
    escaped = '{"value": "' + "\\ud83d\\ude00" * (MAX_VALUE_BYTES // 4 - 1) + '"}'
    ok = client.put(
        url("escaped"), content=escaped.encode(), headers={"content-type": "application/json"}
    )
    assert ok.status_code == 201, ok.text
    assert ok.json()["value"] == "😀" * (MAX_VALUE_BYTES // 4 - 1)

    too_big = error(client.put(url("big"), json={"value": exact + "x"}), 413, "PAYLOAD_TOO_LARGE")
    assert too_big["detail"] == {"limit": MAX_VALUE_BYTES, "size": MAX_VALUE_BYTES + 1}
    huge = error(
        client.put(url("huge"), json={"value": "x" * (5 * MAX_VALUE_BYTES)}),
        413,
        "PAYLOAD_TOO_LARGE",
    )
    assert huge["detail"]["limit"] > MAX_VALUE_BYTES

    chunked = client.put(
        url("chunked"),
        content=iter([b'{"value": "' + b"x" * MAX_VALUE_BYTES] * 5),
        headers={"content-type": "application/json"},
    )
    assert "content-length" not in chunked.request.headers
    assert error(chunked, 413, "PAYLOAD_TOO_LARGE")["detail"]["size_at_least"] > 4 * MAX_VALUE_BYTES

    def raw(body: bytes, media: str = "application/json") -> Any:
        return client.put(url("raw"), content=body, headers={"content-type": media})

    error(raw(b"{not json"), 422, "INVALID_INPUT")
    error(raw(b'{"value": NaN}'), 422, "INVALID_INPUT")
    error(raw(b'"just a value"'), 422, "INVALID_INPUT")
    error(raw(b"{}"), 422, "INVALID_INPUT")
    error(raw(b'{"value": 1, "extra": 2}'), 422, "INVALID_INPUT")
    # Nesting past QUERYDECK_MAX_JSON_DEPTH (64) is refused by the HTTP layer before any
    # parsing; the 255-level rule of preference values holds below it (CLI, core).
    error(raw(b"[" * 300 + b"]" * 300), 400, "JSON_TOO_DEEP")
    error(raw(b'{"value": ' + b"[" * 300 + b"]" * 300 + b"}"), 400, "JSON_TOO_DEEP")
    error(raw(b'{"value": 1}', "text/plain"), 415, "UNSUPPORTED_MEDIA_TYPE")
    error(client.put(url("raw"), content=b'{"value": 1}'), 415, "UNSUPPORTED_MEDIA_TYPE")
    ok_raw = raw(b'{"value": {"a": [1, 2.5, true, null]}}', "application/json; charset=utf-8")
    assert ok_raw.status_code == 201
    assert ok_raw.json()["value"] == {"a": [1, 2.5, True, None]}
    keys = [p["key"] for p in client.get("/api/v1/me/preferences").json()["items"]]
    assert keys == ["escaped", "fits", "raw"]


def test_http_200_keys_page_by_50(client: TestClient, workbench: Workbench) -> None:
    keys = [f"p{i:03d}" for i in range(200)]
    for key in reversed(keys):
        workbench.preferences.put(ALICE, key, key)
    act_as(client, ALICE)
    seen: list[str] = []
    for offset in (0, 50, 100, 150, 200):
        page = client.get(f"/api/v1/me/preferences?limit=50&offset={offset}").json()
        assert (page["total"], page["limit"], page["offset"]) == (200, 50, offset)
        seen.extend(p["key"] for p in page["items"])
    assert seen == keys


def test_http_user_b_never_sees_user_a(client: TestClient) -> None:
    act_as(client, ALICE)
    assert client.put(url("private/note"), json={"value": "alice's"}).status_code == 201
    act_as(client, BOB)
    assert client.get("/api/v1/me/preferences").json()["items"] == []
    error(client.get(url("private/note")), 404, "PREFERENCE_NOT_FOUND")
    error(client.delete(url("private/note")), 404, "PREFERENCE_NOT_FOUND")
    assert client.put(url("private/note"), json={"value": "bob's"}).status_code == 201
    act_as(client, ALICE)
    assert client.get(url("private/note")).json()["value"] == "alice's"
    assert client.get("/api/v1/me/preferences").json()["total"] == 1


def test_http_concurrent_writers(client: TestClient, workbench: Workbench) -> None:
    act_as(client, ALICE)
    per_writer = 6
    statuses: list[int] = []
    written: list[Any] = []
    lock = threading.Lock()

    def writer(index: int) -> None:
        for n in range(per_writer):
            own = client.put(url(f"w{index}/{n}"), json={"value": [index, n]})
            value = {"writer": index, "n": n}
            shared = client.put(url("shared"), json={"value": value})
            assert own.status_code == 201, own.text
            with lock:
                statuses.append(shared.status_code)
                written.append(value)

    run_threads(writer)
    page = workbench.preferences.listing(ALICE, limit=1000)
    assert page.total == WRITERS * per_writer + 1
    values = {p.key: p.value for p in page.items}
    for index in range(WRITERS):
        for n in range(per_writer):
            assert values[f"w{index}/{n}"] == [index, n]
    assert sorted(statuses) == [200] * (WRITERS * per_writer - 1) + [201]
    assert values["shared"] in written


def test_openapi_documents_the_routes(client: TestClient) -> None:
    paths = client.get("/api/v1/openapi.json").json()["paths"]
    assert set(paths["/api/v1/me/preferences/{key}"]) == {"get", "put", "delete"}
    put = paths["/api/v1/me/preferences/{key}"]["put"]
    schema = put["requestBody"]["content"]["application/json"]["schema"]
    assert schema["required"] == ["value"]
    assert {"200", "201"} <= set(put["responses"])
