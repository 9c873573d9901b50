/** The API client: openapi-fetch over the generated types, the session's CSRF token on
 * every write, one error type, and the connectivity signals the shell listens to. */
import createClient, { type Middleware } from "openapi-fetch";
import type { components, paths } from "./schema";

export type Schemas = components["schemas"];
export type RunInfo = Schemas["RunInfo"];
export type RowsPage = Schemas["RowsPage"];
export type ColumnInfo = Schemas["ColumnInfo"];
export type UserInfo = Schemas["UserInfo"];

const WRITES = new Set(["POST", "PUT", "PATCH", "DELETE"]);
let csrfToken: string | null = null;

export function setCsrfToken(token: string | null): void {
  csrfToken = token;
}

export function csrfHeaders(): Record<string, string> {
  return csrfToken ? { "X-CSRF-Token": csrfToken } : {};
}

/** A failed API call: the error envelope's code, message, detail and request id. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly detail: Record<string, unknown>;
  readonly requestId: string;

  constructor(status: number, code: string, message: string, detail: Record<string, unknown>, requestId: string) {
    super(message);
    this.status = status;
    this.code = code;
    this.detail = detail;
    this.requestId = requestId;
  }
}

/** The network or the server is unreachable (not an answer from querydeck). */
export class OfflineError extends Error {
  constructor() {
    super("The server cannot be reached.");
  }
}

type Listener = (event: "unauthenticated" | "offline" | "online") => void;
const listeners = new Set<Listener>();
export function onConnectivity(listener: Listener): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}
function emit(event: "unauthenticated" | "offline" | "online"): void {
  for (const listener of listeners) listener(event);
}

const PUBLIC = ["/api/v1/auth/login"];

const middleware: Middleware = {
  onRequest({ request }) {
    if (WRITES.has(request.method) && csrfToken) request.headers.set("X-CSRF-Token", csrfToken);
    return request;
  },
  onResponse({ request, response }) {
    const path = new URL(request.url).pathname;
    if (response.status === 401 && !PUBLIC.includes(path)) emit("unauthenticated");
    else if (response.status === 502 || response.status === 503 || response.status === 504) {
      // A proxy in front of a restarting server answers these without our envelope.
      if (!response.headers.get("x-request-id")) emit("offline");
    } else emit("online");
    return response;
  },
  onError() {
    emit("offline");
    return new OfflineError();
  },
};

export const api = createClient<paths>({ baseUrl: "" });
api.use(middleware);

export async function errorFrom(response: Response, body?: unknown): Promise<ApiError> {
  let parsed = body;
  if (parsed === undefined) {
    try {
      parsed = await response.json();
    } catch {
      parsed = undefined;
    }
  }
  const envelope = (parsed as { error?: Schemas["ErrorDetail"] } | undefined)?.error;
  const requestId = envelope?.request_id || response.headers.get("x-request-id") || "";
  if (envelope && typeof envelope.code === "string") {
    return new ApiError(response.status, envelope.code, envelope.message, envelope.detail ?? {}, requestId);
  }
  return new ApiError(response.status, "HTTP_ERROR", `The server answered ${response.status}.`, {}, requestId);
}

/** The data of an openapi-fetch answer, or its error thrown as an ApiError. */
export async function must<T>(
  pending: Promise<{ data?: T; error?: unknown; response: Response }>,
): Promise<T> {
  const { data, error, response } = await pending;
  if (!response.ok || error !== undefined) throw await errorFrom(response, error);
  return data as T;
}

/** A plain fetch of an API path (routes openapi-fetch cannot express, e.g. downloads). */
export async function fetchJson<T>(path: string, init: RequestInit = {}): Promise<T> {
  const method = (init.method ?? "GET").toUpperCase();
  const headers = new Headers(init.headers);
  if (WRITES.has(method) && csrfToken) headers.set("X-CSRF-Token", csrfToken);
  if (init.body && !headers.has("content-type")) headers.set("content-type", "application/json");
  let response: Response;
  try {
    response = await fetch(path, { ...init, headers, credentials: "same-origin" });
  } catch (error) {
    // Aborted by the caller (a cancel button): not a sign that the server is away.
    if (init.signal?.aborted) throw error;
    emit("offline");
    throw new OfflineError();
  }
  if (response.status === 401) emit("unauthenticated");
  else emit("online");
  if (!response.ok) throw await errorFrom(response);
  if (response.status === 204) return undefined as T;
  return (await response.json()) as T;
}

export function describeError(error: unknown): { message: string; requestId?: string; code?: string } {
  if (error instanceof ApiError) return { message: error.message, requestId: error.requestId, code: error.code };
  if (error instanceof OfflineError) return { message: error.message, code: "OFFLINE" };
  if (error instanceof Error) return { message: error.message };
  return { message: String(error) };
}
