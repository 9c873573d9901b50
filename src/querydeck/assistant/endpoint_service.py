"""Model endpoints and the inference log, as the shells see them:
``workbench.assistant.endpoints``.

Everyone signed in lists endpoints (never their keys); administrators register, change,
test and remove them; admins and analysts ``invoke`` one (rate limited like a question).
Each user reads their own inference log entries; administrators read everyone's.
"""

from __future__ import annotations

from collections.abc import Callable

import orjson

from querydeck.assistant.client import EndpointPolicy, check_base_url
from querydeck.assistant.endpoints import Endpoint, EndpointRegistry
from querydeck.assistant.inference import Models, Purpose
from querydeck.assistant.models import (
    Capabilities,
    EndpointChanges,
    EndpointInfo,
    EndpointInput,
    InferenceEntry,
    InvokeInput,
    InvokeResult,
)
from querydeck.audit.log import AuditLog
from querydeck.auth.access import ad_hoc_sql, admin_only
from querydeck.auth.principal import LOCAL, Principal
from querydeck.errors import InvalidInput, QueryDeckError
from querydeck.store.pages import Page
from querydeck.store.plain import utcnow


class EndpointService:
    def __init__(
        self,
        registry: EndpointRegistry,
        models: Models,
        policy: EndpointPolicy,
        *,
        audit: AuditLog,
        rate: Callable[[Principal], None],
    ) -> None:
        self.registry = registry
        self._models = models
        self._policy = policy
        self._audit = audit
        self._rate = rate

    def listing(
        self, *, limit: int = 100, offset: int = 0, actor: Principal = LOCAL
    ) -> Page[EndpointInfo]:
        del actor  # every signed-in user may see which endpoints exist
        return self.registry.listing(limit=limit, offset=offset)

    def get(self, name: str, *, actor: Principal = LOCAL) -> EndpointInfo:
        del actor
        return self.registry.get(name)

    def _check_target(self, base_url: str) -> None:
        parts = check_base_url(base_url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        self._policy.pin(str(parts.hostname), port)

    def create(self, values: EndpointInput, *, actor: Principal = LOCAL) -> EndpointInfo:
        admin_only(actor, "register model endpoints")
        self._check_target(values.base_url)
        info = self.registry.create(values)
        self._audit.record(
            "model_endpoint.create",
            actor=actor,
            target_type="model_endpoint",
            target_id=info.id,
            detail={"name": info.name, "kind": info.kind, "model": info.model},
        )
        return info

    def update(
        self, name: str, changes: EndpointChanges, *, actor: Principal = LOCAL
    ) -> EndpointInfo:
        admin_only(actor, "change model endpoints")
        if changes.base_url is not None:
            self._check_target(changes.base_url)
        info = self.registry.update(name, changes)
        self._audit.record(
            "model_endpoint.update",
            actor=actor,
            target_type="model_endpoint",
            target_id=info.id,
            detail={
                "name": info.name,
                "changed": sorted(changes.model_dump(exclude_unset=True, exclude={"api_key"}))
                + (["api_key"] if changes.api_key is not None else []),
            },
        )
        return info

    def delete(self, name: str, *, actor: Principal = LOCAL) -> None:
        admin_only(actor, "remove model endpoints")
        info = self.registry.delete(name)
        self._audit.record(
            "model_endpoint.delete",
            actor=actor,
            target_type="model_endpoint",
            target_id=info.id,
            detail={"name": info.name},
        )

    def test(self, name: str, *, actor: Principal = LOCAL) -> EndpointInfo:
        """Probe what the endpoint can do (chat, JSON output; embeddings and dimension)
        and keep it."""
        admin_only(actor, "test model endpoints")
        info = self.registry.get(name)
        endpoint = self.registry.resolve(name, info.kind)
        why = Purpose(actor.username, "probe")
        found = Capabilities(probed_at=utcnow())
        try:
            if info.kind == "embeddings":
                reply = self._models.embed(endpoint, ["querydeck"], why)
                vectors = reply.embeddings or []
                found.embeddings, found.dimension = True, len(vectors[0]) if vectors else None
                found.chat = False
            else:
                self._models.chat(
                    endpoint, [{"role": "user", "content": "Answer with the word: ok"}], why
                )
                found.chat, found.embeddings = True, False
                found.json_output = self._probe_json(endpoint, why)
        except QueryDeckError as exc:
            found.error_code = exc.code
            self.registry.save_capabilities(info.id, found)
            raise
        self.registry.save_capabilities(info.id, found)
        return self.registry.get(name)

    def _probe_json(self, endpoint: Endpoint, why: Purpose) -> bool:
        try:
            reply = self._models.chat(
                endpoint,
                [{"role": "user", "content": 'Answer with this JSON object: {"ok": true}'}],
                why,
                json_output=True,
            )
            return isinstance(orjson.loads(reply.content or ""), dict)
        except (QueryDeckError, orjson.JSONDecodeError):
            return False

    def invoke(self, name: str, values: InvokeInput, *, actor: Principal = LOCAL) -> InvokeResult:
        """One raw call of an endpoint (admins and analysts), logged like any other."""
        ad_hoc_sql(actor)
        self._rate(actor)
        info = self.registry.get(name)
        endpoint = self.registry.resolve(name, info.kind)
        why = Purpose(actor.username, "invoke")
        if info.kind == "embeddings":
            if not values.input or values.messages:
                raise InvalidInput("An embeddings endpoint takes `input` (a list of texts).")
            reply = self._models.embed(endpoint, values.input, why)
        else:
            if not values.messages or values.input:
                raise InvalidInput("A chat endpoint takes `messages`.")
            reply = self._models.chat(
                endpoint,
                [m.model_dump() for m in values.messages],
                why,
                json_output=values.json_output,
            )
        return InvokeResult(
            endpoint=info.name,
            content=reply.content,
            embeddings=reply.embeddings,
            tokens_in=reply.tokens_in,
            tokens_out=reply.tokens_out,
            latency_ms=reply.latency_ms,
        )

    def inference_log(
        self,
        *,
        actor: Principal = LOCAL,
        limit: int = 50,
        offset: int = 0,
        everyone: bool = False,
        user: str | None = None,
        purpose: str | None = None,
        answer_id: str | None = None,
    ) -> Page[InferenceEntry]:
        """The caller's own entries; ``everyone`` or another ``user`` only for admins."""
        if everyone or (user is not None and user != actor.username):
            admin_only(actor, "read other users' inference logs")
            who = user
        else:
            who = actor.username
        return self._models.log.listing(
            user=who, limit=limit, offset=offset, purpose=purpose, answer_id=answer_id
        )
