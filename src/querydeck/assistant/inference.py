"""Every call to a model, whatever asked for it (ask, invoke, eval, probing), is an entry of
the inference log: user, endpoint, purpose, latency, tokens, outcome, and the prompt and
response, each cut to ``assistant_log_max_chars`` and redacted of the endpoint's key and
anything that looks like a bearer token. Users read their own entries; administrators all.

:class:`Models` is the one way the assistant calls a model: the endpoint's own rate limit,
the call, then its log entry (also when it failed).
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import cast

import orjson
from limits import RateLimitItem, parse_many
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from sqlalchemy import Table, func, select

from querydeck.assistant.client import ModelClient, Reply
from querydeck.assistant.endpoints import Endpoint
from querydeck.assistant.models import InferenceEntry
from querydeck.errors import ModelRateLimited, QueryDeckError
from querydeck.store.assistant_tables import InferenceRow
from querydeck.store.database import AppDatabase
from querydeck.store.pages import Page
from querydeck.store.plain import utcnow

_BEARER = re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]{8,}")
_KEYISH = re.compile(r"\b(sk-[A-Za-z0-9_-]{8,})")
REDACTED = "[redacted]"
INFERENCE_TABLE = cast(Table, InferenceRow.__table__)


def redact(text: str, secrets: Sequence[str]) -> str:
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, REDACTED)
    text = _BEARER.sub(lambda m: m.group(1) + REDACTED, text)
    return _KEYISH.sub(REDACTED, text)


def cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n[… {len(text) - limit:,} more characters not kept]"


@dataclass(frozen=True)
class Purpose:
    """Why a call is made, and for whom."""

    user: str
    purpose: str
    connection_id: str | None = None
    answer_id: str | None = None


class InferenceLog:
    def __init__(self, db: AppDatabase, *, max_chars: int) -> None:
        self._db = db
        self._max_chars = max_chars

    def record(
        self,
        endpoint: Endpoint,
        why: Purpose,
        *,
        prompt: str,
        response: str,
        latency_ms: float,
        tokens_in: int | None = None,
        tokens_out: int | None = None,
        error: QueryDeckError | None = None,
    ) -> None:
        secrets = [endpoint.api_key] if endpoint.api_key else []
        row = InferenceRow(
            id=str(uuid.uuid4()),
            at=utcnow(),
            user_name=why.user,
            endpoint_id=endpoint.info.id,
            endpoint_name=endpoint.info.name,
            purpose=why.purpose,
            connection_id=why.connection_id,
            answer_id=why.answer_id,
            latency_ms=latency_ms,
            tokens_in=tokens_in,
            tokens_out=tokens_out,
            status="ok" if error is None else "error",
            error_code=None if error is None else error.code,
            prompt=cut(redact(prompt, secrets), self._max_chars),
            response=cut(redact(response, secrets), self._max_chars),
        )
        self._db.write(lambda tx: tx.add(row))

    def listing(
        self,
        *,
        user: str | None,
        limit: int,
        offset: int,
        purpose: str | None = None,
        answer_id: str | None = None,
    ) -> Page[InferenceEntry]:
        """Entries newest first; ``user`` None lists everyone's (administrators)."""
        where = []
        if user is not None:
            where.append(InferenceRow.user_name == user)
        if purpose is not None:
            where.append(InferenceRow.purpose == purpose)
        if answer_id is not None:
            where.append(InferenceRow.answer_id == answer_id)
        with self._db.read() as tx:
            total = tx.scalar(select(func.count()).select_from(InferenceRow).where(*where))
            rows = tx.scalars(
                select(InferenceRow)
                .where(*where)
                .order_by(InferenceRow.at.desc(), InferenceRow.id.desc())
                .limit(limit)
                .offset(offset)
            ).all()
        items = [
            InferenceEntry(
                id=r.id,
                at=r.at,
                user=r.user_name,
                endpoint=r.endpoint_name,
                purpose=r.purpose,
                connection_id=r.connection_id,
                answer_id=r.answer_id,
                latency_ms=r.latency_ms,
                tokens_in=r.tokens_in,
                tokens_out=r.tokens_out,
                status="ok" if r.status == "ok" else "error",
                error_code=r.error_code,
                prompt=r.prompt,
                response=r.response,
            )
            for r in rows
        ]
        return Page(items=items, total=int(total or 0), limit=limit, offset=offset)


class Models:
    """Calls a model through ``client`` and logs each call."""

    def __init__(self, client: ModelClient, log: InferenceLog) -> None:
        self.client = client
        self.log = log
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        self._items: dict[str, tuple[RateLimitItem, ...]] = {}
        self._lock = threading.Lock()

    def _limit(self, endpoint: Endpoint) -> None:
        spec = endpoint.info.rate_limit
        if not spec:
            return
        with self._lock:
            items = self._items.get(spec)
            if items is None:
                items = self._items[spec] = tuple(parse_many(spec))
        for item in items:
            if not self._limiter.hit(item, "endpoint", endpoint.info.id):
                stats = self._limiter.get_window_stats(item, "endpoint", endpoint.info.id)
                retry = max(1, int(stats.reset_time - time.time()) + 1)
                raise ModelRateLimited(
                    f"The endpoint {endpoint.info.name!r} allows {item}; try again in {retry} s.",
                    detail={"retry_after_s": retry, "limit": str(item)},
                )

    def chat(
        self,
        endpoint: Endpoint,
        messages: Sequence[Mapping[str, str]],
        why: Purpose,
        *,
        json_output: bool = False,
    ) -> Reply:
        prompt = "\n\n".join(f"[{m['role']}]\n{m['content']}" for m in messages)
        return self._logged(
            endpoint,
            why,
            prompt,
            lambda: self.client.chat(
                endpoint.call(),
                messages,
                max_tokens=endpoint.info.max_tokens,
                json_output=json_output,
            ),
        )

    def embed(self, endpoint: Endpoint, texts: Sequence[str], why: Purpose) -> Reply:
        prompt = orjson.dumps(list(texts)).decode()
        return self._logged(
            endpoint, why, prompt, lambda: self.client.embed(endpoint.call(), texts)
        )

    def _logged(
        self, endpoint: Endpoint, why: Purpose, prompt: str, call: Callable[[], Reply]
    ) -> Reply:
        started = time.monotonic()
        try:
            self._limit(endpoint)
            reply = call()
        except QueryDeckError as exc:
            self.log.record(
                endpoint,
                why,
                prompt=prompt,
                response=exc.message,
                latency_ms=round((time.monotonic() - started) * 1000, 3),
                error=exc,
            )
            raise
        response = reply.content if reply.content is not None else reply.body
        self.log.record(
            endpoint,
            why,
            prompt=prompt,
            response=response,
            latency_ms=reply.latency_ms,
            tokens_in=reply.tokens_in,
            tokens_out=reply.tokens_out,
        )
        return reply
