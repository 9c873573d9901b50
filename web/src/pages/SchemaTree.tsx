/** The schema browser: a lazy tree (schemas → relations → columns, one level fetched when
 * opened), how fresh each schema is, a refresh button, and one search box across every
 * connection the user may browse. Clicking a name inserts it into the editor. */
import { useEffect, useState } from "react";
import { describeError, fetchJson, type Schemas } from "../api/client";
import { formatAgo } from "../app/data";
import { navigate } from "../app/router";
import { catalogLevel, catalogPath, forgetCatalog, searchCatalog, type CatalogNode, type SearchHit } from "../editor/catalog";

type Props = { connection: string | null; onInsert: (text: string) => void };

function quote(name: string): string {
  return /^[a-z_][a-z0-9_]*$/.test(name) ? name : `"${name.replaceAll('"', '""')}"`;
}

export function SchemaTree({ connection, onInsert }: Props) {
  const [version, setVersion] = useState(0);
  const [query, setQuery] = useState("");
  const [hits, setHits] = useState<SearchHit[] | null>(null);
  const [refreshing, setRefreshing] = useState(false);
  const [message, setMessage] = useState<string | null>(null);
  const [report, setReport] = useState<Report | null>(null);

  useEffect(() => {
    if (query.trim().length === 0) {
      setHits(null);
      return;
    }
    const timer = setTimeout(() => {
      searchCatalog(query.trim(), 50)
        .then(setHits)
        .catch((error) => setMessage(describeError(error).message));
    }, 200);
    return () => clearTimeout(timer);
  }, [query]);

  const refresh = async () => {
    if (!connection) return;
    setRefreshing(true);
    setMessage(null);
    setReport(null);
    try {
      const report = await fetchJson<Report>(`/api/v1/connections/${encodeURIComponent(connection)}/catalog/refresh`, { method: "POST", body: "{}" });
      forgetCatalog(connection);
      setVersion((v) => v + 1);
      setReport(report);
    } catch (error) {
      setMessage(describeError(error).message);
    } finally {
      setRefreshing(false);
    }
  };

  return (
    <div className="schema-tree">
      <div className="tree-head">
        <input type="search" placeholder="Search tables and columns" aria-label="Search the catalogs" value={query} onChange={(e) => setQuery(e.target.value)} />
        <button type="button" onClick={() => void refresh()} disabled={!connection || refreshing} title="Read the catalog again">
          {refreshing ? "…" : "⟳"}
          <span className="sr-only">Refresh the catalog</span>
        </button>
      </div>
      {message && <p className="tree-message" role="status">{message}</p>}
      {report && <RefreshChanges report={report} />}
      {hits !== null ? (
        <ul className="hits" aria-label="Search results">
          {hits.length === 0 && <li className="muted">No match.</li>}
          {hits.map((hit, i) => (
            <li key={i}>
              <button type="button" className="link" onClick={() => onInsert(hit.path.split(".").map(quote).join("."))} title={hit.comment ?? undefined}>
                {hit.path}
              </button>{" "}
              <span className="muted">
                {hit.kind} · {hit.connection}
              </span>
            </li>
          ))}
        </ul>
      ) : connection ? (
        <Level key={`${connection}-${version}`} connection={connection} path="" depth={0} onInsert={onInsert} />
      ) : (
        <p className="muted">No connection chosen.</p>
      )}
    </div>
  );
}

type Report = Schemas["RefreshReport"];

/** What the last refresh changed, schema by schema: tables added and removed, columns
 * added, removed and retyped. */
function RefreshChanges({ report }: { report: Report }) {
  const schemas = (report.schemas ?? []).filter((s) => s.diff && (s.diff.added_tables?.length || s.diff.removed_tables?.length || s.diff.changed_tables?.length));
  if (schemas.length === 0) return <p className="tree-message" role="status">Refreshed: nothing changed.</p>;
  return (
    <div className="tree-message" role="status">
      <p>Refreshed. What changed:</p>
      <ul className="changes">
        {schemas.map((schema) => (
          <li key={schema.schema_name}>
            <strong>{schema.schema_name}</strong>
            <ul>
              {schema.diff?.added_tables?.map((t) => <li key={`+${t}`}>+ table {t}</li>)}
              {schema.diff?.removed_tables?.map((t) => <li key={`-${t}`}>− table {t}</li>)}
              {schema.diff?.changed_tables?.map((change) => (
                <li key={`~${change.table}`}>
                  ~ {change.table}:{" "}
                  {(change.columns ?? [])
                    .map((c) => (c.change === "added" ? `+${c.column}` : c.change === "removed" ? `−${c.column}` : c.change === "type_changed" ? `${c.column} ${c.old_type ?? ""} → ${c.new_type ?? ""}` : `${c.column} changed`))
                    .concat(change.other ?? [])
                    .join(", ")}
                </li>
              ))}
            </ul>
          </li>
        ))}
      </ul>
    </div>
  );
}

function Level({ connection, path, depth, onInsert }: { connection: string; path: string; depth: number; onInsert: (text: string) => void }) {
  const [items, setItems] = useState<CatalogNode[] | null>(null);
  const [level, setLevel] = useState<{ refreshed_at?: string | null; partial?: boolean } | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    let live = true;
    catalogLevel(connection, path)
      .then((found) => {
        if (!live) return;
        setItems(found.items);
        setLevel(found);
      })
      .catch((reason) => live && setError(describeError(reason).message));
    return () => {
      live = false;
    };
  }, [connection, path]);
  if (error) return <p className="error-text">{error}</p>;
  if (!items) return <p className="muted tree-loading">Loading…</p>;
  return (
    <>
      {depth === 0 && level?.refreshed_at !== undefined && (
        <p className="muted fresh">
          refreshed {formatAgo(level.refreshed_at)}
          {level.partial ? " (partial)" : ""}
        </p>
      )}
      {items.length === 0 && <p className="muted tree-empty">(empty)</p>}
      {items.length > 0 && (
        <ul className="tree" role={depth === 0 ? "tree" : "group"} aria-label={depth === 0 ? `Catalog of ${connection}` : undefined}>
          {items.map((node) => (
            <Node key={node.name} connection={connection} parent={path} node={node} depth={depth} onInsert={onInsert} />
          ))}
        </ul>
      )}
    </>
  );
}

function Node({ connection, parent, node, depth, onInsert }: { connection: string; parent: string; node: CatalogNode; depth: number; onInsert: (text: string) => void }) {
  const [open, setOpen] = useState(false);
  const leaf = node.kind === "column";
  const path = parent ? catalogPath(parent, node.name) : node.name;
  const schema = parent.split(".")[0] ?? "";
  return (
    <li role="treeitem" aria-expanded={leaf ? undefined : open} aria-level={depth + 1} className={`node ${node.kind}`}>
      <div className="node-line">
        {!leaf ? (
          <button type="button" className="twisty" aria-label={`${open ? "Collapse" : "Expand"} ${node.name}`} onClick={() => setOpen(!open)}>
            {open ? "▾" : "▸"}
          </button>
        ) : (
          <span className="twisty" />
        )}
        <button type="button" className="link node-name" title={node.comment ?? `Insert ${node.name}`} onClick={() => onInsert(depth === 1 ? `${quote(parent)}.${quote(node.name)}` : quote(node.name))}>
          {node.name}
        </button>
        <span className="muted node-kind">{leaf ? node.native_type : node.kind === "schema" ? "" : node.kind}</span>
        {depth === 1 && (
          <button type="button" className="link small" onClick={() => navigate(`/tables/${encodeURIComponent(connection)}/${encodeURIComponent(schema)}/${encodeURIComponent(node.name)}`)}>
            details
          </button>
        )}
      </div>
      {open && !leaf && <Level connection={connection} path={path} depth={depth + 1} onInsert={onInsert} />}
    </li>
  );
}
