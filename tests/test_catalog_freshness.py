"""The catalog is read when a connection is registered, search covers every connection
the user may browse (read once when it never was), a dropped table leaves the catalog and
search at the next refresh, and the background refresh follows each connection's own
interval (0: never) or the setting's (on by default)."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from querydeck.app.workbench import Workbench
from querydeck.auth.principal import Role
from querydeck.catalog.models import CatalogSettings
from querydeck.settings import Settings, load_settings
from tests.apiauth import api_client


def make_db(path: Path, *tables: str) -> Path:
    with sqlite3.connect(path) as db:
        for table in tables:
            db.execute(f"CREATE TABLE {table} (id INTEGER PRIMARY KEY, note TEXT)")
    return path


def drop(path: Path, table: str) -> None:
    with sqlite3.connect(path) as db:
        db.execute(f"DROP TABLE {table}")


def found(wb: Workbench, table: str) -> set[str]:
    """connection:table of the search hits that are that very table (search also answers
    near matches)."""
    return {f"{h.connection}:{h.table}" for h in wb.catalog.search(table).items if h.table == table}


def tables(wb: Workbench, connection: str) -> set[str]:
    return {n.name for n in wb.catalog.level(connection, "main").items}


def test_the_default_background_interval_is_on() -> None:
    assert load_settings().catalog_refresh_interval_s > 0


def test_a_registered_connection_is_searchable_at_once(
    workbench: Workbench, files_dir: Path
) -> None:
    path = make_db(files_dir / "shop.db", "orders_2024", "customers")
    workbench.connections.create("shop", url=f"sqlite:///{path}", test=True)
    assert workbench.catalog.level("shop").refreshed_at is not None
    assert found(workbench, "orders_2024") == {"shop:orders_2024"}


def test_search_reads_catalogs_never_read(workbench: Workbench, files_dir: Path) -> None:
    path = make_db(files_dir / "old.db", "legacy_invoices")
    workbench.connections.create("old", url=f"sqlite:///{path}")  # untested: not read
    with api_client(workbench, username="ann", role=Role.analyst) as client:
        hits = client.get("/api/v1/search", params={"q": "legacy_invoices"}).json()
    assert hits["items"] == []  # no grant on it: not read for her, not found
    assert found(workbench, "legacy_invoices") == {"old:legacy_invoices"}


def test_a_dropped_table_leaves_after_the_next_refresh(
    workbench: Workbench, files_dir: Path
) -> None:
    path = make_db(files_dir / "shop.db", "orders_2024", "customers")
    workbench.connections.create("shop", url=f"sqlite:///{path}", test=True)
    assert tables(workbench, "shop") == {"orders_2024", "customers"}
    drop(path, "orders_2024")
    assert found(workbench, "orders_2024") == {"shop:orders_2024"}  # until the refresh
    workbench.catalog.refresh("shop")
    assert tables(workbench, "shop") == {"customers"}
    assert found(workbench, "orders_2024") == set()


def test_background_refresh_follows_each_connections_interval(
    settings: Settings, files_dir: Path
) -> None:
    fast = settings.model_copy(update={"catalog_refresh_interval_s": 0.05})
    a = make_db(files_dir / "a.db", "alpha_gone", "alpha_kept")
    b = make_db(files_dir / "b.db", "beta_gone", "beta_kept")
    with Workbench(fast) as wb:
        wb.connections.create("a", url=f"sqlite:///{a}", test=True)
        wb.connections.create("b", url=f"sqlite:///{b}", test=True)
        wb.catalog.set_settings("b", CatalogSettings(refresh_interval_s=0))
        assert wb.catalog.settings("b").refresh_interval_s == 0
        drop(a, "alpha_gone")
        drop(b, "beta_gone")
        assert wb.catalog.start_background_refresh()
        deadline = time.monotonic() + 20
        while found(wb, "alpha_gone") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert found(wb, "alpha_gone") == set()
        passes = wb.refresher.passes
        while wb.refresher.passes < passes + 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert found(wb, "beta_gone") == {"b:beta_gone"}  # its own interval: never
    assert not wb.refresher.running


def test_a_connection_refreshed_recently_is_not_due(settings: Settings, files_dir: Path) -> None:
    hourly = settings.model_copy(update={"catalog_refresh_interval_s": 3600})
    path = make_db(files_dir / "c.db", "t")
    with Workbench(hourly) as wb:
        wb.connections.create("c", url=f"sqlite:///{path}", test=True)
        assert not wb.refresher.due("c")  # read when registered
        wb.catalog.set_settings("c", CatalogSettings(refresh_interval_s=0.001))
        time.sleep(0.01)
        assert wb.refresher.due("c")
        wb.connections.create("d", url=f"sqlite:///{make_db(files_dir / 'd.db', 't')}")
        assert wb.refresher.due("d")  # never read
