"""``querydeck ask`` and ``querydeck eval`` against a querydeck server: the assistant's
routes over the HTTP API, as the token's user (their grants, rate limit and inference
log)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:  # pydantic models the CLI's start does not need to build
    from querydeck.assistant.models import AskAnswer, AskInput, EvalQuestion, EvalReport
    from querydeck.cli.remote import ServerClient


def _segment(value: str) -> str:
    from querydeck.cli.remote import segment

    return segment(value)


class RemoteHarness:
    def __init__(self, client: ServerClient) -> None:
        self._client = client

    def evaluate(
        self,
        connection: str,
        questions: Sequence[EvalQuestion] | None,
        *,
        mode: Literal["pipeline", "baseline", "retrieval"] = "pipeline",
        endpoint: str | None = None,
    ) -> EvalReport:
        body = {
            "questions": None
            if questions is None
            else [q.model_dump(mode="json", exclude_none=True) for q in questions],
            "mode": mode,
            "endpoint": endpoint,
        }
        path = f"/connections/{_segment(connection)}/assistant/eval"
        from querydeck.assistant.models import EvalReport

        return self._client.call(EvalReport, "POST", path, json=body)


class RemoteAssistant:
    def __init__(self, client: ServerClient) -> None:
        self._client = client
        self.harness = RemoteHarness(client)

    def ask(self, connection: str, values: AskInput) -> AskAnswer:
        path = f"/connections/{_segment(connection)}/ask"
        body = values.model_dump(mode="json", exclude_none=True)
        from querydeck.assistant.models import AskAnswer

        return self._client.call(AskAnswer, "POST", path, json=body)
