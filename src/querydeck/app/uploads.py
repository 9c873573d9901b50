"""Uploads, as the shells see them: an analyst sends a CSV, Parquet or Excel file and
queries it as a table of their own ``files`` connection, ``uploads-<username>``, created
on their first upload with a grant to them alone (browse, query, export); an
administrator shares it through grants like any connection. Each upload is audited
(``upload.create``: table, format, bytes, SHA-256 of the bytes received)."""

from __future__ import annotations

from collections.abc import Iterable

from querydeck.audit.log import AuditLog
from querydeck.audit.operations import AuditedOperation
from querydeck.auth.access import ad_hoc_sql
from querydeck.auth.grants import Grants
from querydeck.auth.principal import LOCAL, Action, Principal
from querydeck.errors import ConnectionNotFound, UploadsConnectionTaken
from querydeck.sources.connections import ConnectionStore
from querydeck.sources.models import ConnectionInfo, UploadInfo
from querydeck.sources.uploads import PendingUpload, UploadStore, table_name

#: What the uploader may do on their own uploads connection.
OWNER_ACTIONS = (Action.browse, Action.query, Action.export)


def connection_name(username: str) -> str:
    return f"uploads-{username}"


class UploadService:
    """Receive a file into the uploader's directory and make it a table of their
    connection."""

    def __init__(
        self, store: UploadStore, connections: ConnectionStore, grants: Grants, *, audit: AuditLog
    ) -> None:
        self._store = store
        self._connections = connections
        self._grants = grants
        self._audit = audit

    def begin(
        self, filename: str, *, table: str | None = None, actor: Principal = LOCAL
    ) -> PendingUpload:
        """A file to receive for ``actor`` (analysts and administrators): write its chunks,
        then :meth:`finish` it (or ``discard`` it)."""
        ad_hoc_sql(actor)
        return self._store.begin(actor.username, table_name(table, filename))

    def finish(
        self, upload: PendingUpload, *, replace: bool = False, actor: Principal = LOCAL
    ) -> UploadInfo:
        """Type the file by its content, make it the table, and make sure the uploader's
        connection exists and is theirs."""
        detail = {"table": upload.table, "bytes": upload.size, "replace": replace}
        with AuditedOperation(
            self._audit, "upload.create", actor, detail, target_type="connection"
        ) as op:
            kind, replaced = self._store.keep(upload, replace=replace)
            info = self._own_connection(actor, upload)
            op.done(info.id, format=kind, sha256=upload.digest.hexdigest(), replaced=replaced)
        return UploadInfo(
            connection=info.name,
            table=upload.table,
            format=kind,
            bytes=upload.size,
            sha256=upload.digest.hexdigest(),
            replaced=replaced,
        )

    def upload(
        self,
        filename: str,
        chunks: Iterable[bytes],
        *,
        table: str | None = None,
        replace: bool = False,
        actor: Principal = LOCAL,
    ) -> UploadInfo:
        """Receive ``chunks`` as the file ``filename`` in one call."""
        pending = self.begin(filename, table=table, actor=actor)
        try:
            for chunk in chunks:
                pending.write(chunk)
        except BaseException:
            pending.discard()
            raise
        return self.finish(pending, replace=replace, actor=actor)

    def _own_connection(self, actor: Principal, upload: PendingUpload) -> ConnectionInfo:
        name = connection_name(actor.username)
        path = str(upload.directory.expanduser().absolute())
        try:
            info = self._connections.get(name)
        except ConnectionNotFound:
            info = self._connections.create(name, "files", options={"path": path})
        if info.driver != "files" or info.options.get("path") != path:
            raise UploadsConnectionTaken(
                f"The connection name {name!r} is taken by another connection; ask an "
                "administrator to rename it.",
                detail={"connection": name},
            )
        if not actor.is_admin and not self._grants.actions_for(actor, info.id):
            self._grants.grant(info.id, info.name, "user", actor.username, OWNER_ACTIONS)
        return info
