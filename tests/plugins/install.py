"""Installing a stand-in package's entry points the way pip would: a ``.dist-info``
directory on ``sys.path`` whose ``entry_points.txt`` names the package's objects; then
querydeck's registry finds them like any installed driver."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from querydeck.drivers import registry


@contextmanager
def entry_points(where: Path, distribution: str, drivers: dict[str, str]) -> Iterator[None]:
    """Make ``drivers`` (name → ``module:Class``) installed ``querydeck.drivers`` entry
    points of ``distribution`` while the block runs."""
    info = where / f"{distribution}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {distribution}\nVersion: 1.0\n", encoding="utf-8"
    )
    lines = "".join(f"{name} = {target}\n" for name, target in drivers.items())
    (info / "entry_points.txt").write_text(f"[{registry.GROUP}]\n{lines}", encoding="utf-8")
    sys.path.insert(0, str(where))
    _forget()
    try:
        yield
    finally:
        sys.path.remove(str(where))
        _forget()


def _forget() -> None:
    registry._entry_points.cache_clear()
    registry.load.cache_clear()
