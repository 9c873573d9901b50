/** Starting a run, following it while it runs, cancelling it. */
import { ApiError, errorFrom, fetchJson, OfflineError, csrfHeaders, type RowsPage, type RunInfo } from "../api/client";
import { offsetOf, type Statement } from "../editor/statements";

export type RunView = { run: RunInfo; page: RowsPage | null };
export const FIRST_PAGE = 200;

/** POST /runs: answers at once when the run ends within ``waitMs`` (200, with its first
 * page), else with the running run (202). A run that failed throws its ApiError. */
export async function startRun(connection: string, sql: string, options: { waitMs?: number; maxRows?: number | null; exportAll?: boolean } = {}): Promise<RunView> {
  const body: Record<string, unknown> = { connection, sql, wait_ms: options.waitMs ?? 300, page_size: FIRST_PAGE };
  if (options.maxRows) body.max_rows = options.maxRows;
  if (options.exportAll) body.export_all = true;
  let response: Response;
  try {
    response = await fetch("/api/v1/runs", {
      method: "POST",
      credentials: "same-origin",
      headers: { "content-type": "application/json", ...csrfHeaders() },
      body: JSON.stringify(body),
    });
  } catch {
    throw new OfflineError();
  }
  if (!response.ok) throw await errorFrom(response);
  return (await response.json()) as RunView;
}

export function getRun(runId: string): Promise<RunView> {
  return fetchJson<RunView>(`/api/v1/runs/${encodeURIComponent(runId)}?page_size=${FIRST_PAGE}`);
}

export function cancelRun(runId: string): Promise<RunInfo> {
  return fetchJson<RunInfo>(`/api/v1/runs/${encodeURIComponent(runId)}/cancel`, { method: "POST" });
}

/** The error of a run that ended without rows, as the API reports it for a finished run. */
export function runError(run: RunInfo): ApiError {
  return new ApiError(run.error_status ?? 400, run.error_code ?? run.status.toUpperCase(), run.error_message ?? `The run ended ${run.status}.`, { ...(run.error_detail ?? {}), run_id: run.id, status: run.status }, "");
}

/** Where in the editor an error points: the guard's line and column, or the engine's
 * character position, within the statement that was sent. */
export function errorRange(error: ApiError, statement: Statement): { from: number; to: number } | null {
  const detail = error.detail;
  let offset: number | null = null;
  if (typeof detail.line === "number" && typeof detail.column === "number") {
    offset = offsetOf(statement.text, detail.line, detail.column);
  } else if (typeof detail.position === "number" && detail.position >= 1) {
    offset = Math.min(detail.position - 1, statement.text.length);
  }
  if (offset === null) return null;
  const word = /^[\w$."]+/.exec(statement.text.slice(offset));
  const from = statement.from + offset;
  return { from, to: from + Math.max(word ? word[0].length : 1, 1) };
}

/** Polls a running run until it ends; ``onProgress`` sees each reading. */
export async function follow(runId: string, onProgress: (run: RunInfo) => void, signal: { stopped: boolean }): Promise<RunView> {
  let delay = 150;
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, delay));
    delay = Math.min(delay * 1.5, 1000);
    let view: RunView;
    try {
      view = await getRun(runId);
    } catch (error) {
      // The run ended without rows: the API answers its error envelope.
      if (error instanceof ApiError && error.detail.run_id === runId) throw error;
      if (error instanceof OfflineError && !signal.stopped) continue; // retried until back
      throw error;
    }
    onProgress(view.run);
    if (!["queued", "running"].includes(view.run.status)) {
      if (view.run.status !== "succeeded") throw runError(view.run);
      return view;
    }
  }
}
