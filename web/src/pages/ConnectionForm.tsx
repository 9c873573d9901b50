/** Add or edit a connection: the fields come from the driver's options schema; secrets
 * are write-only; a pasted URL fills the driver and options; the server's validation and
 * duplicate-name answers show in the form. Administrators also manage its grants. */
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect, useMemo, useState } from "react";
import { ApiError, describeError, fetchJson, type Schemas } from "../api/client";
import { useDrivers, type ConnectionInfo } from "../app/data";
import { navigate } from "../app/router";
import { useUser } from "../app/session";
import { fieldsOf, optionsFrom, type Field } from "./optionsForm";
import { ErrorText } from "../app/ErrorText";

export default function ConnectionForm({ name }: { name: string | null }) {
  const user = useUser();
  const drivers = useDrivers();
  const client = useQueryClient();
  const existing = useQuery({
    queryKey: ["connection", name],
    enabled: name !== null,
    queryFn: () => fetchJson<ConnectionInfo>(`/api/v1/connections/${encodeURIComponent(name as string)}`),
  });
  const [connectionName, setConnectionName] = useState(name ?? "");
  const [driver, setDriver] = useState("postgres");
  const [url, setUrl] = useState("");
  const [values, setValues] = useState<Record<string, string | boolean>>({});
  const [problems, setProblems] = useState<Record<string, string>>({});
  const [error, setError] = useState<string | null>(null);
  const [saved, setSaved] = useState<string | null>(null);
  const editing = name !== null;
  const info = existing.data;
  const schema = drivers.data?.find((d) => d.name === (info?.driver ?? driver))?.options_schema;
  const fields = useMemo(() => (schema ? fieldsOf(schema) : []), [schema]);

  useEffect(() => {
    if (!info) return;
    setDriver(info.driver);
    const initial: Record<string, string | boolean> = {};
    for (const [key, value] of Object.entries(info.options)) initial[key] = typeof value === "boolean" ? value : value === null ? "" : String(value);
    setValues(initial);
  }, [info]);

  const submit = async () => {
    setError(null);
    setProblems({});
    setSaved(null);
    try {
      if (editing && info) {
        if (connectionName !== info.name) {
          await fetchJson(`/api/v1/connections/${encodeURIComponent(info.name)}/rename`, { method: "POST", body: JSON.stringify({ name: connectionName }) });
        }
        const options = optionsFrom(fields, values, true, info.options);
        await fetchJson(`/api/v1/connections/${encodeURIComponent(connectionName)}`, { method: "PATCH", body: JSON.stringify({ options }) });
        setSaved("Saved.");
        if (connectionName !== info.name) navigate(`/connections/${encodeURIComponent(connectionName)}`, { replace: true });
      } else {
        const body = url.trim() ? { name: connectionName, url: url.trim(), options: optionsFrom(fields, values, false) } : { name: connectionName, driver, options: optionsFrom(fields, values, false) };
        await fetchJson("/api/v1/connections", { method: "POST", body: JSON.stringify(body) });
        await client.invalidateQueries({ queryKey: ["connections"] });
        navigate("/connections");
        return;
      }
      await client.invalidateQueries({ queryKey: ["connections"] });
      await client.invalidateQueries({ queryKey: ["connection"] });
    } catch (reason) {
      if (reason instanceof ApiError) {
        const found: Record<string, string> = {};
        const list = (reason.detail.problems as { field: string; problem: string }[] | undefined) ?? [];
        for (const p of list) found[p.field.replace(/^options\./, "")] = p.problem;
        if (typeof reason.detail.field === "string") found[reason.detail.field] = reason.message;
        if (reason.code.includes("NAME")) found.__name = reason.message;
        setProblems(found);
      }
      setError(describeError(reason).message);
    }
  };

  if (editing && existing.isPending) return <div className="page loading-block" role="status">Loading…</div>;
  if (editing && existing.isError) return <div className="page"><ErrorText error={existing.error} /></div>;

  return (
    <div className="page narrow">
      <h1>{editing ? `Connection ${name}` : "Add a connection"}</h1>
      <form
        className="form"
        onSubmit={(e) => {
          e.preventDefault();
          void submit();
        }}
      >
        <label>
          Name
          <input value={connectionName} onChange={(e) => setConnectionName(e.target.value)} required aria-invalid={problems.__name ? true : undefined} aria-describedby={problems.__name ? "name-problem" : undefined} />
          {problems.__name && <span id="name-problem" className="field-error">{problems.__name}</span>}
        </label>
        {!editing && (
          <>
            <label>
              Paste a URL (optional)
              <input value={url} onChange={(e) => setUrl(e.target.value)} placeholder="postgresql://user@host:5432/db" />
            </label>
            <label>
              Driver
              <select value={driver} onChange={(e) => setDriver(e.target.value)} disabled={url.trim() !== ""}>
                {(drivers.data ?? []).map((d) => (
                  <option key={d.name} value={d.name}>
                    {d.title}
                  </option>
                ))}
              </select>
            </label>
          </>
        )}
        <fieldset>
          <legend>Options{url.trim() && !editing ? " (override what the URL says)" : ""}</legend>
          {fields.map((field) => (
            <OptionField key={field.name} field={field} value={values[field.name]} secretSet={info?.secrets_set.includes(field.name) ?? false} problem={problems[field.name]} onChange={(v) => setValues({ ...values, [field.name]: v })} required={field.required && !url.trim() && !editing} />
          ))}
        </fieldset>
        {error && <p className="error-text" role="alert">{error}</p>}
        {saved && <p className="notice" role="status">{saved}</p>}
        <div className="actions">
          <button type="submit" className="primary">{editing ? "Save" : "Add connection"}</button>
          <button type="button" onClick={() => navigate("/connections")}>Back</button>
        </div>
      </form>
      {editing && info && user.role === "admin" && <Grants connection={info.name} />}
    </div>
  );
}

function OptionField({ field, value, secretSet, problem, onChange, required }: { field: Field; value: string | boolean | undefined; secretSet: boolean; problem?: string; onChange: (v: string | boolean) => void; required: boolean }) {
  const id = `option-${field.name}`;
  const described = [field.description ? `${id}-help` : null, problem ? `${id}-problem` : null].filter(Boolean).join(" ") || undefined;
  let input;
  if (field.kind === "boolean") {
    input = <input id={id} type="checkbox" checked={Boolean(value ?? field.default)} onChange={(e) => onChange(e.target.checked)} />;
  } else if (field.kind === "enum") {
    input = (
      <select id={id} value={typeof value === "string" ? value : ""} onChange={(e) => onChange(e.target.value)} aria-describedby={described}>
        <option value="">{field.default !== null ? `default (${String(field.default)})` : "(none)"}</option>
        {field.choices.map((c) => (
          <option key={c}>{c}</option>
        ))}
      </select>
    );
  } else {
    input = (
      <input
        id={id}
        type={field.kind === "secret" ? "password" : field.kind === "integer" || field.kind === "number" ? "number" : "text"}
        value={typeof value === "string" ? value : ""}
        placeholder={field.kind === "secret" ? (secretSet ? "(set — leave empty to keep)" : "") : field.default !== null ? String(field.default) : ""}
        autoComplete={field.kind === "secret" ? "new-password" : "off"}
        required={required}
        aria-invalid={problem ? true : undefined}
        aria-describedby={described}
        onChange={(e) => onChange(e.target.value)}
      />
    );
  }
  return (
    <div className="field">
      <label htmlFor={id}>
        {field.title}
        {field.required ? " *" : ""}
      </label>
      {input}
      {field.description && <small id={`${id}-help`}>{field.description}</small>}
      {problem && <span id={`${id}-problem`} className="field-error">{problem}</span>}
    </div>
  );
}

const ACTIONS = ["browse", "query", "export", "manage"];

function Grants({ connection }: { connection: string }) {
  const client = useQueryClient();
  const grants = useQuery({
    queryKey: ["grants", connection],
    queryFn: () => fetchJson<Schemas["GrantInfo"][] | { items: Schemas["GrantInfo"][] }>(`/api/v1/connections/${encodeURIComponent(connection)}/grants`).then((g) => (Array.isArray(g) ? g : g.items)),
  });
  const [subject, setSubject] = useState("");
  const [kind, setKind] = useState("user");
  const [actions, setActions] = useState<string[]>(["browse", "query"]);
  const [error, setError] = useState<string | null>(null);
  const refresh = () => client.invalidateQueries({ queryKey: ["grants", connection] });
  return (
    <section className="grants" aria-label="Grants">
      <h2>Grants</h2>
      {grants.data && grants.data.length === 0 && <p className="muted">No grants: only administrators use this connection.</p>}
      {grants.data && grants.data.length > 0 && (
        <table className="list">
          <thead>
            <tr>
              <th scope="col">Who</th>
              <th scope="col">May</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {grants.data.map((g) => (
              <tr key={`${g.subject_kind}:${g.subject}`}>
                <td>
                  {g.subject} <span className="muted">({g.subject_kind})</span>
                </td>
                <td>{g.actions.join(", ")}</td>
                <td>
                  <button type="button" className="danger" onClick={async () => {
                    try {
                      await fetchJson(`/api/v1/connections/${encodeURIComponent(connection)}/grants/${g.subject_kind}/${encodeURIComponent(g.subject)}`, { method: "DELETE" });
                      await refresh();
                    } catch (reason) {
                      setError(describeError(reason).message);
                    }
                  }}>
                    Revoke
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <form
        className="inline-form"
        onSubmit={async (e) => {
          e.preventDefault();
          setError(null);
          try {
            await fetchJson(`/api/v1/connections/${encodeURIComponent(connection)}/grants`, { method: "PUT", body: JSON.stringify({ subject_kind: kind, subject, actions }) });
            setSubject("");
            await refresh();
          } catch (reason) {
            setError(describeError(reason).message);
          }
        }}
      >
        <select value={kind} onChange={(e) => setKind(e.target.value)} aria-label="Grant to">
          <option value="user">user</option>
          <option value="group">group</option>
        </select>
        <input value={subject} onChange={(e) => setSubject(e.target.value)} required aria-label="User or group name" placeholder="name" />
        {ACTIONS.map((a) => (
          <label key={a} className="check">
            <input type="checkbox" checked={actions.includes(a)} onChange={(e) => setActions(e.target.checked ? [...actions, a] : actions.filter((x) => x !== a))} /> {a}
          </label>
        ))}
        <button type="submit">Grant</button>
      </form>
      {error && <p className="error-text" role="alert">{error}</p>}
    </section>
  );
}
