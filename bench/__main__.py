"""``make bench``: run every benchmark, print the table and append it to BENCHMARKS.md."""

from __future__ import annotations

import datetime as dt
import os
import platform
from pathlib import Path

from bench import catalog, engines, guard, results, retrieval, soak, sources, ui

ROOT = Path(__file__).resolve().parents[1]


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


def main() -> None:
    rows = (
        guard.run()
        + catalog.run()
        + results.run()
        + sources.run()
        + ui.run()
        + retrieval.run()
        + engines.run()
        + soak.run()
    )
    header = "| benchmark | querydeck | reference (same run) | ratio |\n|---|---|---|---|\n"
    table = header + "".join(f"| {a} | {b} | {c} | {d} |\n" for a, b, c, d in rows)
    section = (
        f"\n## {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC — {machine()}\n\n"
        "Command: `make bench` (medians over repeated runs; CPU time, measured "
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
    main()
