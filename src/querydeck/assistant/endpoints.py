"""The registry of model endpoints: OpenAI-compatible servers an administrator registers.

An endpoint's API key is sealed like a connection's secrets (AES-256-GCM, bound to the
endpoint's id) and is write-only: no answer, log or error ever carries it. Capabilities
(chat, JSON output, embeddings and their dimension) are found by probing and kept.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from limits import parse_many
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from querydeck.assistant.client import Call, check_base_url
from querydeck.assistant.models import (
    Capabilities,
    EndpointChanges,
    EndpointInfo,
    EndpointInput,
    EndpointKind,
)
from querydeck.errors import (
    LLMNotConfigured,
    ModelEndpointExists,
    ModelEndpointInvalid,
    ModelEndpointNotFound,
)
from querydeck.sources.secrets import Sealer
from querydeck.store.assistant_tables import ModelEndpointRow
from querydeck.store.database import AppDatabase
from querydeck.store.pages import Page
from querydeck.store.plain import utcnow

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def _owner(endpoint_id: str) -> str:
    """The associated data an endpoint's key is sealed with (never a connection's id)."""
    return f"model-endpoint/{endpoint_id}"


def _check_name(name: str) -> str:
    if not _NAME.match(name):
        raise ModelEndpointInvalid(
            "An endpoint name has 1 to 64 letters, digits, '.', '_' or '-', and starts with "
            "a letter or digit."
        )
    return name


def _check_rate(value: str) -> str:
    value = value.strip()
    if value:
        try:
            parse_many(value)
        except ValueError:
            raise ModelEndpointInvalid(
                f"{value!r} is not a rate limit such as '60/minute'."
            ) from None
    return value


@dataclass(frozen=True)
class Endpoint:
    """An endpoint with its key opened, for one call (never handed to a shell)."""

    info: EndpointInfo
    api_key: str | None

    def call(self) -> Call:
        return Call(self.info.base_url, self.info.model, self.api_key, self.info.timeout_s)


class EndpointRegistry:
    def __init__(self, db: AppDatabase) -> None:
        self._db = db
        self._sealer_: Sealer | None = None

    @property
    def _sealer(self) -> Sealer:
        if self._sealer_ is None:
            raise RuntimeError("the Workbench is not open: endpoint keys cannot be sealed")
        return self._sealer_

    # --- reading --------------------------------------------------------------------

    @staticmethod
    def _info(row: ModelEndpointRow) -> EndpointInfo:
        return EndpointInfo(
            id=row.id,
            name=row.name,
            kind=row.kind,
            base_url=row.base_url,
            model=row.model,
            has_api_key=row.api_key is not None,
            timeout_s=row.timeout_s,
            max_tokens=row.max_tokens,
            rate_limit=row.rate_limit,
            default=row.is_default,
            capabilities=Capabilities.model_validate(row.capabilities or {}),
            created_at=row.created_at,
            updated_at=row.updated_at,
        )

    @staticmethod
    def _row(tx: Session, name: str) -> ModelEndpointRow:
        row = tx.scalar(
            select(ModelEndpointRow).where(ModelEndpointRow.name_key == name.casefold())
        )
        if row is None:
            raise ModelEndpointNotFound(
                f"No model endpoint named {name!r}.", detail={"endpoint": name}
            )
        return row

    def get(self, name: str) -> EndpointInfo:
        with self._db.read() as tx:
            return self._info(self._row(tx, name))

    def listing(self, *, limit: int, offset: int) -> Page[EndpointInfo]:
        with self._db.read() as tx:
            total = tx.scalar(select(func.count()).select_from(ModelEndpointRow)) or 0
            rows = tx.scalars(
                select(ModelEndpointRow)
                .order_by(ModelEndpointRow.name_key)
                .limit(limit)
                .offset(offset)
            ).all()
            return Page(
                items=[self._info(r) for r in rows], total=total, limit=limit, offset=offset
            )

    def resolve(self, name: str | None, kind: EndpointKind) -> Endpoint:
        """The endpoint to call: ``name``, else the default of ``kind``, else the only one
        of that kind; 503 LLM_NOT_CONFIGURED when there is none."""
        with self._db.read() as tx:
            if name is not None:
                row = self._row(tx, name)
                if row.kind != kind:
                    raise ModelEndpointInvalid(
                        f"The endpoint {row.name!r} is a {row.kind} endpoint; a {kind} "
                        "endpoint is needed here.",
                        detail={"endpoint": row.name, "kind": row.kind},
                    )
            else:
                rows = tx.scalars(
                    select(ModelEndpointRow)
                    .where(ModelEndpointRow.kind == kind)
                    .order_by(ModelEndpointRow.is_default.desc(), ModelEndpointRow.name_key)
                    .limit(2)
                ).all()
                if not rows:
                    raise LLMNotConfigured(
                        f"No {kind} model endpoint is registered; an administrator can add "
                        "one (querydeck endpoints add).",
                        detail={"kind": kind},
                    )
                if len(rows) > 1 and not rows[0].is_default:
                    raise LLMNotConfigured(
                        f"Several {kind} endpoints are registered and none is the default; "
                        "name one, or an administrator marks one as the default.",
                        detail={"kind": kind},
                    )
                row = rows[0]
            key = None
            if row.api_key is not None:
                key = self._sealer.open(row.api_key, _owner(row.id)).decode("utf-8")
            return Endpoint(self._info(row), key)

    def maybe(self, kind: EndpointKind) -> Endpoint | None:
        """The default endpoint of ``kind`` when there is one (embeddings are optional)."""
        try:
            return self.resolve(None, kind)
        except LLMNotConfigured:
            return None

    # --- writing --------------------------------------------------------------------

    def create(self, values: EndpointInput) -> EndpointInfo:
        name = _check_name(values.name.strip())
        check_base_url(values.base_url)
        now = utcnow()
        endpoint_id = str(uuid.uuid4())
        key = values.api_key.get_secret_value() if values.api_key else ""
        row = ModelEndpointRow(
            id=endpoint_id,
            name=name,
            name_key=name.casefold(),
            kind=values.kind,
            base_url=values.base_url.strip().rstrip("/"),
            model=values.model,
            api_key=self._sealer.seal(key.encode(), _owner(endpoint_id)) if key else None,
            timeout_s=values.timeout_s,
            max_tokens=values.max_tokens,
            rate_limit=_check_rate(values.rate_limit),
            is_default=values.default,
            capabilities={},
            created_at=now,
            updated_at=now,
        )

        def work(tx: Session) -> EndpointInfo:
            if values.default:
                self._clear_default(tx, values.kind)
            tx.add(row)
            tx.flush()
            return self._info(row)

        try:
            return self._db.write(work)
        except IntegrityError:
            raise ModelEndpointExists(
                f"A model endpoint named {name!r} exists already.", detail={"endpoint": name}
            ) from None

    @staticmethod
    def _clear_default(tx: Session, kind: str) -> None:
        tx.execute(
            update(ModelEndpointRow).where(ModelEndpointRow.kind == kind).values(is_default=False)
        )

    def update(self, name: str, changes: EndpointChanges) -> EndpointInfo:
        if changes.base_url is not None:
            check_base_url(changes.base_url)
        rate = _check_rate(changes.rate_limit) if changes.rate_limit is not None else None

        def work(tx: Session) -> EndpointInfo:
            row = self._row(tx, name)
            if changes.base_url is not None:
                row.base_url = changes.base_url.strip().rstrip("/")
                row.capabilities = {}
            if changes.model is not None:
                row.model = changes.model
                row.capabilities = {}
            if changes.api_key is not None:
                key = changes.api_key.get_secret_value()
                row.api_key = self._sealer.seal(key.encode(), _owner(row.id)) if key else None
            if changes.timeout_s is not None:
                row.timeout_s = changes.timeout_s
            if changes.max_tokens is not None:
                row.max_tokens = changes.max_tokens
            if rate is not None:
                row.rate_limit = rate
            if changes.default is not None:
                if changes.default:
                    self._clear_default(tx, row.kind)
                row.is_default = changes.default
            row.updated_at = utcnow()
            tx.flush()
            return self._info(row)

        return self._db.write(work)

    def delete(self, name: str) -> EndpointInfo:
        def work(tx: Session) -> EndpointInfo:
            row = self._row(tx, name)
            info = self._info(row)
            tx.delete(row)
            return info

        return self._db.write(work)

    def save_capabilities(self, endpoint_id: str, found: Capabilities) -> None:
        def work(tx: Session) -> None:
            row = tx.get(ModelEndpointRow, endpoint_id)
            if row is not None:
                row.capabilities = found.model_dump(mode="json")

        self._db.write(work)

    def reseal(self, tx: Session, new: Sealer) -> int:
        """Seal every API key with ``new`` (in a key rotation's transaction); how many."""
        count = 0
        for row in tx.scalars(select(ModelEndpointRow)).all():
            if row.api_key is not None:
                plain = self._sealer.open(row.api_key, _owner(row.id))
                row.api_key = new.seal(plain, _owner(row.id))
                count += 1
        return count

    def use_sealer(self, sealer: Sealer) -> None:
        """At start-up, and after a key rotation has committed."""
        self._sealer_ = sealer
