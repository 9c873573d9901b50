"""``make bench``: run every benchmark, print the table and append it to BENCHMARKS.md.

``python -m bench PART ...`` runs only the named parts (``guard``, ``catalog``, ``results``,
``sources``, ``ui``, ``retrieval``, ``engines``, ``soak``, ``cli``), in that order.
"""

from __future__ import annotations

import datetime as dt
import importlib
import os
import platform
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: The benchmark modules in the order ``make bench`` runs them; each has ``run()``.
PARTS = (
    "guard",
    "catalog",
    "results",
    "sources",
    "ui",
    "retrieval",
    "engines",
    "soak",
    "cli",
)


def machine() -> str:
    cpus = os.cpu_count() or 0
    memory = ""
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            kib = int(handle.readline().split()[1])
        memory = f", {kib / 1024 / 1024:.0f} GiB"
    except (OSError, ValueError, IndexError):
        memory = ""
    return (
        f"{platform.system()} {platform.machine()}, {cpus} cores{memory}, Python "
        f"{platform.python_version()}"
    )


def main(selected: list[str]) -> None:
    unknown = sorted(set(selected) - set(PARTS))
    if unknown:
        raise SystemExit(
            f"unknown benchmark part(s) {', '.join(unknown)}; parts: {', '.join(PARTS)}"
        )
    parts = [part for part in PARTS if not selected or part in selected]
    rows: list[tuple[str, str, str, str]] = []
    for part in parts:
        rows += importlib.import_module(f"bench.{part}").run()
    command = "make bench" if not selected else f"python -m bench {' '.join(parts)}"
    if "engines" in parts and os.environ.get("QD_ENGINES_CASES"):
        command = f"QD_ENGINES_CASES={os.environ['QD_ENGINES_CASES']} {command}"
    header = "| benchmark | querydeck | reference (same run) | ratio |\n|---|---|---|---|\n"
    table = header + "".join(f"| {a} | {b} | {c} | {d} |\n" for a, b, c, d in rows)
    section = (
        f"\n## {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC — {machine()}\n\n"
        f"Command: `{command}` (medians over repeated runs; CPU time, measured "
        f"alternately).\n\n{table}"
    )
    print(section)
    target = ROOT / "BENCHMARKS.md"
    if not target.exists():
        target.write_text(
            "# Benchmarks\n\nEach figure next to its reference, measured in the "
            "same run on the same machine. Newest last.\n",
            encoding="utf-8",
        )
    with target.open("a", encoding="utf-8") as handle:
        handle.write(section)


if __name__ == "__main__":
    main(sys.argv[1:])
