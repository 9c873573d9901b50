"""The CLI's everyday commands as whole processes, next to ``python -c pass`` (issue 17).

Each command runs as a fresh ``querydeck`` process against a data directory of its own
(one SQLite connection, a few dozen runs in the history), alternated with the reference so
that load from other processes falls on both alike: the wall time and the CPU time of each
run are taken from the operating system (``wait4``), and the medians are reported.
``python -m bench cli`` runs this part alone.
"""

from __future__ import annotations

import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

#: Runs of each command (and of the reference), alternated.
ROUNDS = 9
HISTORY_RUNS = 30


def _executable() -> str:
    return str(Path(sys.executable).with_name("querydeck"))


#: (label, arguments after ``querydeck``, goal in seconds of median wall time)
COMMANDS: list[tuple[str, list[str], float]] = [
    ("querydeck --help", ["--help"], 0.3),
    ("querydeck connections list", ["connections", "list"], 0.5),
    ("querydeck history", ["history"], 0.5),
    (
        "querydeck query (one row on SQLite)",
        ["query", "bench", "SELECT name FROM items WHERE id = 1"],
        0.7,
    ),
]


def _prepare(data: Path) -> dict[str, str]:
    """A data directory with a SQLite connection ``bench`` and a history of runs; returns
    the environment the commands run with."""
    files = data / "qd" / "files"  # the default file root
    files.mkdir(parents=True)
    database = files / "items.sqlite"
    with sqlite3.connect(database) as conn:
        conn.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT)")
        conn.executemany("INSERT INTO items VALUES (?, ?)", [(i, f"item {i}") for i in range(100)])
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("QUERYDECK_") or key == "QUERYDECK_LOG_LEVEL"
    }
    env["QUERYDECK_DATA_DIR"] = str(data / "qd")
    command = [_executable()]
    subprocess.run(
        [*command, "connections", "add", "bench", "--driver", "sqlite", "-o", f"path={database}"],
        env=env,
        check=True,
        capture_output=True,
    )
    for index in range(HISTORY_RUNS):
        subprocess.run(
            [*command, "query", "bench", f"SELECT * FROM items WHERE id > {index}"],
            env=env,
            check=True,
            capture_output=True,
        )
    return env


def _timed(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU seconds (user + system) of one run of ``command``."""
    started = time.perf_counter()
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise RuntimeError(f"{command} exited {process.returncode}")
    return wall, usage.ru_utime + usage.ru_stime


def measure(rounds: int = ROUNDS) -> list[tuple[str, str, str, str]]:
    with tempfile.TemporaryDirectory() as tmp:
        env = _prepare(Path(tmp))
        reference = [sys.executable, "-c", "pass"]
        commands = [[_executable(), *arguments] for _, arguments, _ in COMMANDS]
        samples: list[list[tuple[float, float]]] = [[] for _ in commands]
        base: list[tuple[float, float]] = []
        for command in commands:  # warm the page cache once
            _timed(command, env)
        for _ in range(rounds):
            for index, command in enumerate(commands):
                base.append(_timed(reference, env))
                samples[index].append(_timed(command, env))
    base_wall = statistics.median(wall for wall, _ in base)
    base_cpu = statistics.median(cpu for _, cpu in base)
    rows = []
    for (label, _, goal), figures in zip(COMMANDS, samples, strict=True):
        wall = statistics.median(w for w, _ in figures)
        cpu = statistics.median(c for _, c in figures)
        rows.append(
            (
                f"{label}, a new process (median of {rounds}, alternated)",
                f"{wall:.2f} s wall, {cpu:.2f} s CPU",
                f"python -c pass: {base_wall:.3f} s wall, {base_cpu:.3f} s CPU",
                f"{wall - base_wall:.2f} s more (goal ≤ {goal} s)",
            )
        )
    return rows


def run() -> list[tuple[str, str, str, str]]:
    return measure()


if __name__ == "__main__":
    for row in run():
        print(" | ".join(row))
