"""The values the assistant hands to its shells (API, CLI) and takes from them."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

EndpointKind = Literal["chat", "embeddings"]
ExampleStatus = Literal["candidate", "approved", "stale"]

MAX_QUESTION_CHARS = 4000
MAX_SQL_CHARS = 100_000


class EndpointInput(BaseModel):
    """A model endpoint to register (administrators)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    kind: EndpointKind = "chat"
    base_url: str = Field(
        min_length=1,
        max_length=2000,
        description="The OpenAI-compatible base URL, e.g. http://127.0.0.1:11434/v1.",
    )
    model: str = Field(min_length=1, max_length=400)
    api_key: SecretStr | None = Field(
        default=None, max_length=4000, description="Write-only: never returned."
    )
    timeout_s: float = Field(default=60.0, gt=0, le=600)
    max_tokens: int = Field(default=1024, ge=16, le=32_768)
    rate_limit: str = Field(
        default="",
        max_length=200,
        description="Calls to this endpoint in the `limits` notation (`60/minute`); empty: "
        "no limit of its own.",
    )
    default: bool = Field(default=False, description="The endpoint asks use by default.")


class EndpointChanges(BaseModel):
    """Fields to change; ``api_key: ""`` removes the key."""

    model_config = ConfigDict(extra="forbid")

    base_url: str | None = Field(default=None, min_length=1, max_length=2000)
    model: str | None = Field(default=None, min_length=1, max_length=400)
    api_key: SecretStr | None = Field(default=None, max_length=4000)
    timeout_s: float | None = Field(default=None, gt=0, le=600)
    max_tokens: int | None = Field(default=None, ge=16, le=32_768)
    rate_limit: str | None = Field(default=None, max_length=200)
    default: bool | None = None


class Capabilities(BaseModel):
    """What probing the endpoint found (None: not probed yet)."""

    chat: bool | None = None
    json_output: bool | None = None
    embeddings: bool | None = None
    dimension: int | None = None
    probed_at: datetime | None = None
    error_code: str | None = None


class EndpointInfo(BaseModel):
    id: str
    name: str
    kind: EndpointKind
    base_url: str
    model: str
    has_api_key: bool
    timeout_s: float
    max_tokens: int
    rate_limit: str
    default: bool
    capabilities: Capabilities
    created_at: datetime
    updated_at: datetime


class Message(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Literal["system", "user", "assistant"]
    content: str = Field(max_length=200_000)


class InvokeInput(BaseModel):
    """A raw call of a chat endpoint (``messages``) or an embeddings one (``input``)."""

    model_config = ConfigDict(extra="forbid")

    messages: list[Message] = Field(default_factory=list, max_length=100)
    input: list[str] = Field(default_factory=list, max_length=256)
    json_output: bool = False


class InvokeResult(BaseModel):
    endpoint: str
    content: str | None = None
    embeddings: list[list[float]] | None = None
    tokens_in: int | None = None
    tokens_out: int | None = None
    latency_ms: float


class InferenceEntry(BaseModel):
    id: str
    at: datetime
    user: str
    endpoint: str
    purpose: str
    connection_id: str | None = None
    answer_id: str | None = None
    latency_ms: float
    tokens_in: int | None = None
    tokens_out: int | None = None
    status: Literal["ok", "error"]
    error_code: str | None = None
    prompt: str
    response: str


class AskInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: str = Field(min_length=1, max_length=MAX_QUESTION_CHARS)
    endpoint: str | None = Field(default=None, description="A chat endpoint (else the default).")
    follow_up_of: str | None = Field(
        default=None, description="The id of an earlier answer this question follows."
    )
    execute: bool = Field(default=False, description="Also run the SQL (a normal run).")
    explain: bool = Field(default=False, description="Also explain the SQL in plain words.")
    max_rows: int | None = Field(default=None, ge=1)


class Candidate(BaseModel):
    schema_name: str
    table: str
    score: float
    why: list[str] = Field(
        default_factory=list, description="lexical, values, embeddings, foreign_key, example"
    )


class ExampleUsed(BaseModel):
    id: str
    question: str
    score: float


class Sent(BaseModel):
    """What reached the model."""

    tables: list[str] = Field(description="Tables whose DDL was sent.")
    candidate_names: int = Field(description="Candidate table names shown for the choice.")
    sample_values: bool
    value_matches: int = Field(description="Question words matched to column values.")
    examples: int
    glossary: int


class Problem(BaseModel):
    kind: Literal["guard", "unknown_table", "unknown_column", "explain", "syntax"]
    message: str
    name: str | None = None
    suggestions: list[str] = Field(default_factory=list)


class Round(BaseModel):
    sql: str
    problems: list[Problem]


class AskAnswer(BaseModel):
    id: str
    connection: str
    question: str
    sql: str
    candidates: list[Candidate]
    tables: list[str] = Field(description="The tables the model chose (schema.table).")
    examples: list[ExampleUsed]
    sent: Sent
    rounds: list[Round] = Field(description="Earlier attempts and what was wrong with them.")
    endpoint: str
    tokens_in: int
    tokens_out: int
    latency_ms: float
    explanation: str | None = None
    run_id: str | None = None
    follow_up_of: str | None = None
    created_at: datetime


class AnswerSummary(BaseModel):
    id: str
    connection: str
    question: str
    sql: str
    follow_up_of: str | None = None
    feedback: str | None = None
    created_at: datetime


class AssistantSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    allow_sampling: bool = Field(
        default=False,
        description="Profile low-cardinality text columns (their top values) into the "
        "value index that maps question words to columns.",
    )
    send_sample_values: bool = Field(
        default=False,
        description="Send those sample values to the model with the tables' DDL.",
    )


class ExampleInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: str = Field(min_length=1, max_length=MAX_QUESTION_CHARS)
    sql: str = Field(min_length=1, max_length=MAX_SQL_CHARS)
    notes: str = Field(default="", max_length=10_000)
    tags: list[str] = Field(default_factory=list, max_length=20)


class ExampleChanges(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: str | None = Field(default=None, min_length=1, max_length=MAX_QUESTION_CHARS)
    sql: str | None = Field(default=None, min_length=1, max_length=MAX_SQL_CHARS)
    notes: str | None = Field(default=None, max_length=10_000)
    tags: list[str] | None = Field(default=None, max_length=20)


class Example(BaseModel):
    id: str
    connection: str
    question: str
    sql: str
    notes: str
    tags: list[str]
    tables: list[str]
    author: str
    reviewer: str | None = None
    status: ExampleStatus
    stale_reason: str | None = None
    created_at: datetime
    updated_at: datetime


class GlossaryInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    term: str = Field(min_length=1, max_length=200)
    definition: str = Field(min_length=1, max_length=10_000)


class GlossaryEntry(BaseModel):
    id: str
    connection: str
    term: str
    definition: str
    author: str
    created_at: datetime
    updated_at: datetime


class ImportReport(BaseModel):
    examples_added: int
    examples_updated: int
    glossary_added: int
    glossary_updated: int


class EvalQuestion(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: str = Field(min_length=1, max_length=MAX_QUESTION_CHARS)
    sql: str = Field(min_length=1, max_length=MAX_SQL_CHARS)
    id: str | None = None


class EvalResult(BaseModel):
    question: str
    gold_sql: str
    sql: str | None = None
    correct: bool | None = None
    error_code: str | None = None
    gold_tables: list[str]
    recall_at_5: float
    recall_at_10: float
    example_hit: bool | None = None
    unknown_names: int = 0
    guard_passed: bool | None = None
    explain_passed: bool | None = None
    rounds: int = 0
    latency_ms: float = 0.0
    tokens_in: int = 0
    tokens_out: int = 0


class EvalReport(BaseModel):
    connection: str
    mode: Literal["pipeline", "baseline", "retrieval"]
    endpoint: str | None = None
    questions: int
    execution_accuracy: float | None = None
    recall_at_5: float
    recall_at_10: float
    example_hit_at_k: float | None = None
    unknown_name_rate: float | None = None
    guard_pass_rate: float | None = None
    explain_pass_rate: float | None = None
    mean_rounds: float | None = None
    latency_ms_p50: float | None = None
    tokens_in: int = 0
    tokens_out: int = 0
    results: list[EvalResult]

    def summary(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude={"results"})
