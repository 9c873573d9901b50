"""/api/v1/assistant/… (model endpoints, the inference log, answers) and the assistant's
routes under /api/v1/connections/{name}/… (ask, candidates, settings, knowledge base,
eval)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from querydeck.api.auth import CurrentPrincipal
from querydeck.api.bodies import bounded_body
from querydeck.api.deps import Limit, Offset, WorkbenchDep
from querydeck.assistant.markdown import MAX_FILE_BYTES
from querydeck.assistant.models import (
    MAX_QUESTION_CHARS,
    AnswerSummary,
    AskAnswer,
    AskInput,
    AssistantSettings,
    Candidate,
    EndpointChanges,
    EndpointInfo,
    EndpointInput,
    EvalQuestion,
    EvalReport,
    Example,
    ExampleChanges,
    ExampleInput,
    ExampleStatus,
    GlossaryEntry,
    GlossaryInput,
    ImportReport,
    InferenceEntry,
    InvokeInput,
    InvokeResult,
)
from querydeck.errors import KnowledgeFileInvalid
from querydeck.store.pages import Page

router = APIRouter(tags=["assistant"])


# --- model endpoints --------------------------------------------------------------------


@router.get("/assistant/endpoints", response_model=Page[EndpointInfo])
def list_endpoints(
    workbench: WorkbenchDep, principal: CurrentPrincipal, limit: Limit = 100, offset: Offset = 0
) -> Page[EndpointInfo]:
    """Registered model endpoints (API keys are never shown, only whether one is set)."""
    return workbench.assistant.endpoints.listing(limit=limit, offset=offset, actor=principal)


@router.post("/assistant/endpoints", response_model=EndpointInfo, status_code=201)
def create_endpoint(
    body: EndpointInput, workbench: WorkbenchDep, principal: CurrentPrincipal
) -> EndpointInfo:
    """Register an OpenAI-compatible endpoint (administrators)."""
    return workbench.assistant.endpoints.create(body, actor=principal)


@router.get("/assistant/endpoints/{name}", response_model=EndpointInfo)
def get_endpoint(name: str, workbench: WorkbenchDep, principal: CurrentPrincipal) -> EndpointInfo:
    return workbench.assistant.endpoints.get(name, actor=principal)


@router.patch("/assistant/endpoints/{name}", response_model=EndpointInfo)
def update_endpoint(
    name: str, body: EndpointChanges, workbench: WorkbenchDep, principal: CurrentPrincipal
) -> EndpointInfo:
    """Change some fields (administrators); ``"api_key": ""`` removes the key."""
    return workbench.assistant.endpoints.update(name, body, actor=principal)


@router.delete("/assistant/endpoints/{name}", status_code=204)
def delete_endpoint(name: str, workbench: WorkbenchDep, principal: CurrentPrincipal) -> Response:
    workbench.assistant.endpoints.delete(name, actor=principal)
    return Response(status_code=204)


@router.post("/assistant/endpoints/{name}/test", response_model=EndpointInfo)
def test_endpoint(name: str, workbench: WorkbenchDep, principal: CurrentPrincipal) -> EndpointInfo:
    """Probe the endpoint's capabilities (chat, JSON output, embeddings and their
    dimension) and keep them (administrators)."""
    return workbench.assistant.endpoints.test(name, actor=principal)


@router.post("/assistant/endpoints/{name}/invoke", response_model=InvokeResult)
def invoke_endpoint(
    name: str, body: InvokeInput, workbench: WorkbenchDep, principal: CurrentPrincipal
) -> InvokeResult:
    """One raw call: ``messages`` for a chat endpoint, ``input`` for an embeddings one
    (administrators and analysts; logged and rate limited like a question)."""
    return workbench.assistant.endpoints.invoke(name, body, actor=principal)


# --- the inference log ------------------------------------------------------------------


@router.get("/assistant/inference-log", response_model=Page[InferenceEntry])
def inference_log(
    workbench: WorkbenchDep,
    principal: CurrentPrincipal,
    limit: Limit = 50,
    offset: Offset = 0,
    everyone: Annotated[
        bool, Query(alias="all", description="Every user's entries (administrators).")
    ] = False,
    user: Annotated[str | None, Query(max_length=200)] = None,
    purpose: Annotated[str | None, Query(max_length=32)] = None,
    answer_id: Annotated[str | None, Query(max_length=36)] = None,
) -> Page[InferenceEntry]:
    """The caller's model calls, newest first (another user's or everyone's: admins)."""
    return workbench.assistant.endpoints.inference_log(
        actor=principal,
        limit=limit,
        offset=offset,
        everyone=everyone,
        user=user,
        purpose=purpose,
        answer_id=answer_id,
    )


# --- asking -----------------------------------------------------------------------------


@router.post("/connections/{name}/ask", response_model=AskAnswer)
def ask(
    name: str, body: AskInput, workbench: WorkbenchDep, principal: CurrentPrincipal
) -> AskAnswer:
    """A question in plain language to one checked SELECT: the SQL, the candidate tables
    with scores, the tables chosen, the examples used, what was sent to the model, the
    correction rounds, tokens and latency; with ``execute``, ``run_id`` of a normal run."""
    return workbench.assistant.ask(name, body, actor=principal)


@router.get("/connections/{name}/assistant/candidates", response_model=list[Candidate])
def candidates(
    name: str,
    workbench: WorkbenchDep,
    principal: CurrentPrincipal,
    q: Annotated[str, Query(min_length=1, max_length=MAX_QUESTION_CHARS)],
    limit: Annotated[int, Query(ge=1, le=200)] = 10,
) -> list[Candidate]:
    """The candidate tables retrieval finds for a question (no chat model call)."""
    return workbench.assistant.retrieve(name, q, limit=limit, actor=principal)


@router.get("/connections/{name}/assistant/settings", response_model=AssistantSettings)
def get_settings(
    name: str, workbench: WorkbenchDep, principal: CurrentPrincipal
) -> AssistantSettings:
    return workbench.assistant.connection_settings(name, actor=principal)


@router.put("/connections/{name}/assistant/settings", response_model=AssistantSettings)
def put_settings(
    name: str, body: AssistantSettings, workbench: WorkbenchDep, principal: CurrentPrincipal
) -> AssistantSettings:
    """Sampling values for the value index, and sending samples to the model (``manage``)."""
    return workbench.assistant.set_connection_settings(name, body, actor=principal)


@router.get("/assistant/answers", response_model=Page[AnswerSummary])
def list_answers(
    workbench: WorkbenchDep, principal: CurrentPrincipal, limit: Limit = 50, offset: Offset = 0
) -> Page[AnswerSummary]:
    """The caller's answers, newest first."""
    return workbench.assistant.list_answers(actor=principal, limit=limit, offset=offset)


@router.get("/assistant/answers/{answer_id}", response_model=AskAnswer)
def get_answer(answer_id: str, workbench: WorkbenchDep, principal: CurrentPrincipal) -> AskAnswer:
    return workbench.assistant.get_answer(answer_id, actor=principal)


class Feedback(BaseModel):
    model_config = ConfigDict(extra="forbid")

    vote: Literal["up", "down"]


@router.post("/assistant/answers/{answer_id}/feedback", response_model=Example | None)
def feedback(
    answer_id: str, body: Feedback, workbench: WorkbenchDep, principal: CurrentPrincipal
) -> Example | None:
    """A thumbs-up makes the answer a candidate example (returned); a thumbs-down is kept
    on the answer."""
    return workbench.assistant.feedback(answer_id, body.vote, actor=principal)


@router.post("/assistant/answers/{answer_id}/explain", response_model=AskAnswer)
def explain_answer(
    answer_id: str, workbench: WorkbenchDep, principal: CurrentPrincipal
) -> AskAnswer:
    """The answer's SQL explained in plain words (one model call, counted like a question
    and kept with the answer; an answer already explained calls no model)."""
    return workbench.assistant.explain_answer(answer_id, actor=principal)


class EvalRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    questions: list[EvalQuestion] | None = Field(
        default=None,
        max_length=1000,
        description="Questions with gold SQL; none: leave-one-out over approved examples.",
    )
    mode: Literal["pipeline", "baseline", "retrieval"] = "pipeline"
    endpoint: str | None = None


@router.post("/connections/{name}/assistant/eval", response_model=EvalReport)
def evaluate(
    name: str, body: EvalRequest, workbench: WorkbenchDep, principal: CurrentPrincipal
) -> EvalReport:
    """Run the accuracy harness (``query`` on the connection: it executes gold SQL)."""
    return workbench.assistant.harness.evaluate(
        name, body.questions, mode=body.mode, endpoint=body.endpoint, actor=principal
    )


# --- the knowledge base -----------------------------------------------------------------


@router.get("/connections/{name}/knowledge/examples", response_model=Page[Example])
def list_examples(
    name: str,
    workbench: WorkbenchDep,
    principal: CurrentPrincipal,
    status: Annotated[ExampleStatus | None, Query()] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Page[Example]:
    return workbench.assistant.knowledge.list_examples(
        name, status=status, limit=limit, offset=offset, actor=principal
    )


@router.post("/connections/{name}/knowledge/examples", response_model=Example, status_code=201)
def add_example(
    name: str, body: ExampleInput, workbench: WorkbenchDep, principal: CurrentPrincipal
) -> Example:
    """A candidate example (guarded and EXPLAINed before it is saved)."""
    return workbench.assistant.knowledge.add_example(name, body, actor=principal)


@router.get("/connections/{name}/knowledge/examples/{example_id}", response_model=Example)
def get_example(
    name: str, example_id: str, workbench: WorkbenchDep, principal: CurrentPrincipal
) -> Example:
    return workbench.assistant.knowledge.get_example(name, example_id, actor=principal)


@router.patch("/connections/{name}/knowledge/examples/{example_id}", response_model=Example)
def update_example(
    name: str,
    example_id: str,
    body: ExampleChanges,
    workbench: WorkbenchDep,
    principal: CurrentPrincipal,
) -> Example:
    """Edit (``manage``); a changed question or SQL makes it a candidate again."""
    return workbench.assistant.knowledge.update_example(name, example_id, body, actor=principal)


class Review(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: ExampleStatus


@router.post("/connections/{name}/knowledge/examples/{example_id}/review", response_model=Example)
def review_example(
    name: str, example_id: str, body: Review, workbench: WorkbenchDep, principal: CurrentPrincipal
) -> Example:
    """Approve (checked again first), set back to candidate, or mark stale (``manage``)."""
    return workbench.assistant.knowledge.review_example(
        name, example_id, body.status, actor=principal
    )


@router.delete("/connections/{name}/knowledge/examples/{example_id}", status_code=204)
def delete_example(
    name: str, example_id: str, workbench: WorkbenchDep, principal: CurrentPrincipal
) -> Response:
    workbench.assistant.knowledge.delete_example(name, example_id, actor=principal)
    return Response(status_code=204)


@router.get("/connections/{name}/knowledge/glossary", response_model=Page[GlossaryEntry])
def list_glossary(
    name: str,
    workbench: WorkbenchDep,
    principal: CurrentPrincipal,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Page[GlossaryEntry]:
    return workbench.assistant.knowledge.list_glossary(
        name, limit=limit, offset=offset, actor=principal
    )


@router.put("/connections/{name}/knowledge/glossary", response_model=GlossaryEntry)
def put_term(
    name: str,
    body: GlossaryInput,
    response: Response,
    workbench: WorkbenchDep,
    principal: CurrentPrincipal,
) -> GlossaryEntry:
    """Create (201) or replace (200) the entry of ``term`` (``manage``)."""
    entry, created = workbench.assistant.knowledge.put_term(name, body, actor=principal)
    response.status_code = 201 if created else 200
    return entry


@router.delete("/connections/{name}/knowledge/glossary/{term}", status_code=204)
def delete_term(
    name: str, term: str, workbench: WorkbenchDep, principal: CurrentPrincipal
) -> Response:
    workbench.assistant.knowledge.delete_term(name, term, actor=principal)
    return Response(status_code=204)


@router.get(
    "/connections/{name}/knowledge/export",
    response_class=Response,
    responses={200: {"content": {"text/markdown": {}}}},
)
def export_knowledge(name: str, workbench: WorkbenchDep, principal: CurrentPrincipal) -> Response:
    """The knowledge base as one Markdown file (see docs/assistant.md for the layout)."""
    text = workbench.assistant.knowledge.export_markdown(name, actor=principal)
    return Response(text, media_type="text/markdown; charset=utf-8")


@router.post(
    "/connections/{name}/knowledge/import",
    response_model=ImportReport,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"text/markdown": {"schema": {"type": "string"}}},
        }
    },
)
async def import_knowledge(
    name: str, request: Request, workbench: WorkbenchDep, principal: CurrentPrincipal
) -> ImportReport:
    """Add or update examples and glossary entries from a Markdown file (``manage``)."""
    raw = await bounded_body(request, MAX_FILE_BYTES, "A knowledge file")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise KnowledgeFileInvalid("A knowledge file is UTF-8 text.", detail={"line": 1}) from None
    return await run_in_threadpool(
        workbench.assistant.knowledge.import_markdown, name, text, actor=principal
    )
