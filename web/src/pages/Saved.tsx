/** Saved queries: the user's and those shared with them; search, tags, favourites; open in
 * a new editor tab, run, edit, share, delete. */
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { describeError, fetchJson, type RunInfo, type Schemas } from "../api/client";
import { formatAgo } from "../app/data";
import { navigate } from "../app/router";
import { useUser } from "../app/session";
import { openRunInEditor } from "./History";
import { ErrorText } from "../app/ErrorText";

type SavedQuery = Schemas["SavedQuery"];

export default function Saved() {
  const user = useUser();
  const client = useQueryClient();
  const [q, setQ] = useState("");
  const [tag, setTag] = useState("");
  const [favourites, setFavourites] = useState(false);
  const [message, setMessage] = useState<string | null>(null);
  const [editing, setEditing] = useState<SavedQuery | null>(null);
  const saved = useQuery({
    queryKey: ["saved", q, tag, favourites],
    queryFn: () => {
      const query = new URLSearchParams({ limit: "200" });
      if (q) query.set("q", q);
      if (tag) query.set("tag", tag);
      if (favourites) query.set("favourite", "true");
      return fetchJson<Schemas["Page_SavedQuery_"]>(`/api/v1/saved-queries?${query}`).then((p) => p.items);
    },
  });
  const refresh = () => client.invalidateQueries({ queryKey: ["saved"] });
  const act = async (work: () => Promise<unknown>) => {
    setMessage(null);
    try {
      await work();
      await refresh();
    } catch (error) {
      setMessage(describeError(error).message);
    }
  };
  const path = (item: SavedQuery) => `/api/v1/saved-queries/${encodeURIComponent(item.id)}`;
  const run = (item: SavedQuery) =>
    act(async () => {
      const view = await fetchJson<{ run: RunInfo }>(`${path(item)}/run`, { method: "POST", body: JSON.stringify({ wait_ms: 0 }) });
      if (user.role === "viewer") navigate(`/history`);
      else openRunInEditor(view.run, false, { id: item.id, name: item.name });
    });

  return (
    <div className="page">
      <h1>Saved queries</h1>
      <form className="filters" role="search" onSubmit={(e) => e.preventDefault()}>
        <label>
          Search <input type="search" value={q} onChange={(e) => setQ(e.target.value)} />
        </label>
        <label>
          Tag <input value={tag} onChange={(e) => setTag(e.target.value)} size={12} />
        </label>
        <label className="check">
          <input type="checkbox" checked={favourites} onChange={(e) => setFavourites(e.target.checked)} /> Favourites only
        </label>
      </form>
      {message && <p className="error-text" role="alert">{message}</p>}
      {saved.isPending ? (
        <p className="loading-block" role="status">Loading…</p>
      ) : saved.isError ? (
        <ErrorText error={saved.error} />
      ) : saved.data.length === 0 ? (
        <p className="empty">No saved queries{q || tag || favourites ? " match" : " yet: save one from the editor"}.</p>
      ) : (
        <ul className="cards">
          {saved.data.map((item) => {
            const mine = item.owner === user.username || user.role === "admin";
            return (
              <li key={item.id} className="card">
                <div className="card-head">
                  <button type="button" className="star" aria-pressed={item.favourite} aria-label={item.favourite ? "Unmark favourite" : "Mark favourite"} disabled={!mine} onClick={() => void act(() => fetchJson(path(item), { method: "PATCH", body: JSON.stringify({ favourite: !item.favourite }) }))}>
                    {item.favourite ? "★" : "☆"}
                  </button>
                  <h2>{item.name}</h2>
                  {item.shared && <span className="pill">shared</span>}
                  <span className="muted">
                    {item.owner} · {item.connection ?? "no connection"} · {formatAgo(item.updated_at)}
                  </span>
                </div>
                {item.description && <p>{item.description}</p>}
                <pre className="sql-preview" tabIndex={0}>{item.sql.length > 400 ? `${item.sql.slice(0, 400)}…` : item.sql}</pre>
                <div className="tags">
                  {item.tags.map((t) => (
                    <button key={t} type="button" className="pill" onClick={() => setTag(t)}>
                      #{t}
                    </button>
                  ))}
                </div>
                <div className="actions">
                  <button type="button" className="primary" onClick={() => void run(item)}>Run</button>
                  {user.role !== "viewer" && (
                    <button type="button" onClick={() => navigate(`/?${new URLSearchParams({ sql: item.sql, connection: item.connection ?? "", title: item.name, saved: item.id })}`)}>
                      Open in new tab
                    </button>
                  )}
                  {mine && <button type="button" onClick={() => setEditing(item)}>Edit</button>}
                  {mine && item.connection && (
                    <button type="button" onClick={() => void act(() => fetchJson(path(item), { method: "PATCH", body: JSON.stringify({ shared: !item.shared }) }))}>
                      {item.shared ? "Stop sharing" : "Share"}
                    </button>
                  )}
                  {mine && (
                    <button type="button" className="danger" onClick={() => confirm(`Delete the saved query “${item.name}”?`) && void act(() => fetchJson(path(item), { method: "DELETE" }))}>
                      Delete
                    </button>
                  )}
                </div>
              </li>
            );
          })}
        </ul>
      )}
      {editing && <EditSaved item={editing} onClose={() => setEditing(null)} onSaved={() => void refresh()} />}
    </div>
  );
}

function EditSaved({ item, onClose, onSaved }: { item: SavedQuery; onClose: () => void; onSaved: () => void }) {
  const [name, setName] = useState(item.name);
  const [description, setDescription] = useState(item.description);
  const [tags, setTags] = useState(item.tags.join(", "));
  const [sql, setSql] = useState(item.sql);
  const [error, setError] = useState<string | null>(null);
  return (
    <div className="dialog-backdrop" onClick={onClose}>
      <form
        className="dialog"
        role="dialog"
        aria-modal="true"
        aria-label={`Edit ${item.name}`}
        onClick={(e) => e.stopPropagation()}
        onKeyDown={(e) => e.key === "Escape" && onClose()}
        onSubmit={async (e) => {
          e.preventDefault();
          try {
            await fetchJson(`/api/v1/saved-queries/${encodeURIComponent(item.id)}`, { method: "PATCH", body: JSON.stringify({ name, description, sql, tags: tags.split(",").map((t) => t.trim()).filter(Boolean) }) });
            onSaved();
            onClose();
          } catch (reason) {
            setError(describeError(reason).message);
          }
        }}
      >
        <h2>Edit saved query</h2>
        <label>
          Name <input value={name} onChange={(e) => setName(e.target.value)} required />
        </label>
        <label>
          Description <textarea value={description} onChange={(e) => setDescription(e.target.value)} rows={2} />
        </label>
        <label>
          Tags <input value={tags} onChange={(e) => setTags(e.target.value)} />
        </label>
        <label>
          SQL <textarea value={sql} onChange={(e) => setSql(e.target.value)} rows={8} className="mono" />
        </label>
        {error && <p className="error-text" role="alert">{error}</p>}
        <div className="dialog-actions">
          <button type="button" onClick={onClose}>Cancel</button>
          <button type="submit" className="primary">Save</button>
        </div>
      </form>
    </div>
  );
}
