"""A real ClickHouse server for the tests: Debian's ``clickhouse-server`` package, started
on 127.0.0.1 on free ports with a configuration of the tests' own in a temporary directory,
and stopped afterwards. Missing, it skips the tests (fails them in CI, see services.py).

Users: ``default`` (no password, full rights: the tests' own client), ``qd_reader``
(password :data:`READER_PASSWORD`, full rights: querydeck's login in the tests, so that
the engine's read-only layer is what is tested) and ``qd_profile_ro`` (a ``readonly = 1``
settings profile).
"""

from __future__ import annotations

import functools
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.services import unavailable

SERVER = shutil.which("clickhouse-server") or "/usr/sbin/clickhouse-server"
READER_PASSWORD = "s3cret-Reader"

CONFIG = """<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>{dir}/server.log</log>
    <errorlog>{dir}/error.log</errorlog><console>0</console></logger>
  <listen_host>127.0.0.1</listen_host>
  <http_port>{http_port}</http_port>
  <tcp_port>{tcp_port}</tcp_port>
  <path>{dir}/data/</path>
  <tmp_path>{dir}/tmp/</tmp_path>
  <user_files_path>{dir}/user_files/</user_files_path>
  <format_schema_path>{dir}/format_schemas/</format_schema_path>
  <users_config>users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <mark_cache_size>5368709</mark_cache_size>
  <max_concurrent_queries>20</max_concurrent_queries>
  <keep_alive_timeout>1</keep_alive_timeout>
  <timezone>UTC</timezone>{tls}
</yandex>
"""
TLS = """
  <https_port>{port}</https_port>
  <openSSL><server>
    <certificateFile>{dir}/server.crt</certificateFile>
    <privateKeyFile>{dir}/server.key</privateKeyFile>
    <verificationMode>none</verificationMode>
    <loadDefaultCAFile>false</loadDefaultCAFile>
    <disableProtocols>sslv2,sslv3,tlsv1,tlsv1_1</disableProtocols>
  </server></openSSL>"""
USERS = """<?xml version="1.0"?>
<yandex>
  <profiles>
    <default><max_memory_usage>1000000000</max_memory_usage>
      <allow_experimental_low_cardinality_type>1</allow_experimental_low_cardinality_type></default>
    <ro><readonly>1</readonly></ro>
  </profiles>
  <users>
    <default><password></password><networks><ip>127.0.0.1</ip></networks>
      <profile>default</profile><quota>default</quota></default>
    <qd_reader><password>{password}</password><networks><ip>127.0.0.1</ip></networks>
      <profile>default</profile><quota>default</quota></qd_reader>
    <qd_profile_ro><password></password><networks><ip>127.0.0.1</ip></networks>
      <profile>ro</profile><quota>default</quota></qd_profile_ro>
  </users>
  <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors>
    <result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time>
  </interval></default></quotas>
</yandex>
"""


@functools.cache
def _http() -> httpx.Client:
    """One HTTP client for every statement the tests send (thread-safe): ``httpx.post``
    builds a client, and an SSL context from the whole CA bundle, for each one (about
    20 ms of CPU, a thousand times a run)."""
    return httpx.Client()


@dataclass(frozen=True)
class ClickHouseServer:
    port: int
    directory: Path
    #: The HTTPS interface's port, when the server was given a certificate.
    https_port: int | None = None

    def sql(self, statement: str, *, user: str = "default") -> str:
        """Run one statement as ``user`` through the HTTP interface; its text answer."""
        response = _http().post(
            f"http://127.0.0.1:{self.port}/",
            params={"user": user},
            content=statement.encode(),
            timeout=30,
        )
        if response.status_code != 200:
            raise RuntimeError(f"ClickHouse refused {statement[:80]!r}: {response.text[:300]}")
        return response.text


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def clickhouse_server(
    certificate: tuple[bytes, bytes] | None = None,
) -> Iterator[ClickHouseServer]:
    """Start a server for the duration of the block; with ``certificate`` (PEM certificate
    and key), it also serves HTTPS."""
    if not os.access(SERVER, os.X_OK):
        unavailable("ClickHouse (the clickhouse-server package)", FileNotFoundError(SERVER))
    directory = Path(tempfile.mkdtemp(prefix="qd-clickhouse-"))
    http_port, tcp_port = _free_port(), _free_port()
    https_port = _free_port() if certificate is not None else None
    tls = ""
    if certificate is not None:
        (directory / "server.crt").write_bytes(certificate[0])
        (directory / "server.key").write_bytes(certificate[1])
        tls = TLS.format(port=https_port, dir=directory)
    (directory / "config.xml").write_text(
        CONFIG.format(dir=directory, http_port=http_port, tcp_port=tcp_port, tls=tls)
    )
    (directory / "users.xml").write_text(USERS.format(password=READER_PASSWORD))
    process = subprocess.Popen(
        [SERVER, f"--config-file={directory / 'config.xml'}"],
        cwd=directory,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    server = ClickHouseServer(http_port, directory, https_port)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                server.sql("SELECT 1")
                break
            except (httpx.HTTPError, RuntimeError) as exc:
                if process.poll() is not None or time.monotonic() > deadline:
                    unavailable("ClickHouse (it did not start)", exc)
                time.sleep(0.1)
        yield server
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        shutil.rmtree(directory, ignore_errors=True)
