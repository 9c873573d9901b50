"""A real Spark Connect server for the tests, from pyspark's own wheel (its jars include
the Connect server; Java 17 runs it): started on 127.0.0.1 on a free port with a warehouse
and settings of the tests' own in a temporary directory, stopped afterwards. The JVM takes
about ten seconds to start on a shared two-core machine (C1 only, serial GC: it runs short
statements for minutes): one per test process is shared by the modules that need it (the
``spark_connect`` fixture in conftest.py).

Test-only settings: no generated code (``spark.sql.codegen.wholeStage=false``, and
``spark.sql.codegen.factoryMode=NO_CODEGEN``, the interpreted expressions Spark's own tests
check against the generated ones). The tests' statements read a few rows each, and
compiling Java source for every one of them with Janino was a fifth of the JVM's CPU
(about 61 -> 47 CPU-s for test_spark and test_attacks_spark). Results are the same either
way; querydeck's own settings and statements are not changed.
"""

from __future__ import annotations

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

from tests.services import unavailable

SERVER_CLASS = "org.apache.spark.sql.connect.service.SparkConnectServer"


@dataclass(frozen=True)
class SparkServer:
    port: int
    directory: Path
    started_in_s: float

    @property
    def url(self) -> str:
        return f"sc://127.0.0.1:{self.port}"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@contextmanager
def spark_server() -> Iterator[SparkServer]:
    """Start a Spark Connect server (local[1], 512 MB) for the duration of the block."""
    try:
        import pyspark
    except ImportError as exc:
        unavailable("Spark (pyspark[connect], a dev dependency)", exc)
        raise
    home = Path(pyspark.__file__).parent
    java = shutil.which("java")
    if java is None or not (home / "jars").is_dir():
        unavailable("Spark Connect (java or pyspark's jars)", FileNotFoundError("java"))
    directory = Path(tempfile.mkdtemp(prefix="qd-spark-"))
    (directory / "conf").mkdir()
    port = _free_port()
    env = {
        **os.environ,
        "SPARK_HOME": str(home),
        "SPARK_CONF_DIR": str(directory / "conf"),
        "SPARK_LOCAL_IP": "127.0.0.1",
        "SPARK_LOG_DIR": str(directory),
    }
    command = [
        str(home / "bin" / "spark-submit"),
        "--class",
        SERVER_CLASS,
        "--master",
        "local[1]",
        "--driver-memory",
        "512m",
        "--driver-java-options",
        f"-Djava.io.tmpdir={directory} -XX:TieredStopAtLevel=1 -XX:+UseSerialGC",
    ]
    for key, value in {
        "spark.connect.grpc.binding.address": "127.0.0.1",
        "spark.connect.grpc.binding.port": str(port),
        "spark.ui.enabled": "false",
        "spark.sql.catalogImplementation": "in-memory",
        "spark.sql.warehouse.dir": str(directory / "warehouse"),
        "spark.sql.shuffle.partitions": "1",
        "spark.local.dir": str(directory / "local"),
        # No Janino compilation of tiny statements: see the module's docstring.
        "spark.sql.codegen.wholeStage": "false",
        "spark.sql.codegen.factoryMode": "NO_CODEGEN",
    }.items():
        command += ["--conf", f"{key}={value}"]
    started = time.monotonic()
    with open(directory / "server.log", "wb") as log:
        process = subprocess.Popen(
            command,
            env=env,
            cwd=directory,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = started + 120
        while not _listening(port):
            if process.poll() is not None or time.monotonic() > deadline:
                tail = (directory / "server.log").read_text(errors="replace")[-2000:]
                unavailable("Spark Connect (it did not start)", RuntimeError(tail))
            time.sleep(0.25)
        yield SparkServer(port, directory, round(time.monotonic() - started, 1))
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        shutil.rmtree(directory, ignore_errors=True)
