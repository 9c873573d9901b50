"""The ``querydeck`` command's entry point: prepares the process, then runs the CLI.

pyarrow chooses its default memory pool when it first allocates, from
``ARROW_DEFAULT_MEMORY_POOL``, and the CLI's modules import pyarrow: a choice made later
(:func:`querydeck.runs.results.arrowpool.make_default`) no longer reaches Arrow's C++
internals that take no pool, such as the Parquet writer's column writers. On Linux, where
pyarrow's wheels carry jemalloc, the variable is set to ``jemalloc`` here, before any
import of pyarrow, unless the environment already names a pool (a smaller peak RSS for
Parquet exports; see BENCHMARKS.md).
"""

from __future__ import annotations

import os
import sys

POOL_ENV = "ARROW_DEFAULT_MEMORY_POOL"


def prepare_process() -> None:
    """Settings that must be in place before pyarrow loads."""
    if sys.platform == "linux":
        os.environ.setdefault(POOL_ENV, "jemalloc")


def main() -> None:
    """Entry point of the ``querydeck`` console script."""
    prepare_process()
    from querydeck.cli import main as cli_main

    cli_main()
