/** A connection's knowledge base: question/SQL examples with their review status
 * (candidates to approve or reject, stale ones with the reason), and the glossary.
 * Editors (``manage`` on the connection) review and edit; the server refuses others. */
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect, useRef, useState } from "react";
import { describeError } from "../../api/client";
import { formatAgo, useConnections } from "../../app/data";
import { ErrorText } from "../../app/ErrorText";
import { navigate } from "../../app/router";
import { useUser } from "../../app/session";
import { addExample, connectionPath, deleteExample, deleteTerm, importKnowledge, listExamples, listGlossary, putTerm, reviewExample, updateExample, type Example, type ExampleStatus, type GlossaryEntry } from "../../assistant/api";
import { importText, parseTags } from "../../assistant/logic";

const STATUSES: (ExampleStatus | "")[] = ["", "candidate", "approved", "stale"];

export default function Knowledge({ connection }: { connection: string | null }) {
  const connections = useConnections();
  const first = connections.data?.[0]?.name ?? null;
  useEffect(() => {
    if (!connection && first) navigate(`/knowledge/${encodeURIComponent(first)}`, { replace: true });
  }, [connection, first]);
  return (
    <div className="page">
      <div className="page-head">
        <h1>Knowledge base</h1>
        <label>
          Connection{" "}
          <select value={connection ?? ""} onChange={(e) => navigate(`/knowledge/${encodeURIComponent(e.target.value)}`)}>
            {!connection && <option value="">(choose)</option>}
            {(connections.data ?? []).map((c) => (
              <option key={c.id} value={c.name}>{c.name}</option>
            ))}
          </select>
        </label>
      </div>
      <p className="muted">
        Approved examples and the glossary are what the assistant shows the model for questions on this connection. A thumbs-up on an answer adds a candidate; an editor approves it. A catalog refresh that drops or changes a table or column an example uses marks it stale.
      </p>
      {connections.isError && <ErrorText error={connections.error} />}
      {connection && <MarkdownFiles key={`m-${connection}`} connection={connection} />}
      {connection && <Examples key={`e-${connection}`} connection={connection} />}
      {connection && <Glossary key={`g-${connection}`} connection={connection} />}
    </div>
  );
}

type Message = { text: string; error: boolean } | null;

/** Export the knowledge base as one Markdown file (for git), or import one. */
function MarkdownFiles({ connection }: { connection: string }) {
  const user = useUser();
  const client = useQueryClient();
  const [message, setMessage] = useState<Message>(null);
  const upload = async (file: File) => {
    setMessage(null);
    try {
      const report = await importKnowledge(connection, await file.text());
      setMessage({ text: importText(report), error: false });
    } catch (error) {
      setMessage({ text: describeError(error).message, error: true });
    } finally {
      await client.invalidateQueries({ queryKey: ["knowledge", connection] });
    }
  };
  return (
    <div className="inline-form">
      <a href={connectionPath(connection, "knowledge/export")} download={`${connection}-knowledge.md`}>
        Export as Markdown
      </a>
      {user.role !== "viewer" && (
        <label>
          Import Markdown{" "}
          <input
            type="file"
            accept=".md,text/markdown,text/plain"
            onChange={(e) => {
              const file = e.target.files?.[0];
              e.target.value = "";
              if (file) void upload(file);
            }}
          />
        </label>
      )}
      {message && <span className={message.error ? "error-text" : "notice"} role={message.error ? "alert" : "status"}>{message.text}</span>}
    </div>
  );
}

function Examples({ connection }: { connection: string }) {
  const user = useUser();
  const editor = user.role !== "viewer";
  const client = useQueryClient();
  const [status, setStatus] = useState<ExampleStatus | "">("");
  const [message, setMessage] = useState<Message>(null);
  const [editing, setEditing] = useState<Example | "new" | null>(null);
  const examples = useQuery({ queryKey: ["knowledge", connection, "examples", status], queryFn: () => listExamples(connection, status) });
  const act = async (work: () => Promise<unknown>, done: string) => {
    setMessage(null);
    try {
      await work();
      setMessage({ text: done, error: false });
    } catch (error) {
      setMessage({ text: describeError(error).message, error: true });
    } finally {
      await client.invalidateQueries({ queryKey: ["knowledge", connection, "examples"] });
    }
  };
  const short = (q: string) => (q.length > 60 ? `${q.slice(0, 59)}…` : q);
  return (
    <section aria-labelledby="examples-head">
      <div className="page-head">
        <h2 id="examples-head">Examples</h2>
        <label>
          Status{" "}
          <select value={status} onChange={(e) => setStatus(e.target.value as ExampleStatus | "")}>
            {STATUSES.map((s) => <option key={s} value={s}>{s || "any"}</option>)}
          </select>
        </label>
        {editor && <button type="button" onClick={() => setEditing("new")}>Add an example</button>}
      </div>
      {message && <p className={message.error ? "error-text" : "notice"} role={message.error ? "alert" : "status"}>{message.text}</p>}
      {examples.isPending ? (
        <p className="loading-block" role="status">Loading…</p>
      ) : examples.isError ? (
        <ErrorText error={examples.error} />
      ) : examples.data.items.length === 0 ? (
        <p className="empty">No {status || ""} examples{status ? "" : " yet"}.</p>
      ) : (
        <div className="table-scroll">
          <table className="list" aria-label="Examples">
            <thead>
              <tr>
                <th scope="col">Question</th>
                <th scope="col">SQL</th>
                <th scope="col">Status</th>
                <th scope="col">Tables</th>
                <th scope="col">Author</th>
                <th scope="col">Actions</th>
              </tr>
            </thead>
            <tbody>
              {examples.data.items.map((e) => (
                <tr key={e.id} className={e.status === "stale" ? "stale" : undefined} data-example={e.id}>
                  <td>
                    {e.question}
                    {e.tags.length > 0 && <div className="tags">{e.tags.map((t) => <span key={t} className="pill">{t}</span>)}</div>}
                    {e.notes && <div className="muted small">{e.notes}</div>}
                  </td>
                  <td className="sql-cell"><code>{e.sql}</code></td>
                  <td>
                    <span className={`status ${e.status === "approved" ? "ok" : e.status === "stale" ? "error" : ""}`}>{e.status}</span>
                    {e.status === "stale" && <div className="stale-reason">Stale: {e.stale_reason ?? "a table or column it uses changed"}. Fix the SQL and approve it again.</div>}
                  </td>
                  <td className="small">{e.tables.join(", ")}</td>
                  <td className="small">
                    {e.author}
                    {e.reviewer ? <span className="muted"> · reviewed by {e.reviewer}</span> : null}
                    <div className="muted" title={e.updated_at}>{formatAgo(e.updated_at)}</div>
                  </td>
                  <td className="actions">
                    {editor && e.status !== "approved" && (
                      <button type="button" className="primary" aria-label={`Approve “${short(e.question)}”`} onClick={() => void act(() => reviewExample(connection, e.id, "approved"), "Approved.")}>
                        Approve
                      </button>
                    )}
                    {editor && e.status === "approved" && (
                      <button type="button" aria-label={`Unapprove “${short(e.question)}”`} onClick={() => void act(() => reviewExample(connection, e.id, "candidate"), "Back to candidate.")}>
                        Unapprove
                      </button>
                    )}
                    {editor && (
                      <button type="button" aria-label={`Edit “${short(e.question)}”`} onClick={() => setEditing(e)}>
                        Edit
                      </button>
                    )}
                    {editor && (
                      <button
                        type="button"
                        className="danger"
                        aria-label={`${e.status === "candidate" ? "Reject" : "Delete"} “${short(e.question)}”`}
                        onClick={() => {
                          if (confirm(`${e.status === "candidate" ? "Reject and delete" : "Delete"} the example “${short(e.question)}”?`)) void act(() => deleteExample(connection, e.id), "Deleted.");
                        }}
                      >
                        {e.status === "candidate" ? "Reject" : "Delete"}
                      </button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {editing && (
        <ExampleDialog
          example={editing === "new" ? null : editing}
          onClose={() => setEditing(null)}
          onSave={async (values) => {
            if (editing === "new") await addExample(connection, values);
            else await updateExample(connection, editing.id, values);
            setEditing(null);
            setMessage({ text: editing === "new" ? "Added as a candidate." : "Saved.", error: false });
            await client.invalidateQueries({ queryKey: ["knowledge", connection, "examples"] });
          }}
        />
      )}
    </section>
  );
}

type ExampleValues = { question: string; sql: string; notes: string; tags: string[] };

function ExampleDialog({ example, onClose, onSave }: { example: Example | null; onClose: () => void; onSave: (values: ExampleValues) => Promise<void> }) {
  const [question, setQuestion] = useState(example?.question ?? "");
  const [sql, setSql] = useState(example?.sql ?? "");
  const [notes, setNotes] = useState(example?.notes ?? "");
  const [tags, setTags] = useState(example?.tags.join(", ") ?? "");
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const first = useRef<HTMLInputElement>(null);
  useEffect(() => first.current?.focus(), []);
  const title = example ? "Edit the example" : "Add an example";
  return (
    <div className="dialog-backdrop" onClick={onClose}>
      <form
        className="dialog form"
        role="dialog"
        aria-modal="true"
        aria-label={title}
        onClick={(e) => e.stopPropagation()}
        onKeyDown={(e) => e.key === "Escape" && onClose()}
        onSubmit={(e) => {
          e.preventDefault();
          setBusy(true);
          setError(null);
          onSave({ question: question.trim(), sql, notes, tags: parseTags(tags) })
            .catch(setError)
            .finally(() => setBusy(false));
        }}
      >
        <h2>{title}</h2>
        <p className="muted small">The SQL is checked by the guard and EXPLAINed on the engine before it is saved; a changed question or SQL makes the example a candidate again.</p>
        <label>
          Question <input ref={first} value={question} onChange={(e) => setQuestion(e.target.value)} required maxLength={4000} />
        </label>
        <label>
          SQL <textarea className="mono" rows={6} value={sql} onChange={(e) => setSql(e.target.value)} required />
        </label>
        <label>
          Notes <textarea rows={2} value={notes} onChange={(e) => setNotes(e.target.value)} />
        </label>
        <label>
          Tags (comma-separated) <input value={tags} onChange={(e) => setTags(e.target.value)} />
        </label>
        {error !== null && <ErrorText error={error} />}
        <div className="dialog-actions">
          <button type="button" onClick={onClose}>Cancel</button>
          <button type="submit" className="primary" disabled={busy}>{busy ? "Checking…" : "Save"}</button>
        </div>
      </form>
    </div>
  );
}

function Glossary({ connection }: { connection: string }) {
  const user = useUser();
  const editor = user.role !== "viewer";
  const client = useQueryClient();
  const glossary = useQuery({ queryKey: ["knowledge", connection, "glossary"], queryFn: () => listGlossary(connection).then((p) => p.items) });
  const [term, setTerm] = useState("");
  const [definition, setDefinition] = useState("");
  const [message, setMessage] = useState<Message>(null);
  const act = async (work: () => Promise<unknown>, done: string) => {
    setMessage(null);
    try {
      await work();
      setMessage({ text: done, error: false });
      return true;
    } catch (error) {
      setMessage({ text: describeError(error).message, error: true });
      return false;
    } finally {
      await client.invalidateQueries({ queryKey: ["knowledge", connection, "glossary"] });
    }
  };
  const edit = (entry: GlossaryEntry) => {
    setTerm(entry.term);
    setDefinition(entry.definition);
  };
  return (
    <section aria-labelledby="glossary-head">
      <h2 id="glossary-head">Glossary</h2>
      {editor && (
        <form
          className="inline-form"
          aria-label="Define a term"
          onSubmit={(e) => {
            e.preventDefault();
            void act(() => putTerm(connection, term.trim(), definition.trim()), `Defined “${term.trim()}”.`).then((ok) => {
              if (ok) {
                setTerm("");
                setDefinition("");
              }
            });
          }}
        >
          <input aria-label="Term" placeholder="term, e.g. revenue" value={term} onChange={(e) => setTerm(e.target.value)} required maxLength={200} />
          <input aria-label="Definition" placeholder="what it means in this data" size={50} value={definition} onChange={(e) => setDefinition(e.target.value)} required />
          <button type="submit" className="primary">Save term</button>
        </form>
      )}
      {message && <p className={message.error ? "error-text" : "notice"} role={message.error ? "alert" : "status"}>{message.text}</p>}
      {glossary.isPending ? (
        <p className="loading-block" role="status">Loading…</p>
      ) : glossary.isError ? (
        <ErrorText error={glossary.error} />
      ) : glossary.data.length === 0 ? (
        <p className="empty">No terms defined.</p>
      ) : (
        <table className="list" aria-label="Glossary">
          <thead>
            <tr>
              <th scope="col">Term</th>
              <th scope="col">Definition</th>
              <th scope="col">Author</th>
              {editor && <th scope="col">Actions</th>}
            </tr>
          </thead>
          <tbody>
            {glossary.data.map((g) => (
              <tr key={g.id}>
                <td>{g.term}</td>
                <td>{g.definition}</td>
                <td className="small">{g.author}</td>
                {editor && (
                  <td className="actions">
                    <button type="button" aria-label={`Edit the term ${g.term}`} onClick={() => edit(g)}>Edit</button>
                    <button type="button" className="danger" aria-label={`Delete the term ${g.term}`} onClick={() => confirm(`Delete the term “${g.term}”?`) && void act(() => deleteTerm(connection, g.term), `Deleted “${g.term}”.`)}>
                      Delete
                    </button>
                  </td>
                )}
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
