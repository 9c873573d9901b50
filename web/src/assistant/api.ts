/** The assistant's API calls (docs/assistant.md): asking, answers and their feedback, the
 * knowledge base, model endpoints, per-connection switches and the inference log. */
import { fetchJson, type Schemas } from "../api/client";

export type AskAnswer = Schemas["AskAnswer"];
export type AskInput = Schemas["AskInput"];
export type Candidate = Schemas["Candidate"];
export type Example = Schemas["Example"];
export type ExampleStatus = Example["status"];
export type GlossaryEntry = Schemas["GlossaryEntry"];
export type EndpointInfo = Schemas["EndpointInfo"];
export type InferenceEntry = Schemas["InferenceEntry"];
export type AssistantSettings = Schemas["AssistantSettings"];
export type Page<T> = { items: T[]; total: number; limit: number; offset: number };

const enc = encodeURIComponent;
const json = (method: string, body: unknown): RequestInit => ({ method, body: JSON.stringify(body) });

export function connectionPath(connection: string, rest: string): string {
  return `/api/v1/connections/${enc(connection)}/${rest}`;
}

/** One question; ``signal`` aborts the request (the server still finishes its work). */
export function ask(connection: string, input: AskInput, signal?: AbortSignal): Promise<AskAnswer> {
  return fetchJson<AskAnswer>(connectionPath(connection, "ask"), { ...json("POST", input), signal });
}

/** The answer's SQL in plain words (one model call; kept with the answer). */
export function explainAnswer(answerId: string, signal?: AbortSignal): Promise<AskAnswer> {
  return fetchJson<AskAnswer>(`/api/v1/assistant/answers/${enc(answerId)}/explain`, { method: "POST", signal });
}

export function vote(answerId: string, value: "up" | "down"): Promise<Example | null> {
  return fetchJson<Example | null>(`/api/v1/assistant/answers/${enc(answerId)}/feedback`, json("POST", { vote: value }));
}

// --- knowledge base ---------------------------------------------------------------------

export function listExamples(connection: string, status: ExampleStatus | "", offset = 0, limit = 100): Promise<Page<Example>> {
  const query = new URLSearchParams({ limit: String(limit), offset: String(offset) });
  if (status) query.set("status", status);
  return fetchJson<Page<Example>>(connectionPath(connection, `knowledge/examples?${query}`));
}

export function addExample(connection: string, body: Schemas["ExampleInput"]): Promise<Example> {
  return fetchJson<Example>(connectionPath(connection, "knowledge/examples"), json("POST", body));
}

export function updateExample(connection: string, id: string, body: Schemas["ExampleChanges"]): Promise<Example> {
  return fetchJson<Example>(connectionPath(connection, `knowledge/examples/${enc(id)}`), json("PATCH", body));
}

export function reviewExample(connection: string, id: string, status: ExampleStatus): Promise<Example> {
  return fetchJson<Example>(connectionPath(connection, `knowledge/examples/${enc(id)}/review`), json("POST", { status }));
}

export function deleteExample(connection: string, id: string): Promise<void> {
  return fetchJson<void>(connectionPath(connection, `knowledge/examples/${enc(id)}`), { method: "DELETE" });
}

export function listGlossary(connection: string): Promise<Page<GlossaryEntry>> {
  return fetchJson<Page<GlossaryEntry>>(connectionPath(connection, "knowledge/glossary?limit=1000"));
}

export function putTerm(connection: string, term: string, definition: string): Promise<GlossaryEntry> {
  return fetchJson<GlossaryEntry>(connectionPath(connection, "knowledge/glossary"), json("PUT", { term, definition }));
}

export function deleteTerm(connection: string, term: string): Promise<void> {
  return fetchJson<void>(connectionPath(connection, `knowledge/glossary/${enc(term)}`), { method: "DELETE" });
}

export type ImportReport = Schemas["ImportReport"];

/** A Markdown knowledge file (docs/assistant.md's layout): examples and terms added or
 * updated. */
export function importKnowledge(connection: string, markdown: string): Promise<ImportReport> {
  return fetchJson<ImportReport>(connectionPath(connection, "knowledge/import"), { method: "POST", body: markdown, headers: { "content-type": "text/markdown" } });
}

// --- endpoints and settings -------------------------------------------------------------

export function listEndpoints(): Promise<EndpointInfo[]> {
  return fetchJson<Page<EndpointInfo>>("/api/v1/assistant/endpoints?limit=1000").then((p) => p.items);
}

export function createEndpoint(body: Record<string, unknown>): Promise<EndpointInfo> {
  return fetchJson<EndpointInfo>("/api/v1/assistant/endpoints", json("POST", body));
}

export function updateEndpoint(name: string, body: Record<string, unknown>): Promise<EndpointInfo> {
  return fetchJson<EndpointInfo>(`/api/v1/assistant/endpoints/${enc(name)}`, json("PATCH", body));
}

export function deleteEndpoint(name: string): Promise<void> {
  return fetchJson<void>(`/api/v1/assistant/endpoints/${enc(name)}`, { method: "DELETE" });
}

export function testEndpoint(name: string): Promise<EndpointInfo> {
  return fetchJson<EndpointInfo>(`/api/v1/assistant/endpoints/${enc(name)}/test`, { method: "POST" });
}

export function getSettings(connection: string): Promise<AssistantSettings> {
  return fetchJson<AssistantSettings>(connectionPath(connection, "assistant/settings"));
}

export function putSettings(connection: string, values: AssistantSettings): Promise<AssistantSettings> {
  return fetchJson<AssistantSettings>(connectionPath(connection, "assistant/settings"), json("PUT", values));
}

// --- the inference log ------------------------------------------------------------------

export type LogQuery = { offset: number; limit: number; everyone: boolean; user: string; purpose: string };

export function logQuery(q: LogQuery): string {
  const query = new URLSearchParams({ limit: String(q.limit), offset: String(q.offset) });
  if (q.everyone) query.set("all", "true");
  if (q.user.trim()) query.set("user", q.user.trim());
  if (q.purpose) query.set("purpose", q.purpose);
  return `/api/v1/assistant/inference-log?${query}`;
}

export function inferenceLog(q: LogQuery): Promise<Page<InferenceEntry>> {
  return fetchJson<Page<InferenceEntry>>(logQuery(q));
}
