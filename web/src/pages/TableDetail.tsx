/** A relation's detail: columns with types, keys, indexes, DDL or the view's definition,
 * row estimate, and a preview of its first rows (within the user's rights). */
import { useQuery } from "@tanstack/react-query";
import { fetchJson, type Schemas } from "../api/client";
import { formatAgo } from "../app/data";
import { display } from "../grid/cells";
import { ErrorText } from "../app/ErrorText";

type Props = { connection: string; schema: string; table: string };

export default function TableDetail({ connection, schema, table }: Props) {
  const detail = useQuery({
    queryKey: ["table", connection, schema, table],
    queryFn: () => fetchJson<Schemas["TableDetail"]>(`/api/v1/connections/${encodeURIComponent(connection)}/tables/${encodeURIComponent(schema)}/${encodeURIComponent(table)}?preview=20`),
  });
  if (detail.isPending) return <div className="page loading-block" role="status">Loading…</div>;
  if (detail.isError) return <div className="page"><ErrorText error={detail.error} /></div>;
  const d = detail.data;
  const preview = d.preview as { columns?: { name: string }[]; rows?: unknown[][] } | null | undefined;
  return (
    <div className="page">
      <h1>
        {d.schema_name}.{d.name} <small className="muted">{d.kind} · {connection}</small>
      </h1>
      <p className="muted">
        {d.row_estimate !== null && d.row_estimate !== undefined ? `About ${d.row_estimate.toLocaleString()} rows · ` : ""}refreshed {formatAgo(d.refreshed_at)}
      </p>
      {d.comment && <p>{d.comment}</p>}
      <h2>Columns</h2>
      <table className="list">
        <thead>
          <tr>
            <th scope="col">#</th>
            <th scope="col">Name</th>
            <th scope="col">Type</th>
            <th scope="col">Null</th>
            <th scope="col">Default</th>
            <th scope="col">Comment</th>
          </tr>
        </thead>
        <tbody>
          {d.columns.map((c) => (
            <tr key={c.name}>
              <td>{c.ordinal}</td>
              <td>
                {c.name}
                {d.primary_key?.includes(c.name) ? <span className="pill">PK</span> : null}
              </td>
              <td>{c.native_type}</td>
              <td>{c.nullable ? "yes" : "no"}</td>
              <td>{c.default ?? ""}</td>
              <td>{c.comment ?? ""}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {d.foreign_keys.length > 0 && (
        <>
          <h2>Foreign keys</h2>
          <ul>
            {d.foreign_keys.map((fk, i) => (
              <li key={i}>
                {fk.name ? <strong>{fk.name}: </strong> : null}({fk.columns.join(", ")}) → {fk.ref_schema}.{fk.ref_table} ({fk.ref_columns.join(", ")})
              </li>
            ))}
          </ul>
        </>
      )}
      {d.indexes.length > 0 && (
        <>
          <h2>Indexes</h2>
          <ul>
            {d.indexes.map((ix, i) => (
              <li key={i}>
                <strong>{ix.name}</strong> ({ix.columns.join(", ")}){ix.primary ? " primary key" : ix.unique ? " unique" : ""}
                {ix.definition ? (
                  <>
                    {" "}
                    <code>{ix.definition}</code>
                  </>
                ) : null}
              </li>
            ))}
          </ul>
        </>
      )}
      <h2>{d.definition ? "Definition" : "DDL"}</h2>
      <pre className="sql-preview" tabIndex={0}>{d.definition ?? d.ddl}</pre>
      <h2>Preview</h2>
      {d.preview_error ? (
        <p className="error-text">{typeof d.preview_error === "object" ? (d.preview_error as { message?: string }).message : String(d.preview_error)}</p>
      ) : preview?.rows ? (
        <div className="table-scroll" tabIndex={0} role="region" aria-label="Preview rows">
          <table className="list">
            <thead>
              <tr>
                {(preview.columns ?? []).map((c) => (
                  <th key={c.name} scope="col">
                    {c.name}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {preview.rows.map((row, i) => (
                <tr key={i}>
                  {row.map((v, j) => (
                    <td key={j} className={v === null ? "null" : undefined}>
                      {display(v)}
                    </td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : (
        <p className="muted">No preview.</p>
      )}
    </div>
  );
}
