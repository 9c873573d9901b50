"""Groups and per-connection grants.

A grant gives one user, or every member of one group, a set of actions on one connection.
Nothing is cached: every check reads the grants, so a revocation holds on the next request.
"""

from __future__ import annotations

import unicodedata
import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

from querydeck.auth.principal import Action, Principal
from querydeck.errors import (
    GrantInvalid,
    GrantNotFound,
    GroupMemberNotFound,
    GroupNameInvalid,
    GroupNameTaken,
    GroupNotFound,
)
from querydeck.store.database import AppDatabase
from querydeck.store.pages import Page
from querydeck.store.plain import utcnow

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from querydeck.store.tables import GroupRow

SubjectKind = Literal["user", "group"]
_MAX_NAME = 200


class GroupInfo(BaseModel):
    id: str
    name: str
    members: list[str]


class GrantInfo(BaseModel):
    connection: str
    subject_kind: SubjectKind
    #: The user name, or the group's name.
    subject: str
    #: What the grant allows: for a user, only what their role allows too.
    actions: list[Action]
    withheld: list[Action] = Field(
        default_factory=list,
        description="Granted actions the user's role does not allow (a viewer: export, "
        "manage): they take effect only if the role changes.",
    )


def _key(name: str) -> str:
    return unicodedata.normalize("NFC", name).strip().casefold()


def _group_name(name: str) -> str:
    clean = unicodedata.normalize("NFC", name).strip()
    if not clean or len(clean) > _MAX_NAME or any(unicodedata.category(c)[0] == "C" for c in clean):
        raise GroupNameInvalid(
            f"A group name has 1 to {_MAX_NAME} printable characters.",
        )
    return clean


def _actions(values: Iterable[Action | str]) -> list[Action]:
    try:
        chosen = {Action(v) for v in values}
    except ValueError:
        raise GrantInvalid("Grant actions are browse, query, export and manage.") from None
    if not chosen:
        raise GrantInvalid("A grant names at least one action (revoke it to remove all).")
    # browse comes with any other action: a user who may query a connection sees it.
    chosen.add(Action.browse)
    return sorted(chosen, key=list(Action).index)


class Grants:
    """Groups, memberships and grants in the app database."""

    def __init__(self, db: AppDatabase) -> None:
        self._db = db

    # --- checks -----------------------------------------------------------------------

    def _granted(self, principal: Principal, where: str = "", *params: str) -> list[Any]:
        """``(connection_id, actions)`` of the grants ``principal`` holds, directly and
        through its groups (and matching ``where``): a plain read, as listings scope
        their rows by it."""
        db = self._db
        with db.read_plain() as cursor:
            rows = db.plain.rows(
                cursor,
                "qd_grants",
                f"SELECT connection_id, actions FROM qd_grants WHERE {where}"
                "((subject_kind = 'user' AND subject = ?) OR (subject_kind = 'group' AND "
                "subject IN (SELECT group_id FROM qd_group_members WHERE username = ?)))",
                (*params, principal.username, principal.username),
            )
        return [(row["connection_id"], row["actions"]) for row in rows]

    def actions_for(self, principal: Principal, connection_id: str) -> frozenset[Action]:
        """What the grants (direct and through groups) give ``principal`` on the connection
        (callers cap them by role). Admins may do everything everywhere."""
        if principal.is_admin:
            return frozenset(Action)
        found = self._granted(principal, "connection_id = ? AND ", connection_id)
        return frozenset(Action(a) for _, actions in found for a in actions)

    def connection_ids(self, principal: Principal, action: Action = Action.browse) -> set[str]:
        """Ids of the connections on which a non-admin ``principal`` may do ``action``."""
        if not principal.role_allows(action):
            return set()
        return {cid for cid, actions in self._granted(principal) if action.value in actions}

    # --- groups -----------------------------------------------------------------------

    def _group(self, tx: Session, name: str) -> GroupRow:
        from sqlalchemy import select

        from querydeck.store.tables import GroupRow

        row = tx.scalar(select(GroupRow).where(GroupRow.name_key == _key(name)))
        if row is None:
            raise GroupNotFound(
                f"No group named {name[:_MAX_NAME]!r}.",
                detail={"group": name[:_MAX_NAME]},
            )
        return row

    def _group_info(self, tx: Session, row: GroupRow) -> GroupInfo:
        from sqlalchemy import select

        from querydeck.store.tables import GroupMemberRow

        members = tx.scalars(
            select(GroupMemberRow.username)
            .where(GroupMemberRow.group_id == row.id)
            .order_by(GroupMemberRow.username)
        ).all()
        return GroupInfo(id=row.id, name=row.name, members=list(members))

    def create_group(self, name: str) -> GroupInfo:
        from sqlalchemy.exc import IntegrityError

        from querydeck.store.tables import GroupRow

        clean = _group_name(name)

        def insert(tx: Session) -> GroupInfo:
            row = GroupRow(id=str(uuid.uuid4()), name=clean, name_key=_key(clean))
            row.created_at = utcnow()
            tx.add(row)
            try:
                tx.flush()
            except IntegrityError:
                raise GroupNameTaken(
                    f"A group named {clean!r} already exists.",
                    detail={"group": clean},
                ) from None
            return GroupInfo(id=row.id, name=row.name, members=[])

        return self._db.write(insert)

    def get_group(self, name: str) -> GroupInfo:
        with self._db.read() as tx:
            return self._group_info(tx, self._group(tx, name))

    def list_groups(self, *, limit: int, offset: int) -> Page[GroupInfo]:
        from sqlalchemy import func, select

        from querydeck.store.tables import GroupRow

        with self._db.read() as tx:
            total = tx.scalar(select(func.count()).select_from(GroupRow)) or 0
            rows = tx.scalars(
                select(GroupRow).order_by(GroupRow.name_key).limit(limit).offset(offset)
            ).all()
            items = [self._group_info(tx, r) for r in rows]
        return Page(items=items, total=total, limit=limit, offset=offset)

    def delete_group(self, name: str) -> None:
        from sqlalchemy import delete

        from querydeck.store.tables import GrantRow, GroupMemberRow

        def remove(tx: Session) -> None:
            row = self._group(tx, name)
            tx.execute(
                delete(GrantRow).where(GrantRow.subject_kind == "group", GrantRow.subject == row.id)
            )
            tx.execute(delete(GroupMemberRow).where(GroupMemberRow.group_id == row.id))
            tx.delete(row)

        self._db.write(remove)

    def add_member(self, group: str, username: str) -> GroupInfo:
        from querydeck.store.tables import GroupMemberRow

        def add(tx: Session) -> GroupInfo:
            row = self._group(tx, group)
            if tx.get(GroupMemberRow, (row.id, username)) is None:
                tx.add(GroupMemberRow(group_id=row.id, username=username))
                tx.flush()
            return self._group_info(tx, row)

        return self._db.write(add)

    def remove_member(self, group: str, username: str) -> GroupInfo:
        from querydeck.store.tables import GroupMemberRow

        def remove(tx: Session) -> GroupInfo:
            row = self._group(tx, group)
            member = tx.get(GroupMemberRow, (row.id, username))
            if member is None:
                raise GroupMemberNotFound(
                    f"{username[:_MAX_NAME]!r} is not a member of {row.name!r}.",
                )
            tx.delete(member)
            tx.flush()
            return self._group_info(tx, row)

        return self._db.write(remove)

    def groups_of(self, username: str) -> list[str]:
        from sqlalchemy import select

        from querydeck.store.tables import GroupMemberRow, GroupRow

        with self._db.read() as tx:
            return list(
                tx.scalars(
                    select(GroupRow.name)
                    .join(GroupMemberRow, GroupMemberRow.group_id == GroupRow.id)
                    .where(GroupMemberRow.username == username)
                    .order_by(GroupRow.name_key)
                ).all()
            )

    # --- grants -----------------------------------------------------------------------

    def _subject_id(self, tx: Session, kind: SubjectKind, subject: str) -> str:
        return self._group(tx, subject).id if kind == "group" else subject

    def grant(
        self,
        connection_id: str,
        connection_name: str,
        kind: SubjectKind,
        subject: str,
        actions: Iterable[Action | str],
    ) -> GrantInfo:
        """Set what ``subject`` may do on the connection (replacing an earlier grant)."""
        from sqlalchemy import select

        from querydeck.store.tables import GrantRow

        chosen = _actions(actions)

        def upsert(tx: Session) -> GrantInfo:
            subject_id = self._subject_id(tx, kind, subject)
            row = tx.scalar(
                select(GrantRow).where(
                    GrantRow.connection_id == connection_id,
                    GrantRow.subject_kind == kind,
                    GrantRow.subject == subject_id,
                )
            )
            now = utcnow()
            if row is None:
                row = GrantRow(
                    id=str(uuid.uuid4()),
                    connection_id=connection_id,
                    subject_kind=kind,
                    subject=subject_id,
                    created_at=now,
                )
                tx.add(row)
            row.actions = [a.value for a in chosen]
            row.updated_at = now
            tx.flush()
            shown = subject if kind == "user" else self._group(tx, subject).name
            return GrantInfo(
                connection=connection_name, subject_kind=kind, subject=shown, actions=chosen
            )

        return self._db.write(upsert)

    def revoke(self, connection_id: str, kind: SubjectKind, subject: str) -> None:
        from sqlalchemy import delete

        from querydeck.store.tables import GrantRow

        def remove(tx: Session) -> None:
            subject_id = self._subject_id(tx, kind, subject)
            done = tx.execute(
                delete(GrantRow).where(
                    GrantRow.connection_id == connection_id,
                    GrantRow.subject_kind == kind,
                    GrantRow.subject == subject_id,
                )
            )
            if not done.rowcount:  # type: ignore[attr-defined]
                raise GrantNotFound(
                    f"The {kind} {subject[:_MAX_NAME]!r} has no grant on this connection.",
                )

        self._db.write(remove)

    def list_grants(self, connection_id: str, connection_name: str) -> list[GrantInfo]:
        from sqlalchemy import select

        from querydeck.store.tables import GrantRow, GroupRow

        with self._db.read() as tx:
            rows = tx.execute(
                select(GrantRow, GroupRow.name)
                .outerjoin(
                    GroupRow,
                    (GrantRow.subject_kind == "group") & (GroupRow.id == GrantRow.subject),
                )
                .where(GrantRow.connection_id == connection_id)
                .order_by(GrantRow.subject_kind, GrantRow.subject)
            ).all()
        return [
            GrantInfo(
                connection=connection_name,
                subject_kind="group" if row.subject_kind == "group" else "user",
                subject=group_name if row.subject_kind == "group" and group_name else row.subject,
                actions=[Action(a) for a in row.actions],
            )
            for row, group_name in rows
        ]
