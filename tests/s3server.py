"""A real S3-compatible server for the tests: moto's server (from PyPI), started on
127.0.0.1 on a free port once per test process and stopped at its end. Each test module
makes buckets of its own (:func:`new_bucket`) and lists them to check what changed."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

#: Credentials moto accepts (it checks none); the drivers seal them like real ones.
ACCESS_KEY = "AKIAQDTESTKEY0000001"
SECRET_KEY = "qd-test-secret-0123456789/abcdefghijKLMN"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class S3Server:
    process: subprocess.Popen[bytes]
    port: int
    _client: Any = field(default=None, init=False, repr=False, compare=False)
    _client_lock: threading.Lock = field(
        default_factory=threading.Lock, init=False, repr=False, compare=False
    )

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    def client(self) -> Any:
        """A boto3 client of the server, made once (each new one took ~8 ms of CPU, 200
        times a run of the S3 and lake tests); boto3's clients are thread-safe."""
        with self._client_lock:
            if self._client is None:
                import boto3  # only where a test uses the server

                self._client = boto3.client(
                    "s3",
                    endpoint_url=f"http://{self.endpoint}",
                    aws_access_key_id=ACCESS_KEY,
                    aws_secret_access_key=SECRET_KEY,
                    region_name="us-east-1",
                )
            return self._client

    def options(self, bucket: str, prefix: str = "", **extra: Any) -> dict[str, Any]:
        """Options of an ``s3`` connection (or the lake drivers' S3 part) to ``bucket``."""
        return {
            "bucket": bucket,
            "prefix": prefix,
            "endpoint": self.endpoint,
            "url_style": "path",
            "use_ssl": False,
            "access_key_id": ACCESS_KEY,
            "secret_access_key": SECRET_KEY,
            **extra,
        }

    def new_bucket(self) -> str:
        name = f"qd-{uuid.uuid4().hex[:16]}"
        self.client().create_bucket(Bucket=name)
        return name

    def put(self, bucket: str, key: str, body: bytes) -> None:
        self.client().put_object(Bucket=bucket, Key=key, Body=body)

    def listing(self, bucket: str) -> dict[str, str]:
        """Every object of ``bucket``: key → ETag."""
        found: dict[str, str] = {}
        for page in self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for item in page.get("Contents", []):
                found[item["Key"]] = item["ETag"]
        return found

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start() -> S3Server:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"moto's S3 server exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return S3Server(process, port)
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("moto's S3 server did not start within 30 s")
