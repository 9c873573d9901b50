/** Connections: sortable, filterable list with a status dot and the last test; test with
 * latency; delete with confirmation; add and edit (administrators and managers). */
import { useQueryClient } from "@tanstack/react-query";
import { useMemo, useState } from "react";
import { describeError, fetchJson, type Schemas } from "../api/client";
import { formatAgo, useConnections, type ConnectionInfo } from "../app/data";
import { navigate } from "../app/router";
import { useUser } from "../app/session";
import { ErrorText } from "../app/ErrorText";

type SortKey = "name" | "driver" | "status";

export default function Connections() {
  const user = useUser();
  const connections = useConnections();
  const client = useQueryClient();
  const [filter, setFilter] = useState("");
  const [sort, setSort] = useState<{ key: SortKey; desc: boolean }>({ key: "name", desc: false });
  const [message, setMessage] = useState<{ text: string; error: boolean } | null>(null);
  const [busy, setBusy] = useState<string | null>(null);

  const rows = useMemo(() => {
    const needle = filter.toLowerCase();
    const found = (connections.data ?? []).filter((c) => !needle || c.name.toLowerCase().includes(needle) || c.driver.includes(needle));
    const value = (c: ConnectionInfo) => (sort.key === "status" ? String(c.status.ok) : c[sort.key]);
    found.sort((a, b) => value(a).localeCompare(value(b)) * (sort.desc ? -1 : 1));
    return found;
  }, [connections.data, filter, sort]);

  const test = async (c: ConnectionInfo) => {
    setBusy(c.name);
    setMessage(null);
    try {
      const result = await fetchJson<Schemas["TestResult"]>(`/api/v1/connections/${encodeURIComponent(c.name)}/test`, { method: "POST" });
      setMessage({ text: `${c.name}: reachable in ${result.latency_ms.toFixed(0)} ms (${result.server_version}).`, error: false });
    } catch (error) {
      setMessage({ text: `${c.name}: ${describeError(error).message}`, error: true });
    } finally {
      setBusy(null);
      await client.invalidateQueries({ queryKey: ["connections"] });
    }
  };

  const remove = async (c: ConnectionInfo) => {
    if (!confirm(`Delete the connection “${c.name}”? Its history stays; its saved grants go.`)) return;
    try {
      await fetchJson(`/api/v1/connections/${encodeURIComponent(c.name)}`, { method: "DELETE" });
      setMessage({ text: `Deleted ${c.name}.`, error: false });
      await client.invalidateQueries({ queryKey: ["connections"] });
    } catch (error) {
      setMessage({ text: describeError(error).message, error: true });
    }
  };

  const header = (key: SortKey, label: string) => (
    <th scope="col" aria-sort={sort.key === key ? (sort.desc ? "descending" : "ascending") : undefined}>
      <button type="button" className="link" onClick={() => setSort({ key, desc: sort.key === key ? !sort.desc : false })}>
        {label} {sort.key === key ? (sort.desc ? "▼" : "▲") : ""}
      </button>
    </th>
  );

  return (
    <div className="page">
      <div className="page-head">
        <h1>Connections</h1>
        {user.role === "admin" && (
          <button type="button" className="primary" onClick={() => navigate("/connections/new")}>
            Add connection
          </button>
        )}
      </div>
      <label className="filters">
        Filter <input type="search" value={filter} onChange={(e) => setFilter(e.target.value)} />
      </label>
      {message && (
        <p className={message.error ? "error-text" : "notice"} role={message.error ? "alert" : "status"}>
          {message.text}
        </p>
      )}
      {connections.isPending ? (
        <p className="loading-block" role="status">Loading…</p>
      ) : connections.isError ? (
        <ErrorText error={connections.error} />
      ) : rows.length === 0 ? (
        <p className="empty">No connections{filter ? " match" : ""}.</p>
      ) : (
        <table className="list">
          <thead>
            <tr>
              {header("status", "Status")}
              {header("name", "Name")}
              {header("driver", "Driver")}
              <th scope="col">Last test</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((c) => (
              <tr key={c.id} data-connection={c.name}>
                <td>
                  <span className={`dot ${c.status.ok === true ? "ok" : c.status.ok === false ? "bad" : "unknown"}`} aria-label={c.status.ok === true ? "reachable" : c.status.ok === false ? "failing" : "not tested"} role="img" />
                </td>
                <td>{c.name}</td>
                <td>{c.driver}</td>
                <td>
                  {c.status.checked_at ? (
                    <>
                      {formatAgo(c.status.checked_at)}
                      {c.status.ok ? ` · ${c.status.latency_ms?.toFixed(0)} ms` : c.status.error_code ? ` · ${c.status.error_code}` : ""}
                    </>
                  ) : (
                    <span className="muted">never</span>
                  )}
                </td>
                <td className="actions">
                  <button type="button" onClick={() => void test(c)} disabled={busy === c.name}>
                    {busy === c.name ? "Testing…" : "Test"}
                  </button>
                  <button type="button" onClick={() => navigate(`/connections/${encodeURIComponent(c.name)}`)}>
                    Edit
                  </button>
                  {user.role === "admin" && (
                    <button type="button" className="danger" onClick={() => void remove(c)}>
                      Delete
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}
