"""Groups A and E of SECURITY_TESTS.md against the s3 driver on a real local S3 server,
guarded and bypassed: the bucket is listed (keys and ETags) before and after every attempt,
so a write anywhere in it — the connection's prefix or another — would show."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest

from querydeck.runs.models import RunStatus
from tests.s3server import SECRET_KEY, S3Server
from tests.security.file_attacks import FILES, NOT_READ, PARSE, attacks
from tests.security.harness import (
    Attack,
    Bench,
    Listener,
    assert_nothing_outside,
    attempt,
    bench,
    check_bypassed,
    check_guarded,
)

ATTACKS = attacks("victim", common=False)


@pytest.fixture(scope="module")
def s3_bench(
    s3_server: S3Server, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Bench, str]]:
    bucket = s3_server.new_bucket()
    s3_server.put(bucket, "victim/victim.csv", b"id,name\n1,alpha\n2,beta\n3,gamma\n")
    s3_server.put(bucket, "other/secret.csv", b"secret\nqd-canary-7f3a\n")
    s3_server.put(bucket, "other/lake/_delta_log/00000000000000000000.json", b"{}\n")
    root = tmp_path_factory.mktemp("s3-attacks")
    options = s3_server.options(bucket, "victim", memory_limit="256MB")
    with bench(root, "s3", options, outbound_allow=["127.0.0.1/32"]) as b:
        yield b, bucket


def placed(b: Bench, bucket: str, attack: Attack) -> Attack:
    sql = attack.sql.format(
        outside=b.outside,
        elsewhere=f"s3://{bucket}/other/secret.csv",
        elsewhere_dir=f"s3://{bucket}/other/lake",
        dotdot=f"s3://{bucket}/victim/../other/secret.csv",
        own=f"s3://{bucket}/victim/victim.csv",
        new=f"s3://{bucket}/victim/new.parquet",
    )
    return dataclasses.replace(attack, sql=sql)


def check_message(info: Any) -> None:
    message = info.error_message or ""
    assert "qd-canary" not in message
    assert SECRET_KEY not in message


@pytest.mark.parametrize("attack", ATTACKS, ids=lambda a: a.id)
def test_guarded(s3_server: S3Server, s3_bench: tuple[Bench, str], attack: Attack) -> None:
    b, bucket = s3_bench
    before = s3_server.listing(bucket)
    check_message(check_guarded(b, placed(b, bucket, attack)))
    assert s3_server.listing(bucket) == before
    assert_nothing_outside(b)


@pytest.mark.parametrize("attack", [a for a in ATTACKS if a.engine is not None], ids=lambda a: a.id)
def test_bypassed(s3_server: S3Server, s3_bench: tuple[Bench, str], attack: Attack) -> None:
    b, bucket = s3_bench
    before = s3_server.listing(bucket)
    check_message(check_bypassed(b, placed(b, bucket, attack)))
    assert s3_server.listing(bucket) == before
    assert_nothing_outside(b)


def test_the_rows_are_untouched_and_the_keys_never_shown(s3_bench: tuple[Bench, str]) -> None:
    b, _ = s3_bench
    info = attempt(b.raw, "victim", "SELECT count(*) AS n FROM victim")
    assert info.status is RunStatus.succeeded
    assert b.raw.runs.rows(info.id).rows == [[3]]
    shown = b.guarded.connections.get("victim")
    assert "secret_access_key" not in shown.options
    assert set(shown.secrets_set) == {"access_key_id", "secret_access_key"}


SSRF = [
    "SELECT * FROM read_parquet('http://127.0.0.1:{port}/latest/meta-data.parquet')",
    "SELECT * FROM 'http://127.0.0.1:{port}/x.csv'",
    "SELECT * FROM delta_scan('http://127.0.0.1:{port}/lake')",
    "SET s3_endpoint = '127.0.0.1:{port}'",
    "CREATE SECRET s (TYPE s3, ENDPOINT '127.0.0.1:{port}', URL_STYLE 'path', USE_SSL false)",
    "SELECT * FROM 's3://bucket/x.parquet'",
]


@pytest.mark.parametrize("raw", [False, True], ids=["guarded", "bypassed"])
def test_e6_ssrf_never_reaches_a_listener(s3_bench: tuple[Bench, str], raw: bool) -> None:
    b, _ = s3_bench
    listener = Listener()
    wb = b.raw if raw else b.guarded
    try:
        for text in SSRF:
            info = attempt(wb, "victim", text.format(port=listener.port))
            assert info.status in (RunStatus.rejected, RunStatus.failed), text
            assert info.error_code in (FILES, NOT_READ, PARSE), info.error_message
    finally:
        listener.close()
    assert listener.accepted == 0


def test_e6_an_endpoint_on_the_apps_own_port_is_refused(
    s3_server: S3Server, tmp_path_factory: pytest.TempPathFactory
) -> None:
    from querydeck.errors import ConnectionTargetForbidden
    from tests.security.harness import workbench

    root = tmp_path_factory.mktemp("s3-own-port")
    wb = workbench(root / "app", raw=False, host="127.0.0.1", port=s3_server.port)
    try:
        with pytest.raises(ConnectionTargetForbidden, match="own listener"):
            wb.connections.create("self", driver="s3", options=s3_server.options("qd-bucket"))
        with pytest.raises(ConnectionTargetForbidden, match=r"metadata|link-local"):
            wb.connections.create(
                "meta",
                driver="s3",
                options={**s3_server.options("qd-bucket"), "endpoint": "169.254.169.254:80"},
            )
    finally:
        wb.close()
