/** One statement's result: its progress while it runs (elapsed, rows so far, Cancel),
 * the limits that applied, the grid (sorted and filtered on the server), the column
 * statistics, the export menu and the chart view. */
import { lazy, Suspense, useEffect, useState } from "react";
import type { ApiError, ColumnInfo, RowsPage, RunInfo } from "../api/client";
import { formatDuration } from "../app/data";
import { ResultGrid } from "../grid/ResultGrid";
import { fetchPage, NO_VIEW, type Filter, type ViewSpec } from "../grid/source";
import { ColumnMenu } from "./ColumnMenu";
import { ExportAll } from "./ExportAll";
import { ExportMenu } from "./ExportMenu";

const ChartView = lazy(() => import("../charts/ChartView"));

export type ResultEntry = {
  key: string;
  sql: string;
  status: "running" | "done" | "error" | "cancelling";
  startedAt: number;
  run: RunInfo | null;
  first: RowsPage | null;
  error: ApiError | Error | null;
};

type Props = { entry: ResultEntry; onCancel: () => void; canExport: boolean; savedId?: string | null };

function useNow(active: boolean): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    if (!active) return;
    const timer = setInterval(() => setNow(Date.now()), 100);
    return () => clearInterval(timer);
  }, [active]);
  return now;
}

export function ResultsPanel({ entry, onCancel, canExport, savedId = null }: Props) {
  const running = entry.status === "running" || entry.status === "cancelling";
  const now = useNow(running);
  const [view, setView] = useState<ViewSpec>(NO_VIEW);
  const [mode, setMode] = useState<"grid" | "chart">("grid");
  const [menu, setMenu] = useState<{ column: ColumnInfo; anchor: HTMLElement } | null>(null);
  const [status, setStatus] = useState<string | null>(null);
  const [viewTotal, setViewTotal] = useState<number | null>(null);
  useEffect(() => {
    setView(NO_VIEW);
    setViewTotal(null);
    setMode("grid");
  }, [entry.key]);

  if (running) {
    const elapsed = now - entry.startedAt;
    return (
      <div className="run-progress" role="status" aria-live="polite">
        <span className="spinner" aria-hidden="true" />
        <span>
          Running… <strong data-testid="elapsed">{formatDuration(elapsed)}</strong>
          {entry.run?.row_count ? <> · {entry.run.row_count.toLocaleString()} rows so far</> : null}
        </span>
        <button type="button" className="danger" onClick={onCancel} disabled={entry.status === "cancelling"}>
          {entry.status === "cancelling" ? "Cancelling…" : "Cancel (Esc)"}
        </button>
      </div>
    );
  }
  if (entry.status === "error" || !entry.run) {
    const error = entry.error as (ApiError & { hint?: string }) | null;
    const code = error && "code" in error ? error.code : null;
    const hint = error && "detail" in error && typeof error.detail.hint === "string" ? error.detail.hint : null;
    return (
      <div className="run-error" role="alert">
        <strong>{code === "QUERY_CANCELLED" ? "Cancelled" : "Error"}{code ? ` ${code}` : ""}</strong>
        <p>{error?.message ?? "The run failed."}</p>
        {hint && <p className="hint">Hint: {hint}</p>}
        {error && "requestId" in error && error.requestId && <p className="muted">Request id {error.requestId}</p>}
      </div>
    );
  }
  const run = entry.run;
  const total = run.row_count ?? 0;
  const filtered = view.filters.length > 0;

  const applyFilter = (filter: Filter | null, column: string) => {
    setView((v) => ({ ...v, filters: [...v.filters.filter((f) => f.column !== column), ...(filter ? [filter] : [])] }));
  };

  return (
    <div className="result">
      <div className="result-bar">
        <span data-testid="run-summary">
          {total.toLocaleString()} rows · {formatDuration(run.duration_ms)}
          {filtered && viewTotal !== null && <> · {viewTotal.toLocaleString()} match the filters</>}
        </span>
        {run.truncated ? (
          <span className="limit-note" data-testid="limit-note">
            Capped at {run.max_rows.toLocaleString()} rows: the result was truncated.
            {canExport && " Use “Export all” to fetch every row."}
          </span>
        ) : (
          <span className="muted">Row cap {run.max_rows.toLocaleString()} (not reached)</span>
        )}
        {run.truncated && canExport && <ExportAll run={run} />}
        <span className="spacer" />
        {(view.sort.length > 0 || filtered) && (
          <button type="button" className="link" onClick={() => setView(NO_VIEW)}>
            Clear sort and filters
          </button>
        )}
        <div className="segmented" role="group" aria-label="Result view">
          <button type="button" aria-pressed={mode === "grid"} onClick={() => setMode("grid")}>Grid</button>
          <button type="button" aria-pressed={mode === "chart"} onClick={() => setMode("chart")}>Chart</button>
        </div>
        {canExport && <ExportMenu run={run} />}
      </div>
      {status && (
        <div className="status-line" role="status">
          {status}
        </div>
      )}
      {mode === "grid" ? (
        <ViewGrid run={run} first={entry.first} view={view} onTotal={setViewTotal} onStatus={setStatus} onHeader={(column, _i, anchor) => setMenu({ column, anchor })} />
      ) : (
        <Suspense fallback={<div className="loading-block">Loading the chart view…</div>}>
          <ChartView run={run} savedId={savedId} />
        </Suspense>
      )}
      {menu && (
        <ColumnMenu
          run={run}
          column={menu.column}
          anchor={menu.anchor}
          view={view}
          onSort={(desc) => setView((v) => ({ ...v, sort: desc === null ? v.sort.filter((s) => s.column !== menu.column.name) : [{ column: menu.column.name, desc }, ...v.sort.filter((s) => s.column !== menu.column.name)] }))}
          onFilter={(filter) => applyFilter(filter, menu.column.name)}
          onClose={() => setMenu(null)}
        />
      )}
    </div>
  );
}

function ViewGrid({ run, first, view, onTotal, onHeader, onStatus }: { run: RunInfo; first: RowsPage | null; view: ViewSpec; onTotal: (n: number | null) => void; onHeader: (column: ColumnInfo, index: number, anchor: HTMLElement) => void; onStatus: (s: string) => void }) {
  const plain = view.sort.length === 0 && view.filters.length === 0;
  const [viewPage, setViewPage] = useState<RowsPage | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    if (plain) {
      setViewPage(null);
      onTotal(null);
      return;
    }
    let live = true;
    setViewPage(null);
    setError(null);
    fetchPage(run.id, view, 0, 200)
      .then((page) => {
        if (!live) return;
        setViewPage(page);
        onTotal(page.total);
      })
      .catch((reason: Error) => live && setError(reason.message));
    return () => {
      live = false;
    };
  }, [run.id, view, plain, onTotal]);
  const badge = (column: ColumnInfo) => {
    const index = view.sort.findIndex((s) => s.column === column.name);
    const sort = index >= 0 ? `${view.sort[index]?.desc ? "▼" : "▲"}${view.sort.length > 1 ? index + 1 : ""}` : "";
    const filter = view.filters.some((f) => f.column === column.name) ? " filtered" : "";
    return sort + filter || null;
  };
  if (error) return <div className="run-error" role="alert">{error}</div>;
  if (!plain && !viewPage) return <div className="loading-block" role="status">Sorting and filtering on the server…</div>;
  const total = plain ? (run.row_count ?? 0) : (viewPage?.total ?? 0);
  return <ResultGrid runId={run.id} columns={run.columns ?? []} total={total} view={view} first={plain ? first : viewPage} onHeader={onHeader} headerBadge={badge} onStatus={onStatus} />;
}
