"""Certificate uploads through the API and the CLI: what is accepted, what is refused (and
then never stored or echoed), listing, use by connections and removal."""

from __future__ import annotations

import base64
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from querydeck.api.routes.certificates import MAX_BODY_BYTES
from querydeck.app.workbench import Workbench
from querydeck.cli import app as cli_app
from querydeck.errors import ConfigError
from querydeck.settings import load_settings
from querydeck.sources.pem import MAX_CERTIFICATES, MAX_PEM_BYTES
from tests.apiauth import api_client
from tests.tlsfakes import Issued, make_ca, make_server

URL = "/api/v1/certificates"


@pytest.fixture(scope="module")
def ca() -> Issued:
    return make_ca()


@pytest.fixture
def client(workbench: Workbench) -> Iterator[TestClient]:
    with api_client(workbench) as test_client:
        yield test_client


def key_body(issued: Issued) -> str:
    """The base64 middle of a private key's PEM: what must never be echoed or stored."""
    return "".join(issued.key_pem.decode().splitlines()[1:-1])


def stored_files(wb: Workbench) -> list[Path]:
    folder = wb.settings.data_dir / "certificates"
    return sorted(folder.iterdir()) if folder.exists() else []


def refused(client: TestClient, status: int, code: str, **body: Any) -> dict[str, Any]:
    response = client.post(URL, json={"name": "x", **body})
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == code
    assert client.get(URL).json()["total"] == 0
    return error


def pg(cert_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "host": "127.0.0.1",
        "port": 1,
        "database": "d",
        "user": "u",
        "ssl_ca_certificate": cert_id,
        **extra,
    }


def test_upload_list_get_and_remove(client: TestClient, workbench: Workbench, ca: Issued) -> None:
    text = "Bag Attributes\n  friendlyName: ca\n" + ca.pem.decode() + "trailing text\n"
    response = client.post(URL, json={"name": "Corp CA", "pem": text})
    assert response.status_code == 201, response.text
    info = response.json()
    assert info["name"] == "Corp CA"
    assert info["subject"] == "CN=querydeck test CA" == info["issuer"]
    assert info["count"] == 1
    assert info["expired"] is False
    assert info["used_by"] == []
    expected = ca.cert.fingerprint(ca.cert.signature_hash_algorithm).hex(":").upper()  # type: ignore[arg-type]
    assert info["fingerprint_sha256"] == expected
    assert info["not_after"].startswith(ca.cert.not_valid_after_utc.date().isoformat())
    assert info["certificates"][0]["is_ca"] is True
    (file,) = stored_files(workbench)
    assert file.name == f"{info['id']}.pem"
    assert stat.S_IMODE(file.stat().st_mode) == 0o600
    assert stat.S_IMODE(file.parent.stat().st_mode) == 0o700
    assert file.read_bytes() == ca.pem  # the text around the block is not stored
    listing = client.get(URL).json()
    assert listing["total"] == 1
    assert listing["items"][0]["id"] == info["id"]
    assert client.get(f"{URL}/{info['id']}").json() == info
    assert client.post(URL, json={"name": "corp ca", "pem": text}).json()["error"]["code"] == (
        "CERTIFICATE_NAME_TAKEN"
    )
    assert client.delete(f"{URL}/{info['id']}").status_code == 204
    assert stored_files(workbench) == []
    for method in (client.get, client.delete):
        missing = method(f"{URL}/{info['id']}")
        assert missing.status_code == 404
        assert missing.json()["error"]["code"] == "CERTIFICATE_NOT_FOUND"
    assert client.get(f"{URL}/../../etc").status_code == 404


def test_a_bundle_of_several_cas(client: TestClient) -> None:
    first, second = make_ca("first"), make_ca("second")
    response = client.post(URL, json={"name": "both", "pem": (first.pem + second.pem).decode()})
    assert response.status_code == 201
    info = response.json()
    assert info["count"] == 2
    assert [c["subject"] for c in info["certificates"]] == ["CN=first", "CN=second"]


def test_a_private_key_is_refused_never_stored_nor_echoed(
    client: TestClient, workbench: Workbench, ca: Issued
) -> None:
    for pem in (ca.pem + ca.key_pem, ca.key_pem, ca.key_pem.replace(b"PRIVATE", b"EC PRIVATE")):
        error = refused(client, 422, "CERTIFICATE_PRIVATE_KEY", pem=pem.decode())
        assert key_body(ca)[:40] not in str(error)
    assert stored_files(workbench) == []
    assert (
        workbench.settings.data_dir.joinpath("querydeck.db")
        .read_bytes()
        .find(key_body(ca)[:40].encode())
        == -1
    )


@pytest.mark.parametrize(
    ("pem", "code"),
    [
        ("hello", "CERTIFICATE_INVALID"),
        ("", "CERTIFICATE_INVALID"),
        (
            "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n",
            "CERTIFICATE_INVALID",
        ),
        ("-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n", "CERTIFICATE_INVALID"),
    ],
)
def test_garbage_is_refused(client: TestClient, pem: str, code: str) -> None:
    refused(client, 422, code, pem=pem)


def test_truncated_and_other_blocks_are_refused(client: TestClient, ca: Issued) -> None:
    cut = ca.pem.decode().splitlines()
    refused(client, 422, "CERTIFICATE_INVALID", pem="\n".join(cut[:3] + cut[-1:]))
    params = "-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n"
    error = refused(client, 422, "CERTIFICATE_INVALID", pem=ca.pem.decode() + params)
    assert error["detail"]["blocks"] == ["EC PARAMETERS"]


def test_expired_and_not_yet_valid_cas_are_refused(client: TestClient) -> None:
    expired = make_ca("old", days=10, ago=20)
    error = refused(client, 422, "CERTIFICATE_EXPIRED", pem=expired.pem.decode())
    assert "expired" in error["message"]
    assert error["detail"]["subject"] == "CN=old"
    future = make_ca("future", days=10, ago=-5)
    refused(client, 422, "CERTIFICATE_EXPIRED", pem=future.pem.decode())


def test_only_cas_or_self_signed_certificates(client: TestClient, ca: Issued) -> None:
    leaf = make_server(ca, ["db.example.test"])
    error = refused(client, 422, "CERTIFICATE_INVALID", pem=leaf.pem.decode())
    assert "not a CA" in error["message"]


def test_size_and_count_limits(client: TestClient, ca: Issued) -> None:
    padding = "# " + "x" * 100 + "\n"
    big = ca.pem.decode() + padding * (MAX_PEM_BYTES // len(padding) + 1)
    assert MAX_PEM_BYTES < len(big) < MAX_BODY_BYTES // 2
    refused(client, 413, "CERTIFICATE_TOO_LARGE", pem=big)
    refused(client, 413, "PAYLOAD_TOO_LARGE", pem="x" * (MAX_BODY_BYTES + 1))
    many = ca.pem.decode() * (MAX_CERTIFICATES + 1)
    assert len(many) < MAX_PEM_BYTES
    error = refused(client, 422, "CERTIFICATE_INVALID", pem=many)
    assert error["detail"]["count"] == MAX_CERTIFICATES + 1


def test_malformed_requests(client: TestClient, ca: Issued) -> None:
    raw = client.post(URL, content=ca.pem, headers={"content-type": "application/x-pem-file"})
    assert raw.status_code == 415
    assert raw.json()["error"]["code"] == "UNSUPPORTED_MEDIA_TYPE"
    body = client.post(URL, content=b"{", headers={"content-type": "application/json"})
    assert body.status_code == 422
    assert body.json()["error"]["code"] == "INVALID_INPUT"
    secret = client.post(URL, json={"name": "", "pem": ca.key_pem.decode(), "extra": 1})
    assert secret.status_code == 422
    assert key_body(ca)[:40] not in secret.text
    named = client.post(URL, json={"name": "a\x00b", "pem": ca.pem.decode()})
    assert named.json()["error"]["code"] == "CERTIFICATE_NAME_INVALID"


def test_connections_use_a_certificate_and_keep_it(
    client: TestClient, workbench: Workbench, ca: Issued
) -> None:
    cert = client.post(URL, json={"name": "ca", "pem": ca.pem.decode()}).json()
    made = client.post(
        "/api/v1/connections",
        json={"name": "pg", "driver": "postgres", "options": pg(cert["id"]), "test": False},
    )
    assert made.status_code == 201, made.text
    assert made.json()["options"]["sslmode"] == "verify-full"
    assert client.get(f"{URL}/{cert['id']}").json()["used_by"] == ["pg"]
    in_use = client.delete(f"{URL}/{cert['id']}")
    assert in_use.status_code == 409
    assert in_use.json()["error"]["code"] == "CERTIFICATE_IN_USE"
    assert in_use.json()["error"]["detail"]["connections"] == ["pg"]
    assert len(stored_files(workbench)) == 1
    assert client.patch("/api/v1/connections/pg", json={"options": {"ssl_ca_certificate": None}})
    assert client.delete(f"{URL}/{cert['id']}").status_code == 204


@pytest.mark.parametrize(
    ("options", "code"),
    [
        (pg("6f1c2a7e-0000-4000-8000-000000000000"), "CONNECTION_CERTIFICATE_UNKNOWN"),
        (pg("../../key"), "CONNECTION_CERTIFICATE_UNKNOWN"),
        (pg("x", sslmode="disable"), "CONNECTION_OPTIONS_INVALID"),
        (pg("x", sslmode="prefer"), "CONNECTION_OPTIONS_INVALID"),
        ({**pg("x"), "ssl_ca_certificate": None, "sslrootcert": "/etc/passwd"}, None),
    ],
)
def test_unknown_or_unusable_certificates(
    client: TestClient, options: dict[str, Any], code: str | None
) -> None:
    response = client.post(
        "/api/v1/connections", json={"name": "pg", "driver": "postgres", "options": options}
    )
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == (code or "CONNECTION_OPTION_UNKNOWN")
    assert client.get("/api/v1/connections").json()["total"] == 0


def test_mysql_raw_file_options_stay_refused(client: TestClient) -> None:
    for raw in ("ssl_ca", "read_default_file"):
        options = {"host": "127.0.0.1", "user": "u", raw: "/etc/passwd"}
        response = client.post(
            "/api/v1/connections", json={"name": "m", "driver": "mysql", "options": options}
        )
        assert response.json()["error"]["code"] == "CONNECTION_PARAM_FORBIDDEN"


def test_a_file_root_may_not_hold_the_certificates(tmp_path: Path) -> None:
    data = tmp_path / "data"
    for root in (data / "certificates", data / "certificates" / "inner"):
        with pytest.raises(ConfigError):
            Workbench(load_settings(data_dir=data, file_roots=[root])).open().close()


def test_cli_add_list_show_use_and_remove(
    workbench: Workbench, ca: Issued, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    workbench.close()
    monkeypatch.setenv("QUERYDECK_DATA_DIR", str(workbench.settings.data_dir))
    runner = CliRunner()

    def cli(*args: str, stdin: bytes | None = None) -> Any:
        return runner.invoke(cli_app, list(args), input=stdin)

    good = tmp_path / "ca.pem"
    good.write_bytes(ca.pem)
    added = cli("certificates", "add", "corp", str(good), "--format", "json")
    assert added.exit_code == 0, added.output
    cert_id = added.stdout.split('"id": "', 1)[1].split('"', 1)[0]
    assert f"ssl_ca_certificate={cert_id}" in added.stderr
    listed = cli("certificates", "list")
    assert listed.exit_code == 0
    assert cert_id in listed.stdout
    assert "CN=querydeck test CA" in listed.stdout
    assert "CN=querydeck" in cli("certificates", "show", cert_id).stdout
    conn = cli(
        "connections", "add", "pg", "--driver", "postgres", "--no-test",
        *[x for k, v in pg(cert_id).items() for x in ("--option", f"{k}={v}")],
    )  # fmt: skip
    assert conn.exit_code == 0, conn.output
    in_use = cli("certificates", "remove", cert_id)
    assert in_use.exit_code == 1
    assert in_use.stderr.startswith("Error [CERTIFICATE_IN_USE]")
    assert cli("connections", "remove", "pg", "--yes").exit_code == 0
    assert cli("certificates", "remove", cert_id).exit_code == 0
    assert "no certificates" in cli("certificates", "list").stderr

    with_key = tmp_path / "bundle.pem"
    with_key.write_bytes(ca.pem + ca.key_pem)
    refused_key = cli("certificates", "add", "k", str(with_key))
    assert refused_key.exit_code == 1
    assert refused_key.stderr.startswith("Error [CERTIFICATE_PRIVATE_KEY]")
    assert key_body(ca)[:40] not in refused_key.output
    der = tmp_path / "ca.der"
    der.write_bytes(ca.cert.public_bytes(Encoding.DER))
    assert "CERTIFICATE_INVALID" in cli("certificates", "add", "d", str(der)).stderr
    big = tmp_path / "big.pem"
    big.write_bytes(b"x" * (MAX_PEM_BYTES + 10))
    assert "CERTIFICATE_TOO_LARGE" in cli("certificates", "add", "b", str(big)).stderr
    assert "FILE_UNREADABLE" in cli("certificates", "add", "m", str(tmp_path / "nope")).stderr
    piped = cli("certificates", "add", "stdin", "-", stdin=base64.b64encode(b"x"))
    assert piped.exit_code == 1
    assert "CERTIFICATE_INVALID" in piped.stderr
    assert cli("certificates", "add", "stdin", "-", stdin=ca.pem).exit_code == 0
