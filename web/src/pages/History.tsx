/** The user's runs (administrators: everyone's), newest first, searchable and filterable;
 * open a past run's stored result without running it again, or run it again. */
import { useInfiniteQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { describeError, fetchJson, type RunInfo, type Schemas } from "../api/client";
import { formatAgo, formatDuration, useConnections } from "../app/data";
import { navigate } from "../app/router";
import { ErrorText } from "../app/ErrorText";

const STATUSES = ["", "succeeded", "failed", "cancelled", "timed_out", "rejected", "running"];

export function openRunInEditor(run: RunInfo, rerun = false, saved?: { id: string; name: string }): void {
  const query = new URLSearchParams({ connection: run.connection ?? "", title: saved?.name ?? (rerun ? "Re-run" : `Run ${run.id.slice(0, 8)}`) });
  if (saved) query.set("saved", saved.id);
  if (rerun) query.set("sql", run.sql);
  else query.set("run", run.id);
  navigate(`/?${query}`);
}

export default function History() {
  const [q, setQ] = useState("");
  const [status, setStatus] = useState("");
  const [connection, setConnection] = useState("");
  const [message, setMessage] = useState<string | null>(null);
  const connections = useConnections();
  const client = useQueryClient();
  const history = useInfiniteQuery({
    queryKey: ["history", q, status, connection],
    initialPageParam: null as string | null,
    queryFn: ({ pageParam }) => {
      const query = new URLSearchParams({ limit: "50" });
      if (q) query.set("q", q);
      if (status) query.set("status", status);
      if (connection) query.set("connection", connection);
      if (pageParam) query.set("cursor", pageParam);
      return fetchJson<Schemas["HistoryPage"]>(`/api/v1/runs?${query}`);
    },
    getNextPageParam: (last) => last.next_cursor ?? null,
  });
  const runs = history.data?.pages.flatMap((p) => p.items) ?? [];

  const rerun = async (run: RunInfo) => {
    try {
      const view = await fetchJson<{ run: RunInfo }>(`/api/v1/runs/${encodeURIComponent(run.id)}/rerun?wait_ms=0`, { method: "POST" });
      await client.invalidateQueries({ queryKey: ["history"] });
      openRunInEditor(view.run);
    } catch (error) {
      setMessage(describeError(error).message);
    }
  };

  return (
    <div className="page">
      <h1>History</h1>
      <form className="filters" role="search" onSubmit={(e) => e.preventDefault()}>
        <label>
          SQL contains <input type="search" value={q} onChange={(e) => setQ(e.target.value)} />
        </label>
        <label>
          Status
          <select value={status} onChange={(e) => setStatus(e.target.value)}>
            {STATUSES.map((s) => (
              <option key={s} value={s}>
                {s || "any"}
              </option>
            ))}
          </select>
        </label>
        <label>
          Connection
          <select value={connection} onChange={(e) => setConnection(e.target.value)}>
            <option value="">any</option>
            {(connections.data ?? []).map((c) => (
              <option key={c.id}>{c.name}</option>
            ))}
          </select>
        </label>
      </form>
      {message && <p className="error-text" role="alert">{message}</p>}
      {history.isError && <ErrorText error={history.error} />}
      {history.isPending ? (
        <p className="loading-block" role="status">Loading the history…</p>
      ) : runs.length === 0 ? (
        <p className="empty">No runs match.</p>
      ) : (
        <table className="list">
          <thead>
            <tr>
              <th scope="col">When</th>
              <th scope="col">SQL</th>
              <th scope="col">Connection</th>
              <th scope="col">Status</th>
              <th scope="col" className="num">Rows</th>
              <th scope="col" className="num">Time</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {runs.map((run) => (
              <tr key={run.id} data-run={run.id}>
                <td title={run.created_at}>{formatAgo(run.created_at)}{run.user ? <span className="muted"> · {run.user}</span> : null}</td>
                <td className="sql-cell">
                  <code>{run.sql.length > 160 ? `${run.sql.slice(0, 160)}…` : run.sql}</code>
                </td>
                <td>{run.connection ?? <span className="muted">(deleted)</span>}</td>
                <td>
                  <span className={`status ${run.status}`}>{run.status}</span>
                </td>
                <td className="num">{run.row_count?.toLocaleString() ?? ""}</td>
                <td className="num">{formatDuration(run.duration_ms)}</td>
                <td className="actions">
                  {run.status === "succeeded" && run.result_state === "stored" && (
                    <button type="button" onClick={() => openRunInEditor(run)}>Open result</button>
                  )}
                  <button type="button" onClick={() => openRunInEditor(run, true)}>Open in new tab</button>
                  {run.connection && <button type="button" onClick={() => void rerun(run)}>Re-run</button>}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {history.hasNextPage && (
        <button type="button" onClick={() => void history.fetchNextPage()} disabled={history.isFetchingNextPage}>
          {history.isFetchingNextPage ? "Loading…" : "More"}
        </button>
      )}
    </div>
  );
}
