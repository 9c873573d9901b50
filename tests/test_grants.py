"""Roles, groups and per-connection grants, checked at the Workbench (the API and the CLI
call the same methods). What a user may not see answers like what does not exist."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from querydeck.app.workbench import Workbench
from querydeck.auth.principal import Action, Principal, Role
from querydeck.catalog.models import CatalogSettings
from querydeck.cli import app as cli_app
from querydeck.errors import QueryDeckError
from querydeck.runs.export.formats import ExportFormat
from querydeck.runs.models import RunRequest, RunStatus, SavedQueryChanges, SavedQueryInput
from querydeck.settings import load_settings
from querydeck.store.tables import RunRow
from tests.apiauth import ensure_user

ALICE = Principal("alice", Role.analyst)
BOB = Principal("bob", Role.analyst)
VERA = Principal("vera", Role.viewer)
ADMIN = Principal("root", Role.admin)


@pytest.fixture
def wb(data_dir: Path, demo_files: Path) -> Iterator[Workbench]:
    shutil.copytree(demo_files, data_dir / "demo")
    workbench = Workbench(load_settings(data_dir=data_dir)).open()
    workbench.admin.create_demo()
    for user in (ALICE, BOB, VERA, ADMIN):
        ensure_user(workbench, user.username, user.role)
    try:
        yield workbench
    finally:
        workbench.close()


def error(call: Callable[[], Any]) -> tuple[int, str]:
    with pytest.raises(QueryDeckError) as info:
        call()
    return info.value.http_status, info.value.code


def run_count(wb: Workbench) -> int:
    with wb.db.read() as tx:
        return tx.scalar(select(func.count()).select_from(RunRow)) or 0


def message(call: Callable[[], Any]) -> str:
    with pytest.raises(QueryDeckError) as info:
        call()
    return info.value.message


def test_without_a_grant_a_connection_looks_missing_and_nothing_runs(wb: Workbench) -> None:
    assert wb.connections.listing(actor=ALICE).total == 0
    assert [c.name for c in wb.connections.listing(actor=ADMIN).items] == ["chinook", "demo"]
    # same status, code and message as a connection that does not exist
    assert message(lambda: wb.connections.get("chinook", actor=ALICE)) == message(
        lambda: wb.connections.get("nope", actor=ALICE)
    ).replace("nope", "chinook")
    before = run_count(wb)
    for call in (
        lambda: wb.connections.get("chinook", actor=ALICE),
        lambda: wb.runs.start(RunRequest(connection="chinook", sql="SELECT 1"), actor=ALICE),
        lambda: wb.catalog.level("chinook", actor=ALICE),
        lambda: wb.catalog.settings("chinook", actor=ALICE),
        lambda: wb.catalog.refresh("chinook", actor=ALICE),
        lambda: wb.catalog.table_detail("chinook", "main", "Artist", actor=ALICE),
        lambda: wb.connections.test("chinook", actor=ALICE),
        lambda: wb.connections.update("chinook", {}, actor=ALICE),
        lambda: wb.connections.rename("chinook", "x", actor=ALICE),
        lambda: wb.connections.delete("chinook", actor=ALICE),
        lambda: wb.saved.create(
            SavedQueryInput(name="q", sql="SELECT 1", connection="chinook"), actor=ALICE
        ),
    ):
        assert error(call) == (404, "CONNECTION_NOT_FOUND")
    assert run_count(wb) == before  # nothing was even recorded, let alone executed
    wb.catalog.refresh("chinook")
    assert wb.catalog.search("artist", actor=ADMIN).total > 0
    assert wb.catalog.search("artist", actor=ALICE).total == 0
    assert error(lambda: wb.connections.create("x", url="sqlite:///x.db", actor=ALICE)) == (
        403,
        "ADMIN_REQUIRED",
    )


def test_grants_give_actions_and_revocation_holds_at_once(wb: Workbench) -> None:
    wb.grants.grant("chinook", "user", "alice", [Action.query])
    assert [c.name for c in wb.connections.listing(actor=ALICE).items] == ["chinook"]
    assert error(lambda: wb.connections.get("demo", actor=ALICE)) == (404, "CONNECTION_NOT_FOUND")
    run = wb.runs.run(RunRequest(connection="chinook", sql="SELECT 42 AS n"), actor=ALICE)
    assert run.status is RunStatus.succeeded
    assert run.user == "alice"
    assert wb.runs.rows(run.id, actor=ALICE).rows == [[42]]
    wb.catalog.refresh("chinook")
    assert wb.catalog.search("artist", actor=ALICE).total > 0
    assert wb.catalog.level("chinook", actor=ALICE).items
    # a grant without the action is a 403 that names what is missing
    assert error(lambda: wb.runs.export(run.id, ExportFormat.csv, actor=ALICE)) == (
        403,
        "GRANT_MISSING",
    )
    assert error(lambda: wb.catalog.refresh("chinook", actor=ALICE)) == (403, "GRANT_MISSING")
    assert error(lambda: wb.catalog.set_settings("chinook", CatalogSettings(), actor=ALICE)) == (
        403,
        "GRANT_MISSING",
    )
    assert error(
        lambda: wb.runs.start(
            RunRequest(connection="chinook", sql="SELECT 1", export_all=True), actor=ALICE
        )
    ) == (403, "GRANT_MISSING")
    wb.grants.grant("chinook", "user", "alice", ["query", "export"])
    assert wb.runs.export(run.id, ExportFormat.csv, actor=ALICE).total_rows == 1
    assert [g.actions for g in wb.grants.list_grants("chinook")] == [
        [Action.browse, Action.query, Action.export]
    ]
    # revoked: the next call is denied, history hides the run, the run looks missing
    wb.grants.revoke("chinook", "user", "alice")
    assert error(lambda: wb.runs.get(run.id, actor=ALICE)) == (404, "RUN_NOT_FOUND")
    assert error(lambda: wb.runs.rows(run.id, actor=ALICE)) == (404, "RUN_NOT_FOUND")
    assert wb.runs.listing(actor=ALICE).total == 0
    assert error(
        lambda: wb.runs.start(RunRequest(connection="chinook", sql="SELECT 1"), actor=ALICE)
    ) == (404, "CONNECTION_NOT_FOUND")
    assert error(lambda: wb.grants.revoke("chinook", "user", "alice")) == (404, "GRANT_NOT_FOUND")


def test_runs_belong_to_their_user(wb: Workbench) -> None:
    for who in ("alice", "bob"):
        wb.grants.grant("chinook", "user", who, ["query", "export"])
    run = wb.runs.run(RunRequest(connection="chinook", sql="SELECT 1 AS n"), actor=ALICE)
    mine = wb.runs.run(RunRequest(connection="chinook", sql="SELECT 2 AS n"), actor=BOB)
    before = run_count(wb)
    for call in (
        lambda: wb.runs.get(run.id, actor=BOB),
        lambda: wb.runs.rows(run.id, actor=BOB),
        lambda: wb.runs.cancel(run.id, actor=BOB),
        lambda: wb.runs.export(run.id, ExportFormat.csv, actor=BOB),
        lambda: wb.runs.rerun(run.id, actor=BOB),
    ):
        assert error(call) == (404, "RUN_NOT_FOUND")
    assert run_count(wb) == before
    assert [r.id for r in wb.runs.listing(actor=BOB).items] == [mine.id]
    assert {r.id for r in wb.runs.listing(actor=ADMIN).items} >= {run.id, mine.id}
    assert [r.id for r in wb.runs.listing(actor=ADMIN, user="alice").items] == [run.id]
    assert wb.runs.get(run.id, actor=ADMIN).user == "alice"
    again = wb.runs.wait(wb.runs.rerun(run.id, actor=ALICE), None)
    assert again.user == "alice"
    assert again.status is RunStatus.succeeded


def test_group_grants_and_membership(wb: Workbench) -> None:
    group = wb.grants.create_group("Analysts")
    assert error(lambda: wb.grants.create_group("analysts")) == (409, "GROUP_NAME_TAKEN")
    wb.grants.add_group_member("analysts", "bob")
    wb.grants.grant("demo", "group", "ANALYSTS", ["browse"])
    assert [g.subject for g in wb.grants.list_grants("demo")] == ["Analysts"]
    assert [c.name for c in wb.connections.listing(actor=BOB).items] == ["demo"]
    assert wb.connections.listing(actor=ALICE).total == 0
    # browse only: no runs
    assert error(
        lambda: wb.runs.start(RunRequest(connection="demo", sql="SELECT 1"), actor=BOB)
    ) == (403, "GRANT_MISSING")
    assert wb.grants.get_group("analysts").members == ["bob"]
    wb.grants.remove_group_member("analysts", "bob")
    assert wb.connections.listing(actor=BOB).total == 0
    wb.grants.add_group_member("analysts", "bob")
    wb.grants.delete_group("analysts")
    assert wb.connections.listing(actor=BOB).total == 0
    assert wb.grants.list_grants("demo") == []
    assert error(lambda: wb.grants.get_group(group.name)) == (404, "GROUP_NOT_FOUND")
    assert error(lambda: wb.grants.grant("demo", "group", "nope", ["browse"])) == (
        404,
        "GROUP_NOT_FOUND",
    )
    assert error(lambda: wb.grants.grant("demo", "user", "bob", [])) == (422, "GRANT_INVALID")
    assert error(lambda: wb.grants.grant("demo", "user", "bob", ["drop"])) == (422, "GRANT_INVALID")
    assert error(lambda: wb.grants.create_group(" \x07 ")) == (422, "GROUP_NAME_INVALID")


def test_only_admins_manage_grants_groups_and_file_connections(wb: Workbench) -> None:
    wb.grants.grant("chinook", "user", "alice", ["manage"])
    for call in (
        lambda: wb.grants.grant("chinook", "user", "alice", ["export"], actor=ALICE),
        lambda: wb.grants.revoke("chinook", "user", "alice", actor=ALICE),
        lambda: wb.grants.list_grants("chinook", actor=ALICE),
        lambda: wb.grants.create_group("g", actor=ALICE),
        lambda: wb.grants.list_groups(actor=ALICE),
        lambda: wb.grants.add_group_member("g", "alice", actor=ALICE),
        lambda: wb.connections.delete("chinook", actor=ALICE),
        # a file-based connection's options are paths on this server: admins only
        lambda: wb.connections.test("chinook", actor=ALICE),
        lambda: wb.connections.update("chinook", {}, actor=ALICE),
        lambda: wb.admin.add_certificate("ca", b"", actor=ALICE),
        lambda: wb.admin.remove_certificate("x", actor=ALICE),
    ):
        assert error(call) == (403, "ADMIN_REQUIRED")
    # manage covers the catalog
    assert wb.catalog.refresh("chinook", actor=ALICE).connection == "chinook"
    assert wb.catalog.set_settings("chinook", CatalogSettings(), actor=ALICE)


def test_viewers_run_only_saved_queries_shared_with_them(wb: Workbench) -> None:
    wb.grants.grant("chinook", "user", "alice", ["query"])
    granted = wb.grants.grant("chinook", "user", "vera", ["query", "export"])
    assert (granted.actions, granted.withheld) == ([Action.browse, Action.query], [Action.export])
    shared = wb.saved.create(
        SavedQueryInput(
            name="artists", sql="SELECT count(*) AS n FROM Artist", connection="chinook"
        ),
        actor=ALICE,
    )
    private = wb.saved.create(
        SavedQueryInput(name="private", sql="SELECT 1", connection="chinook"), actor=ALICE
    )
    assert wb.saved.listing(actor=VERA).total == 0
    assert error(lambda: wb.saved.get(shared.id, actor=VERA)) == (
        404,
        "SAVED_QUERY_NOT_FOUND",
    )
    assert wb.saved.update(shared.id, SavedQueryChanges(shared=True), actor=ALICE).shared
    assert [q.name for q in wb.saved.listing(actor=VERA).items] == ["artists"]
    assert wb.saved.get("artists", actor=VERA).owner == "alice"
    assert error(lambda: wb.saved.get(private.id, actor=VERA)) == (
        404,
        "SAVED_QUERY_NOT_FOUND",
    )
    run = wb.runs.wait(wb.saved.run("artists", actor=VERA), None)
    assert run.status is RunStatus.succeeded
    assert run.user == "vera"
    assert wb.runs.rows(run.id, actor=VERA).rows == [[275]]
    assert error(lambda: wb.runs.export(run.id, ExportFormat.csv, actor=VERA)) == (
        403,
        "ROLE_FORBIDDEN",
    )
    before = run_count(wb)
    for call in (
        lambda: wb.runs.start(RunRequest(connection="chinook", sql="SELECT 1"), actor=VERA),
        lambda: wb.saved.run("artists", connection="demo", actor=VERA),
        lambda: wb.saved.create(SavedQueryInput(name="v", sql="SELECT 1"), actor=VERA),
        lambda: wb.saved.update(shared.id, SavedQueryChanges(sql="x"), actor=VERA),
    ):
        assert error(call) == (403, "ROLE_FORBIDDEN")
    assert error(lambda: wb.saved.delete(shared.id, actor=VERA)) == (
        403,
        "SAVED_QUERY_NOT_OWNER",
    )
    assert run_count(wb) == before
    # a shared query is visible only with the query grant on its connection
    wb.grants.grant("chinook", "user", "vera", ["browse"])
    assert wb.saved.listing(actor=VERA).total == 0
    assert error(
        lambda: wb.saved.create(SavedQueryInput(name="s", sql="SELECT 1", shared=True))
    ) == (422, "SAVED_QUERY_SHARE_INVALID")


def test_groups_and_grants_cli(
    wb: Workbench, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wb.close()
    monkeypatch.setenv("QUERYDECK_DATA_DIR", str(data_dir))
    runner = CliRunner()

    def cli(*args: str) -> Any:
        return runner.invoke(cli_app, list(args))

    assert cli("groups", "add", "Finance").exit_code == 0
    assert "GROUP_NAME_TAKEN" in cli("groups", "add", "finance").stderr
    assert cli("groups", "add-member", "finance", "alice").exit_code == 0
    assert orjson.loads(cli("groups", "list", "-f", "json").stdout)["items"] == [
        {
            "id": orjson.loads(cli("groups", "list", "-f", "json").stdout)["items"][0]["id"],
            "name": "Finance",
            "members": ["alice"],
        }
    ]
    done = cli("grants", "set", "chinook", "--group", "finance", "-a", "query,export")
    assert done.exit_code == 0, done.output
    assert cli("grants", "set", "chinook", "--user", "bob", "-a", "browse").exit_code == 0
    listed = orjson.loads(cli("grants", "list", "chinook", "-f", "json").stdout)
    assert [(g["subject_kind"], g["subject"], g["actions"]) for g in listed] == [
        ("group", "Finance", ["browse", "query", "export"]),
        ("user", "bob", ["browse"]),
    ]
    bad = cli("grants", "set", "chinook", "--user", "bob", "--group", "finance", "-a", "query")
    assert (bad.exit_code, "GRANT_INVALID" in bad.stderr) == (1, True)
    assert "GRANT_INVALID" in cli("grants", "set", "chinook", "-u", "bob", "-a", "drop").stderr
    assert cli("grants", "revoke", "chinook", "--user", "bob").exit_code == 0
    assert "GRANT_NOT_FOUND" in cli("grants", "revoke", "chinook", "--user", "bob").stderr
    assert cli("groups", "remove-member", "finance", "alice").exit_code == 0
    assert cli("groups", "remove", "finance").exit_code == 0
    assert orjson.loads(cli("grants", "list", "chinook", "-f", "json").stdout) == []
    # A viewer's grant is shown as it applies: export is not a viewer's to use.
    done = cli("grants", "set", "chinook", "--user", "vera", "-a", "query,export")
    assert done.exit_code == 0, done.output
    assert "does not allow export" in done.stderr
    table = cli("grants", "list", "chinook").stdout
    assert "browse, query (not allowed by the role: export)" in table
    [grant] = orjson.loads(cli("grants", "list", "chinook", "-f", "json").stdout)
    assert (grant["actions"], grant["withheld"]) == (["browse", "query"], ["export"])
