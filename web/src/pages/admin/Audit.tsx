/** Administrators: the audit log with its filters, newest first, cursor paging. */
import { useInfiniteQuery } from "@tanstack/react-query";
import { useState } from "react";
import { fetchJson, type Schemas } from "../../api/client";
import { ErrorText } from "../../app/ErrorText";

const OUTCOMES = ["", "ok", "error", "denied", "aborted"];

/** `type id`; an operation refused before its target existed names the attempted name. */
function targetLabel(e: Schemas["AuditEntry"]): string {
  if (!e.target_type) return "";
  if (e.target_id) return `${e.target_type} ${e.target_id}`;
  const detail = (e.detail ?? {}) as Record<string, unknown>;
  const name = detail.name ?? detail.username;
  return typeof name === "string" ? `${e.target_type} "${name}"` : e.target_type;
}

export default function Audit() {
  const [actor, setActor] = useState("");
  const [action, setAction] = useState("");
  const [outcome, setOutcome] = useState("");
  const [since, setSince] = useState("");
  const log = useInfiniteQuery({
    queryKey: ["audit", actor, action, outcome, since],
    initialPageParam: null as string | null,
    queryFn: ({ pageParam }) => {
      const query = new URLSearchParams({ limit: "100" });
      if (actor) query.set("actor", actor);
      if (action) query.set("action", action);
      if (outcome) query.set("outcome", outcome);
      if (since) query.set("since", new Date(since).toISOString());
      if (pageParam) query.set("cursor", pageParam);
      return fetchJson<Schemas["AuditPage"]>(`/api/v1/audit?${query}`);
    },
    getNextPageParam: (last) => last.next_cursor ?? null,
  });
  const entries = log.data?.pages.flatMap((p) => p.items) ?? [];
  return (
    <div className="page">
      <h1>Audit log</h1>
      <form className="filters" role="search" onSubmit={(e) => e.preventDefault()}>
        <label>
          Actor <input value={actor} onChange={(e) => setActor(e.target.value)} size={12} />
        </label>
        <label>
          Action <input value={action} onChange={(e) => setAction(e.target.value)} placeholder="run.finish or connection.*" size={18} />
        </label>
        <label>
          Outcome
          <select value={outcome} onChange={(e) => setOutcome(e.target.value)}>
            {OUTCOMES.map((o) => (
              <option key={o} value={o}>
                {o || "any"}
              </option>
            ))}
          </select>
        </label>
        <label>
          Since <input type="datetime-local" value={since} onChange={(e) => setSince(e.target.value)} />
        </label>
      </form>
      {log.isError && <ErrorText error={log.error} />}
      {log.isPending ? (
        <p className="loading-block" role="status">Loading…</p>
      ) : entries.length === 0 ? (
        <p className="empty">No entries match.</p>
      ) : (
        <table className="list">
          <thead>
            <tr>
              <th scope="col">At (UTC)</th>
              <th scope="col">Actor</th>
              <th scope="col">Action</th>
              <th scope="col">Outcome</th>
              <th scope="col">Target</th>
              <th scope="col">Detail</th>
            </tr>
          </thead>
          <tbody>
            {entries.map((e) => (
              <tr key={e.id}>
                <td>{e.at.replace("T", " ").slice(0, 19)}</td>
                <td>
                  {e.actor} <span className="muted">{e.via}</span>
                </td>
                <td>{e.action}</td>
                <td>
                  <span className={`status ${e.outcome}`}>{e.outcome}</span>
                </td>
                <td>{targetLabel(e)}</td>
                <td className="detail-cell">
                  <code>{JSON.stringify(e.detail)}</code>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {log.hasNextPage && (
        <button type="button" onClick={() => void log.fetchNextPage()} disabled={log.isFetchingNextPage}>
          More
        </button>
      )}
    </div>
  );
}
