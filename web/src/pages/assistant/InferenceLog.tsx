/** The user's model calls (administrators: everyone's, or one user's), newest first, in
 * pages: time, endpoint, purpose, latency, tokens, status and error code; a row's detail
 * shows the prompt and the response as kept (size-capped, keys redacted). */
import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { useEffect, useRef, useState } from "react";
import { formatAgo, formatDuration } from "../../app/data";
import { ErrorText } from "../../app/ErrorText";
import { useLocation } from "../../app/router";
import { useUser } from "../../app/session";
import { inferenceLog, type InferenceEntry } from "../../assistant/api";
import { pageLabel } from "../../assistant/logic";

const PURPOSES = ["", "ask.tables", "ask.sql", "ask.fix", "explain", "embed.tables", "embed.question", "invoke", "eval", "eval.baseline", "probe"];
const LIMIT = 50;

export default function InferenceLog() {
  const user = useUser();
  const admin = user.role === "admin";
  const { search } = useLocation();
  const [everyone, setEveryone] = useState(admin && search.get("all") === "1");
  const [who, setWho] = useState("");
  const [purpose, setPurpose] = useState("");
  const [offset, setOffset] = useState(0);
  const [shown, setShown] = useState<InferenceEntry | null>(null);
  useEffect(() => setOffset(0), [everyone, who, purpose]);
  const query = { offset, limit: LIMIT, everyone: admin && everyone, user: admin ? who : "", purpose };
  const log = useQuery({ queryKey: ["inference-log", query], queryFn: () => inferenceLog(query), placeholderData: keepPreviousData });
  const items = log.data?.items ?? [];
  const total = log.data?.total ?? 0;
  const showUser = admin && (everyone || Boolean(who));
  return (
    <div className="page">
      <h1>Inference log</h1>
      <p className="muted">Every call querydeck made to a model {admin ? "" : "for you "}(asking, explaining, embeddings, tests), with the prompt and the response as kept: cut to a size limit, with keys redacted.</p>
      <form className="filters" role="search" onSubmit={(e) => e.preventDefault()}>
        <label>
          Purpose
          <select value={purpose} onChange={(e) => setPurpose(e.target.value)}>
            {PURPOSES.map((p) => <option key={p} value={p}>{p || "any"}</option>)}
          </select>
        </label>
        {admin && (
          <label className="check">
            <input type="checkbox" checked={everyone} onChange={(e) => setEveryone(e.target.checked)} /> Every user
          </label>
        )}
        {admin && (
          <label>
            User <input value={who} onChange={(e) => setWho(e.target.value)} size={12} />
          </label>
        )}
      </form>
      {log.isError && <ErrorText error={log.error} />}
      {log.isPending ? (
        <p className="loading-block" role="status">Loading…</p>
      ) : items.length === 0 ? (
        <p className="empty">No model calls{purpose ? " with that purpose" : ""} yet.</p>
      ) : (
        <div className="table-scroll">
          <table className="list" aria-label="Model calls">
            <thead>
              <tr>
                <th scope="col">When</th>
                {showUser && <th scope="col">User</th>}
                <th scope="col">Endpoint</th>
                <th scope="col">Purpose</th>
                <th scope="col" className="num">Latency</th>
                <th scope="col" className="num">Tokens in</th>
                <th scope="col" className="num">Tokens out</th>
                <th scope="col">Status</th>
                <th scope="col">Error</th>
                <th scope="col"><span className="sr-only">Detail</span></th>
              </tr>
            </thead>
            <tbody>
              {items.map((e) => (
                <tr key={e.id} data-entry={e.id}>
                  <td title={e.at}>{formatAgo(e.at)}</td>
                  {showUser && <td>{e.user}</td>}
                  <td>{e.endpoint}</td>
                  <td><code>{e.purpose}</code></td>
                  <td className="num">{formatDuration(e.latency_ms)}</td>
                  <td className="num">{e.tokens_in?.toLocaleString("en") ?? ""}</td>
                  <td className="num">{e.tokens_out?.toLocaleString("en") ?? ""}</td>
                  <td><span className={`status ${e.status}`}>{e.status}</span></td>
                  <td>{e.error_code ?? ""}</td>
                  <td>
                    <button type="button" onClick={() => setShown(e)} aria-label={`Detail: the prompt and response of the ${e.purpose} call ${formatAgo(e.at)}`}>
                      Detail
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <div className="pager">
        <button type="button" disabled={offset === 0} onClick={() => setOffset(Math.max(0, offset - LIMIT))}>Newer</button>
        <span aria-live="polite">{pageLabel(offset, items.length, total)}</span>
        <button type="button" disabled={offset + LIMIT >= total} onClick={() => setOffset(offset + LIMIT)}>Older</button>
      </div>
      {shown && <EntryDialog entry={shown} onClose={() => setShown(null)} />}
    </div>
  );
}

function EntryDialog({ entry, onClose }: { entry: InferenceEntry; onClose: () => void }) {
  const close = useRef<HTMLButtonElement>(null);
  useEffect(() => close.current?.focus(), []);
  return (
    <div className="dialog-backdrop" onClick={onClose}>
      <div className="dialog" role="dialog" aria-modal="true" aria-label="Model call" onClick={(e) => e.stopPropagation()} onKeyDown={(e) => e.key === "Escape" && onClose()}>
        <h2>
          <code>{entry.purpose}</code> on {entry.endpoint}
        </h2>
        <p className="muted">
          {new Date(entry.at).toLocaleString()} · {entry.user} · {formatDuration(entry.latency_ms)} · {entry.status}
          {entry.error_code ? ` (${entry.error_code})` : ""}
          {entry.answer_id ? ` · answer ${entry.answer_id.slice(0, 8)}` : ""}
        </p>
        <h3>Prompt</h3>
        <pre data-testid="log-prompt" tabIndex={0} aria-label="Prompt">{entry.prompt || "(empty)"}</pre>
        <h3>Response</h3>
        <pre data-testid="log-response" tabIndex={0} aria-label="Response">{entry.response || "(empty)"}</pre>
        <div className="dialog-actions">
          <button type="button" ref={close} onClick={onClose}>Close</button>
        </div>
      </div>
    </div>
  );
}
