"""Where connections may point (SECURITY_TESTS.md D6, E2, G1, G2, G4, G5): file roots, the
outbound-address policy and pinning. Each refusal is checked against the state afterwards:
no connection row, no file created, zero connections counted by a loopback listener."""

from __future__ import annotations

import ipaddress
import os
import shutil
import socket
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
from psycopg.conninfo import conninfo_to_dict

from querydeck.app.workbench import Workbench
from querydeck.drivers.postgres.driver import PostgresDriver, PostgresOptions
from querydeck.errors import ConfigError, FileAccessDenied, QueryDeckError
from querydeck.sandbox.addresses import (
    AddressPolicy,
    embedded_v4,
    embedded_v4s,
    parse_networks,
    policy_for,
)
from querydeck.settings import load_settings


class CountingListener:
    """A TCP listener on 127.0.0.1 and a free port that counts accepted connections."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = int(self.sock.getsockname()[1])
        self.accepted = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.accepted += 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()


@pytest.fixture
def listener() -> Iterator[CountingListener]:
    counting = CountingListener()
    yield counting
    counting.close()


def make_sqlite(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS t (a INTEGER)")
    return path


def refused(wb: Workbench, code: str, **kwargs: Any) -> QueryDeckError:
    before = wb.connections.listing().total
    with pytest.raises(QueryDeckError) as info:
        wb.connections.create("target", **kwargs)
    assert info.value.code == code, info.value
    assert info.value.http_status == 422
    assert wb.connections.listing().total == before
    return info.value


def pg_options(host: str, port: int = 5432) -> dict[str, Any]:
    return {"host": host, "port": port, "database": "d", "user": "u", "password": "pw"}


# --- D6 and E2: file roots ----------------------------------------------------------------


def test_files_outside_the_roots_are_refused(
    workbench: Workbench, files_dir: Path, tmp_path: Path
) -> None:
    outside = make_sqlite(tmp_path / "outside" / "x.db")
    (files_dir / "escape").symlink_to(outside)
    (files_dir / "dir-link").symlink_to(outside.parent, target_is_directory=True)
    data = workbench.settings.data_dir
    cases = [
        str(files_dir / ".." / "outside" / "x.db"),
        str(files_dir / "sub" / ".." / ".." / "outside" / "x.db"),
        "/etc/passwd",
        str(files_dir / "escape"),
        str(files_dir / "dir-link" / "x.db"),
        f"file:{files_dir / 'x.db'}?mode=rwc",
        str(files_dir / "x.db?mode=rwc"),
        str(data / "querydeck.db"),
        str(data / "querydeck.db-wal"),
        str(data / "secret.key"),
        str(data / "results" / "any.arrow"),
    ]
    listing = sorted(p.name for p in files_dir.iterdir())
    for path in cases:
        for driver in ("sqlite", "duckdb"):
            error = refused(
                workbench, "CONNECTION_TARGET_FORBIDDEN", driver=driver, options={"path": path}
            )
            assert str(tmp_path) not in error.message
    assert sorted(p.name for p in files_dir.iterdir()) == listing  # no file created
    assert not (files_dir / "x.db").exists()


def test_relative_escape_from_the_working_directory(
    workbench: Workbench, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_sqlite(tmp_path / "x.db")
    refused(workbench, "CONNECTION_TARGET_FORBIDDEN", url="sqlite:///../x.db")
    refused(workbench, "CONNECTION_TARGET_FORBIDDEN", url="duckdb:///../../x.duckdb")


def test_roots_are_checked_on_update_and_on_connect(
    workbench: Workbench, files_dir: Path, tmp_path: Path
) -> None:
    inside = make_sqlite(files_dir / "in.db")
    outside = make_sqlite(tmp_path / "outside" / "out.db")
    workbench.connections.create("f", driver="sqlite", options={"path": str(inside)})
    with pytest.raises(QueryDeckError) as info:
        workbench.connections.update("f", {"path": str(outside)})
    assert info.value.code == "CONNECTION_TARGET_FORBIDDEN"
    assert workbench.connections.get("f").options["path"] == str(inside)
    # The file is swapped for a symlink pointing out after it was saved.
    inside.unlink()
    inside.symlink_to(outside)
    with pytest.raises(QueryDeckError) as info:
        workbench.connections.test("f")
    assert info.value.code == "CONNECTION_TARGET_FORBIDDEN"
    assert workbench.connections.get("f").status.error_code == "CONNECTION_TARGET_FORBIDDEN"
    from querydeck.runs.models import RunRequest

    with pytest.raises(QueryDeckError) as info:
        workbench.runs.run(RunRequest(connection="f", sql="SELECT 1"))
    assert info.value.code == "CONNECTION_TARGET_FORBIDDEN"


def test_duckdb_reads_only_inside_its_own_root(tmp_path: Path, data_dir: Path) -> None:
    """E2 with the guard bypassed: DuckDB's allowed_directories is the connection's root."""
    root_a, root_b = tmp_path / "a", tmp_path / "b"
    root_a.mkdir()
    root_b.mkdir()
    (root_a / "ok.csv").write_text("x\n1\n")
    (root_b / "other.csv").write_text("x\n2\n")
    database = root_a / "db.duckdb"
    duckdb.connect(str(database)).close()
    settings = load_settings(data_dir=data_dir, file_roots=[root_a, root_b])
    with Workbench(settings) as wb:
        wb.connections.create("a", driver="duckdb", options={"path": str(database)})
        _, driver = wb.connection_store.driver_for("a")
        with driver.connect(timeout_s=5) as conn:
            rows = [
                b.to_pylist() for b in conn.execute(f"SELECT * FROM '{root_a}/ok.csv'", timeout_s=5)
            ]
            assert rows == [[{"x": 1}]]
            for path in (root_b / "other.csv", root_a / ".." / "b" / "other.csv", "/etc/passwd"):
                with pytest.raises(FileAccessDenied):
                    list(conn.execute(f"SELECT * FROM read_text('{path}')", timeout_s=5))
            with pytest.raises(QueryDeckError):
                list(conn.execute("SET allowed_directories = ['/']", timeout_s=5))


def test_a_root_holding_the_data_directory_is_refused(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path / "data", file_roots=[tmp_path])
    with pytest.raises(ConfigError, match="contains querydeck's data directory"):
        Workbench(settings).open()


def test_file_roots_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUERYDECK_FILE_ROOTS", os.pathsep.join(["a", str(tmp_path / "b"), ""]))
    monkeypatch.setenv("QUERYDECK_OUTBOUND_DENY", "10.0.0.0/8, ::1")
    settings = load_settings(data_dir=tmp_path / "data")
    assert settings.file_roots == [Path.cwd() / "a", tmp_path / "b"]
    assert settings.outbound_deny == ["10.0.0.0/8", "::1"]
    assert load_settings(data_dir=tmp_path / "d").allowed_file_roots == settings.file_roots
    monkeypatch.delenv("QUERYDECK_FILE_ROOTS")
    default = load_settings(data_dir=tmp_path / "data")
    assert default.allowed_file_roots == [tmp_path / "data" / "files"]
    monkeypatch.setenv("QUERYDECK_OUTBOUND_ALLOW", "10.0.0.0/33")
    with pytest.raises(ConfigError, match="not an IP network"):
        load_settings(data_dir=tmp_path / "data")


def test_demo_files_live_under_the_data_directory(workbench: Workbench, demo_files: Path) -> None:
    shutil.copytree(demo_files, workbench.settings.data_dir / "demo")  # built once per process
    made = workbench.admin.create_demo()
    assert {c.name for c in made} == {"demo", "chinook"}
    for info in made:
        assert Path(info.options["path"]).is_relative_to(workbench.settings.data_dir / "demo")
        assert workbench.connections.test(info.name).ok
        assert workbench.connections.get(info.name).privileges.can_write is False


# --- G1, G2, G4: hosts and parameters -----------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"driver": "postgres", "options": pg_options("/tmp")}, "CONNECTION_TARGET_FORBIDDEN"),
        (
            {"driver": "postgres", "options": pg_options("/var/run/postgresql")},
            "CONNECTION_TARGET_FORBIDDEN",
        ),
        (
            {"driver": "mysql", "options": pg_options("/tmp/mysql.sock")},
            "CONNECTION_TARGET_FORBIDDEN",
        ),
        ({"driver": "postgres", "options": pg_options("h1,h2")}, "CONNECTION_TARGET_FORBIDDEN"),
        ({"driver": "postgres", "options": pg_options("h port=1")}, "CONNECTION_TARGET_FORBIDDEN"),
        ({"url": "postgresql://u@h/d?host=/tmp&user=postgres"}, "CONNECTION_PARAM_FORBIDDEN"),
        ({"url": "postgresql://u@h/d?options=-c%20x%3D1"}, "CONNECTION_PARAM_FORBIDDEN"),
        ({"url": "postgresql://u@h/d?sslrootcert=/etc/passwd"}, "CONNECTION_PARAM_FORBIDDEN"),
        ({"url": "postgresql://u@h/d?passfile=/etc/passwd"}, "CONNECTION_PARAM_FORBIDDEN"),
        ({"url": "postgresql://u@h/d?service=x"}, "CONNECTION_PARAM_FORBIDDEN"),
        ({"url": "mysql://u@h/d?read_default_file=/etc/passwd"}, "CONNECTION_PARAM_FORBIDDEN"),
        ({"url": "mysql://u@h/d?unix_socket=/tmp/s"}, "CONNECTION_PARAM_FORBIDDEN"),
        (
            {"driver": "postgres", "options": {**pg_options("h"), "sslrootcert": "/etc/passwd"}},
            "CONNECTION_OPTION_UNKNOWN",
        ),
        (
            {"driver": "postgres", "options": {**pg_options("h"), "passfile": "/etc/passwd"}},
            "CONNECTION_OPTION_UNKNOWN",
        ),
        (
            {"driver": "mysql", "options": {**pg_options("h"), "ssl_ca": "/etc/passwd"}},
            "CONNECTION_PARAM_FORBIDDEN",
        ),
        (
            {"driver": "mysql", "options": {**pg_options("h"), "client_flag": 65536}},
            "CONNECTION_PARAM_FORBIDDEN",
        ),
    ],
)
def test_hosts_and_parameters_that_reach_local_things(
    workbench: Workbench, kwargs: dict[str, Any], code: str
) -> None:
    refused(workbench, code, **kwargs)


# --- G5: the outbound-address policy ------------------------------------------------------


@pytest.mark.parametrize(
    "host",
    [
        "169.254.169.254",
        "169.254.170.2",
        "fd00:ec2::254",
        "[fd00:ec2::254]",
        "100.100.100.200",
        "0.0.0.0",
        "::",
        "::ffff:169.254.169.254",
        "64:ff9b::a9fe:a9fe",
        "fe80::1",
    ],
)
@pytest.mark.parametrize("driver", ["postgres", "mysql"])
def test_metadata_and_unspecified_addresses_are_always_denied(
    workbench: Workbench, host: str, driver: str
) -> None:
    error = refused(
        workbench, "CONNECTION_TARGET_FORBIDDEN", driver=driver, options=pg_options(host)
    )
    assert error.detail["option"] == "host"


@pytest.mark.parametrize("driver", ["postgres", "mysql"])
def test_own_listener_and_deny_list_count_zero_connections(
    tmp_path: Path, listener: CountingListener, driver: str
) -> None:
    own = load_settings(data_dir=tmp_path / "d1", port=listener.port)
    with Workbench(own) as wb:
        refused(
            wb,
            "CONNECTION_TARGET_FORBIDDEN",
            driver=driver,
            options=pg_options("127.0.0.1", listener.port),
        )
        refused(
            wb,
            "CONNECTION_TARGET_FORBIDDEN",
            driver=driver,
            options=pg_options("localhost", listener.port),
        )
    denied = load_settings(
        data_dir=tmp_path / "d2", outbound_deny=["127.0.0.0/8", "::1"], file_roots=[tmp_path / "f"]
    )
    with Workbench(denied) as wb:
        for host in ("127.0.0.1", "localhost", "::1", "127.1.2.3", "::ffff:127.0.0.1"):
            refused(
                wb,
                "CONNECTION_TARGET_FORBIDDEN",
                driver=driver,
                options=pg_options(host, listener.port),
            )
    allow = load_settings(data_dir=tmp_path / "d3", outbound_allow=["10.0.0.0/8"])
    with Workbench(allow) as wb:
        error = refused(
            wb,
            "CONNECTION_TARGET_FORBIDDEN",
            driver=driver,
            options=pg_options("127.0.0.1", listener.port),
        )
        assert "outbound_allow" in error.message
    assert listener.accepted == 0


def test_loopback_is_allowed_by_default(workbench: Workbench, listener: CountingListener) -> None:
    """Loopback passes the policy: the attempt reaches the listener (which is no server,
    so the connection is saved unverified)."""
    made = workbench.connections.create(
        "pg", driver="postgres", options=pg_options("127.0.0.1", listener.port)
    )
    assert made.privileges.checked is False
    assert listener.accepted >= 1


def test_the_policy_is_applied_again_on_test(tmp_path: Path, listener: CountingListener) -> None:
    data_dir = tmp_path / "data"
    with Workbench(load_settings(data_dir=data_dir)) as wb:
        wb.connections.create(
            "pg", driver="postgres", options=pg_options("127.0.0.1", listener.port)
        )
    reached = listener.accepted
    strict = load_settings(data_dir=data_dir, outbound_deny=["127.0.0.0/8"])
    with Workbench(strict) as wb:
        with pytest.raises(QueryDeckError) as info:
            wb.connections.test("pg")
        assert info.value.code == "CONNECTION_TARGET_FORBIDDEN"
        assert wb.connections.get("pg").status.error_code == "CONNECTION_TARGET_FORBIDDEN"
        from querydeck.runs.models import RunRequest, RunStatus

        run = wb.runs.run(RunRequest(connection="pg", sql="SELECT 1"))
        assert (run.status, run.error_code) == (RunStatus.failed, "CONNECTION_TARGET_FORBIDDEN")
    assert listener.accepted == reached


def test_dns_rebinding_cannot_switch_the_target(
    workbench: Workbench, listener: CountingListener, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The name resolves to loopback when saved, to the metadata address when used: the
    use is refused. And within one connect, libpq gets the address that was checked."""
    answers = iter(["127.0.0.1", "169.254.169.254", "127.0.0.1"])
    real_getaddrinfo = socket.getaddrinfo

    def rebinding(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "rebind.example":
            return real_getaddrinfo(next(answers), port, *args, **kwargs)
        return real_getaddrinfo(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    workbench.connections.create(
        "pg", driver="postgres", options=pg_options("rebind.example", listener.port)
    )
    with pytest.raises(QueryDeckError) as info:
        workbench.connections.test("pg")
    assert info.value.code == "CONNECTION_TARGET_FORBIDDEN"
    _, driver = workbench.connection_store.driver_for("pg")
    assert isinstance(driver, PostgresDriver)
    params = conninfo_to_dict(driver.conninfo(5))
    assert (params["host"], params["hostaddr"]) == ("rebind.example", "127.0.0.1")


def test_pinning_uses_the_first_checked_address() -> None:
    policy = AddressPolicy()
    assert policy.pin("127.0.0.1", 5432, "PostgreSQL") == "127.0.0.1"
    assert policy.pin("[::1]", 5432, "PostgreSQL") == "::1"
    with pytest.raises(QueryDeckError) as info:
        policy.pin("no-such-host.invalid", 5432, "PostgreSQL")
    assert info.value.code == "UPSTREAM_UNAVAILABLE"
    driver = PostgresDriver(PostgresOptions(host="localhost", database="d", user="u"))  # type: ignore[call-arg]
    assert conninfo_to_dict(driver.conninfo(5))["hostaddr"] in ("127.0.0.1", "::1")


def test_policy_units() -> None:
    assert embedded_v4(ipaddress.ip_address("::ffff:10.1.2.3")) == ipaddress.ip_address("10.1.2.3")
    assert embedded_v4(ipaddress.ip_address("64:ff9b::a01:203")) == ipaddress.ip_address("10.1.2.3")
    assert parse_networks(["10.0.0.1", " ", "fd00::/8"], "x")[0].prefixlen == 32
    policy = policy_for(["10.0.0.0/8"], ["10.9.0.0/16"], [("0.0.0.0", 9999)])
    address = ipaddress.ip_address
    assert policy.refusal(address("10.1.1.1"), 5432) is None
    assert policy.refusal(address("10.9.1.1"), 5432) == "denied by the outbound_deny setting"
    assert policy.refusal(address("127.0.0.1"), 9999) == "querydeck's own listener"
    assert policy.refusal(address("192.168.1.1"), 5432) == "not in the outbound_allow setting"
    assert policy.refusal(address("::ffff:10.1.1.1"), 5432) is None


# --- every IPv6 spelling of an IPv4 address (issue 16, item 6) ----------------------------

#: The metadata address 169.254.169.254 written in each way IPv6 can embed IPv4.
METADATA_SPELLINGS = {
    "IPv4-compatible": "::169.254.169.254",
    "IPv4-compatible, hex": "::a9fe:a9fe",
    "IPv4-mapped": "::ffff:a9fe:a9fe",
    "IPv4-translated (SIIT)": "::ffff:0:a9fe:a9fe",
    "6to4": "2002:a9fe:a9fe::",
    "6to4 with a host part": "2002:a9fe:a9fe:1::5",
    "Teredo server": "2001:0:a9fe:a9fe::1",
    "Teredo client (obfuscated)": "2001:0:4136:e378:8000:63bf:5601:5601",
    "NAT64 well-known": "64:ff9b::a9fe:a9fe",
    "NAT64 local-use /96": "64:ff9b:1::a9fe:a9fe",
    "NAT64 local-use /48": "64:ff9b:1:a9fe:a9:fe00::",
    "NAT64 local-use /64": "64:ff9b:1:0:a9:fea9:fe00:0",
    "ISATAP": "2001:db8::5efe:a9fe:a9fe",
    "ISATAP, universal bit": "2001:db8::200:5efe:a9fe:a9fe",
}


@pytest.mark.parametrize("host", list(METADATA_SPELLINGS.values()), ids=list(METADATA_SPELLINGS))
def test_every_embedding_of_a_denied_address_is_unwrapped(host: str) -> None:
    address = ipaddress.ip_address(host)
    assert ipaddress.ip_address("169.254.169.254") in embedded_v4s(address)
    assert AddressPolicy().refusal(address, 5432) is not None
    with pytest.raises(QueryDeckError) as info:
        AddressPolicy().pin(f"[{host}]", 5432, "PostgreSQL")
    assert info.value.code == "CONNECTION_TARGET_FORBIDDEN"


@pytest.mark.parametrize("host", ["::127.0.0.1", "2002:7f00:1::", "64:ff9b::7f00:1"])
@pytest.mark.parametrize("driver", ["postgres", "mysql"])
def test_the_deny_list_sees_embedded_loopback(
    tmp_path: Path, listener: CountingListener, host: str, driver: str
) -> None:
    """Saving and testing with a denied IPv4 network written as IPv6 is refused before any
    connection attempt (the addresses are never dialled: they are refused by the policy)."""
    settings = load_settings(data_dir=tmp_path / "d", outbound_deny=["127.0.0.0/8"])
    with Workbench(settings) as wb:
        error = refused(
            wb,
            "CONNECTION_TARGET_FORBIDDEN",
            driver=driver,
            options=pg_options(host, listener.port),
        )
        assert "outbound_deny" in error.message
    assert listener.accepted == 0


def test_embedding_units() -> None:
    address = ipaddress.ip_address
    v4 = ipaddress.IPv4Address
    assert embedded_v4s(address("10.0.0.1")) == ()
    assert embedded_v4s(address("2001:db8::1")) == ()
    assert embedded_v4s(address("::1")) == ()  # loopback, not ::0.0.0.1
    assert embedded_v4s(address("::")) == ()
    teredo = embedded_v4s(address("2001:0:4136:e378:8000:63bf:3fff:fdd2"))
    assert {v4("65.54.227.120"), v4("192.0.2.45")} <= set(teredo)  # RFC 4380's example
    # A /48 NAT64 address of 10.1.2.3 is not refused for the zero padding after it.
    assert embedded_v4s(address("64:ff9b:1:a01:2:300::"))[0] == v4("10.1.2.3")
    assert AddressPolicy().refusal(address("64:ff9b:1:a01:2:300::"), 5432) is None
    assert AddressPolicy().refusal(address("::1"), 5432) is None
    # Allow lists: an IPv6 spelling passes only when every embedded address is allowed.
    allow = policy_for(["10.0.0.0/8"], [], [])
    assert allow.refusal(address("2002:a01:203::"), 5432) is None
    assert allow.refusal(address("2001:0:a01:203:8000:63bf:3fff:fdd2"), 5432) is not None
    assert allow.refusal(address("2001:db8::1"), 5432) == "not in the outbound_allow setting"
    # Own listeners are matched in every spelling too.
    own = policy_for([], [], [("127.0.0.1", 9999)])
    assert own.refusal(address("::ffff:127.0.0.1"), 9999) == "querydeck's own listener"
    assert own.refusal(address("2002:7f00:1::"), 9999) == "querydeck's own listener"
    assert own.refusal(address("2002:7f00:1::"), 9998) is None
    own.add_listener("127.0.0.1", 9998)
    assert own.refusal(address("127.0.0.1"), 9998) == "querydeck's own listener"
