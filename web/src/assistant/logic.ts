/** The assistant UI's logic, kept apart from React so that Vitest checks it: what an
 * error tells a person, what was sent to the model in plain words, the thread of
 * follow-up questions, paging labels and the bodies of the endpoint forms. */
import { ApiError, describeError } from "../api/client";
import type { AskAnswer, EndpointInfo } from "./api";

export type Problem = { kind: string; message: string; name?: string | null; suggestions?: string[] };

export type AskProblem = {
  title: string;
  message: string;
  requestId?: string;
  /** Where an administrator can fix it. */
  link?: { to: string; label: string };
  /** The model's last SQL and what was wrong with it (LLM_SQL_INVALID / _REJECTED). */
  sql?: string;
  problems?: Problem[];
};

const TITLES: Record<string, string> = {
  LLM_NOT_CONFIGURED: "No model is configured",
  MODEL_TIMEOUT: "The model took too long",
  MODEL_RATE_LIMITED: "The model's provider asks to slow down",
  RATE_LIMITED: "Too many questions",
  MODEL_UNAVAILABLE: "The model is unavailable",
  MODEL_UNREACHABLE: "The model server cannot be reached",
  MODEL_AUTH_FAILED: "The model refused querydeck's key",
  MODEL_REQUEST_REJECTED: "The model refused the request",
  LLM_INVALID_OUTPUT: "The model's answer was not usable",
  LLM_SQL_INVALID: "The model's SQL does not fit this database",
  LLM_SQL_REJECTED: "The model's SQL was refused by the guard",
};

/** What to show for a failed question: a title, the server's message, and the way on. */
export function askProblem(error: unknown, isAdmin: boolean): AskProblem {
  const { message, requestId, code } = describeError(error);
  const title = (code && TITLES[code]) ?? "The question could not be answered";
  const problem: AskProblem = { title, message, ...(requestId ? { requestId } : {}) };
  if (code === "LLM_NOT_CONFIGURED") {
    problem.message = isAdmin
      ? "No chat model endpoint is registered, so questions cannot be answered yet."
      : "No chat model endpoint is registered, so questions cannot be answered yet. Ask an administrator to register one.";
    if (isAdmin) problem.link = { to: "/admin/endpoints", label: "Register a model endpoint" };
  } else if (isAdmin && ["MODEL_UNREACHABLE", "MODEL_AUTH_FAILED", "MODEL_REQUEST_REJECTED", "MODEL_UNAVAILABLE"].includes(code ?? "")) {
    problem.link = { to: "/admin/endpoints", label: "Check the model endpoints" };
  }
  if (error instanceof ApiError) {
    const detail = error.detail;
    if (typeof detail.sql === "string") problem.sql = detail.sql;
    if (Array.isArray(detail.problems)) problem.problems = detail.problems.filter(isProblem);
  }
  return problem;
}

function isProblem(value: unknown): value is Problem {
  return typeof value === "object" && value !== null && typeof (value as Problem).message === "string";
}

/** What reached the model, one plain sentence each. */
export function sentLines(sent: AskAnswer["sent"]): string[] {
  const lines = [
    sent.tables.length ? `Table definitions (DDL) of ${sent.tables.join(", ")}` : "No table definitions",
    `${plural(sent.candidate_names, "candidate table name")} to choose from`,
    sent.sample_values ? "Sample values of text columns (this connection's “send sample values” switch is on)" : "No sample values from the data",
    `${plural(sent.value_matches, "question word")} matched to column values`,
    `${plural(sent.examples, "approved example")} of questions with their SQL`,
    `${plural(sent.glossary, "glossary entry", "glossary entries")}`,
  ];
  return lines;
}

export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n.toLocaleString("en")} ${n === 1 ? one : many}`;
}

export function formatScore(score: number): string {
  return score >= 100 ? score.toFixed(0) : score >= 1 ? score.toFixed(2) : score.toFixed(3);
}

/** The answer a new question follows: the thread's last (null: a fresh question). */
export function followUpOf(thread: AskAnswer[]): string | null {
  return thread.length ? (thread[thread.length - 1] as AskAnswer).id : null;
}

/** A title for an editor tab opened from a question. */
export function tabTitle(question: string): string {
  const words = question.trim().replace(/\s+/g, " ");
  return words.length > 28 ? `${words.slice(0, 27)}…` : words || "Question";
}

export function pageLabel(offset: number, count: number, total: number): string {
  if (total === 0 || count === 0) return `0 of ${total.toLocaleString("en")}`;
  return `${(offset + 1).toLocaleString("en")}–${(offset + count).toLocaleString("en")} of ${total.toLocaleString("en")}`;
}

export type EndpointForm = {
  name: string;
  kind: "chat" | "embeddings";
  base_url: string;
  model: string;
  api_key: string;
  remove_key: boolean;
  timeout_s: string;
  max_tokens: string;
  rate_limit: string;
  default: boolean;
};

export function emptyEndpointForm(): EndpointForm {
  return { name: "", kind: "chat", base_url: "", model: "", api_key: "", remove_key: false, timeout_s: "60", max_tokens: "1024", rate_limit: "", default: false };
}

export function formOf(endpoint: EndpointInfo): EndpointForm {
  return {
    name: endpoint.name,
    kind: endpoint.kind,
    base_url: endpoint.base_url,
    model: endpoint.model,
    api_key: "",
    remove_key: false,
    timeout_s: String(endpoint.timeout_s),
    max_tokens: String(endpoint.max_tokens),
    rate_limit: endpoint.rate_limit,
    default: endpoint.default,
  };
}

/** The body of a create (every field) or an edit (only what changed; an empty key field
 * keeps the key, "remove" sends ``""``). The key is never read back from the server. */
export function endpointBody(form: EndpointForm, before: EndpointInfo | null): Record<string, unknown> {
  const values: Record<string, unknown> = {
    base_url: form.base_url.trim(),
    model: form.model.trim(),
    timeout_s: Number(form.timeout_s),
    max_tokens: Number(form.max_tokens),
    rate_limit: form.rate_limit.trim(),
    default: form.default,
  };
  if (before === null) {
    const body: Record<string, unknown> = { name: form.name.trim(), kind: form.kind, ...values };
    if (form.api_key) body.api_key = form.api_key;
    return body;
  }
  const changes: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(values)) {
    if (value !== (before as unknown as Record<string, unknown>)[key]) changes[key] = value;
  }
  if (form.remove_key) changes.api_key = "";
  else if (form.api_key) changes.api_key = form.api_key;
  return changes;
}

/** Capabilities in words ("not tested" until probed). */
export function capabilityText(endpoint: EndpointInfo): string {
  const c = endpoint.capabilities;
  if (!c.probed_at) return "not tested";
  if (c.error_code) return `test failed: ${c.error_code}`;
  const parts: string[] = [];
  if (c.chat) parts.push("chat");
  if (c.json_output) parts.push("JSON output");
  if (c.embeddings) parts.push(c.dimension ? `embeddings (${c.dimension} dimensions)` : "embeddings");
  return parts.length ? parts.join(", ") : "no capability found";
}

/** Tags typed as "a, b ,c" → ["a", "b", "c"]. */
export function parseTags(text: string): string[] {
  return [...new Set(text.split(",").map((t) => t.trim()).filter(Boolean))];
}

/** An import's report in words. */
export function importText(report: { examples_added: number; examples_updated: number; glossary_added: number; glossary_updated: number }): string {
  return `Imported: ${plural(report.examples_added, "example")} added, ${report.examples_updated.toLocaleString("en")} updated; ${plural(report.glossary_added, "term")} added, ${report.glossary_updated.toLocaleString("en")} updated.`;
}
