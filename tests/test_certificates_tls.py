"""Uploaded CA certificates used by real TLS clients (libpq through psycopg, PyMySQL)
against TLS listeners on 127.0.0.1 that speak just enough of each protocol to finish the
handshake (see tests/tlsfakes.py): the right CA gets through the handshake, a wrong CA or a
wrong host name fails it, and the host NAME the user gave is checked although the socket
goes to the pinned IP address."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from psycopg.conninfo import conninfo_to_dict

from querydeck.app.workbench import Workbench
from querydeck.drivers.mysql.driver import MySQLDriver, MySQLOptions
from querydeck.drivers.postgres.driver import PostgresDriver, PostgresOptions
from querydeck.errors import QueryDeckError
from tests.tlsfakes import PROBE_TEXT, Issued, TlsListener, make_ca, make_server


@pytest.fixture(scope="module")
def pki() -> dict[str, Issued]:
    ca = make_ca()
    return {
        "ca": ca,
        "other_ca": make_ca("another CA"),
        "localhost": make_server(ca, ["localhost"]),
        "elsewhere": make_server(ca, ["db.example.test"]),
    }


def options(protocol: str, port: int, certificate_id: str, **extra: Any) -> dict[str, Any]:
    values = {"host": "localhost", "port": port, "user": "u", "password": "pw"}
    values["ssl_ca_certificate"] = certificate_id
    if protocol == "postgres":
        values["database"] = "d"
    return {**values, **extra}


@pytest.fixture(params=["postgres", "mysql"])
def protocol(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def serve(pki: dict[str, Issued], protocol: str) -> Iterator[Any]:
    listeners: list[TlsListener] = []

    def start(server: str) -> TlsListener:
        listeners.append(TlsListener(pki[server], protocol))
        return listeners[-1]

    yield start
    for listener in listeners:
        listener.close()


def attempt(wb: Workbench, protocol: str, port: int, cert: str, **extra: Any) -> QueryDeckError:
    """Save the connection (the first probe fails like an unreachable server, so it is
    saved unprobed), then test it: the error the test raises."""
    info = wb.connections.create(
        "tls", driver=protocol, options=options(protocol, port, cert, **extra)
    )
    assert info.options["ssl_ca_certificate"] == cert
    with pytest.raises(QueryDeckError) as raised:
        wb.connections.test("tls")
    return raised.value


def test_the_uploaded_ca_verifies_the_server(
    workbench: Workbench, pki: dict[str, Issued], protocol: str, serve: Any
) -> None:
    listener = serve("localhost")
    cert = workbench.admin.add_certificate("test CA", pki["ca"].pem)
    error = attempt(workbench, protocol, listener.port, cert.id)
    # The handshake succeeded and the client read the listener's error over TLS.
    assert listener.handshakes
    assert set(listener.handshakes) == {"ok"}
    assert listener.messages >= 1
    assert error.code == "UPSTREAM_UNAVAILABLE"
    assert PROBE_TEXT in error.message
    assert workbench.connections.get("tls").options["sslmode"] == "verify-full"


def test_a_wrong_ca_fails_the_handshake(
    workbench: Workbench, pki: dict[str, Issued], protocol: str, serve: Any
) -> None:
    listener = serve("localhost")
    cert = workbench.admin.add_certificate("another CA", pki["other_ca"].pem)
    error = attempt(workbench, protocol, listener.port, cert.id)
    assert error.code == "CONNECTION_TLS_UNTRUSTED", error
    assert error.http_status == 502
    assert PROBE_TEXT not in error.message
    assert listener.handshakes
    assert "ok" not in listener.handshakes
    assert listener.messages == 0  # no login (no password) ever sent
    assert workbench.connections.get("tls").status.error_code == "CONNECTION_TLS_UNTRUSTED"


def test_verify_full_checks_the_host_name_given(
    workbench: Workbench, pki: dict[str, Issued], protocol: str, serve: Any
) -> None:
    """The certificate names db.example.test; the user gave localhost (pinned to
    127.0.0.1): verify-full refuses, verify-ca (chain only) gets through."""
    listener = serve("elsewhere")
    cert = workbench.admin.add_certificate("test CA", pki["ca"].pem)
    error = attempt(workbench, protocol, listener.port, cert.id, sslmode="verify-full")
    assert error.code == "CONNECTION_TLS_UNTRUSTED", error
    assert listener.messages == 0  # the name is checked before any login is sent
    # A TLS setting binds the stored password: the change gives it again.
    workbench.connections.update("tls", {"sslmode": "verify-ca", "password": "pw"})
    with pytest.raises(QueryDeckError) as raised:
        workbench.connections.test("tls")
    assert raised.value.code == "UPSTREAM_UNAVAILABLE"
    assert PROBE_TEXT in raised.value.message
    assert listener.handshakes[-1] == "ok"
    assert listener.messages >= 1


def test_a_certificate_named_by_ip_host_is_checked_against_that_ip(
    workbench: Workbench, pki: dict[str, Issued], protocol: str, serve: Any
) -> None:
    """With host 127.0.0.1 the name checked is the IP, which the certificate lacks."""
    listener = serve("localhost")
    cert = workbench.admin.add_certificate("test CA", pki["ca"].pem)
    error = attempt(workbench, protocol, listener.port, cert.id, host="127.0.0.1")
    assert error.code == "CONNECTION_TLS_UNTRUSTED", error
    assert listener.messages == 0


def test_drivers_pass_the_stored_file(workbench: Workbench, pki: dict[str, Issued]) -> None:
    cert = workbench.admin.add_certificate("test CA", pki["ca"].pem)
    stored = workbench.settings.data_dir / "certificates" / f"{cert.id}.pem"
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    assert stored.read_bytes() == pki["ca"].pem
    pg = PostgresDriver(
        PostgresOptions.model_validate(options("postgres", 5432, cert.id)),
        sandbox=workbench.sandbox,
    )
    params = conninfo_to_dict(pg.conninfo(5))
    assert params["sslrootcert"] == os.fspath(stored)
    assert params["sslmode"] == "verify-full"
    assert params["host"] == "localhost"
    assert params["hostaddr"] == "127.0.0.1"
    my = MySQLDriver(
        MySQLOptions.model_validate(options("mysql", 3306, cert.id, sslmode="verify-ca")),
        sandbox=workbench.sandbox,
    )
    context = my.connect_args(5)["ssl"]
    assert context.check_hostname is False
    serial = f"{pki['ca'].cert.serial_number:X}"
    # OpenSSL prints the serial in whole bytes: an odd number of hex digits gets a leading 0
    assert [c["serialNumber"] for c in context.get_ca_certs()] == [
        serial.rjust(len(serial) + len(serial) % 2, "0")
    ]
    # A removed file is written again from the app database before a client reads it.
    stored.unlink()
    assert conninfo_to_dict(pg.conninfo(5))["sslrootcert"] == os.fspath(stored)
    assert stored.read_bytes() == pki["ca"].pem
    stored.write_bytes(b"tampered")
    pg.conninfo(5)
    assert stored.read_bytes() == pki["ca"].pem


def test_outside_a_workbench_no_certificate_can_be_used(pki: dict[str, Issued]) -> None:
    pg = PostgresDriver(
        PostgresOptions.model_validate(
            options("postgres", 5432, "0" * 8 + "-0000-0000-0000-" + "0" * 12)
        )
    )
    with pytest.raises(QueryDeckError) as raised:
        pg.conninfo(5)
    assert raised.value.code == "CONNECTION_CERTIFICATE_UNKNOWN"


def test_mysql_disable_never_tries_tls(workbench: Workbench) -> None:
    args = MySQLDriver(
        MySQLOptions.model_validate({"host": "127.0.0.1", "user": "u"}), sandbox=workbench.sandbox
    ).connect_args(5)
    assert args["ssl_disabled"] is True
    assert "ssl" not in args


def test_mysql_require_without_a_ca_encrypts_without_verifying(workbench: Workbench) -> None:
    args = MySQLDriver(
        MySQLOptions.model_validate({"host": "127.0.0.1", "user": "u", "sslmode": "require"}),
        sandbox=workbench.sandbox,
    ).connect_args(5)
    assert args["ssl"].verify_mode.name == "CERT_NONE"


def test_the_certificate_directory_is_never_a_file_target(
    workbench: Workbench, pki: dict[str, Issued], tmp_path: Path
) -> None:
    cert = workbench.admin.add_certificate("test CA", pki["ca"].pem)
    folder = workbench.settings.data_dir / "certificates"
    with pytest.raises(QueryDeckError) as raised:
        workbench.connections.create(
            "c", driver="sqlite", options={"path": str(folder / f"{cert.id}.pem")}
        )
    assert raised.value.code == "CONNECTION_TARGET_FORBIDDEN"
    memory = workbench.connections.create("mem", driver="duckdb", options={})
    assert memory.name == "mem"
    _, driver = workbench.connection_store.driver_for("mem")
    roots = driver.allowed_directories()  # type: ignore[attr-defined]
    assert roots
    assert not any(str(folder).startswith(r.rstrip(os.sep)) for r in roots)
