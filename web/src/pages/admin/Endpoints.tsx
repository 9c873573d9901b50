/** Administrators: model endpoints (list, register, edit, delete, test with the detected
 * capabilities) and each connection's assistant switches. An API key is write-only: the
 * form never shows one back, only whether one is set. */
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect, useRef, useState } from "react";
import { describeError } from "../../api/client";
import { formatAgo, useConnections } from "../../app/data";
import { ErrorText } from "../../app/ErrorText";
import { navigate } from "../../app/router";
import { createEndpoint, deleteEndpoint, getSettings, listEndpoints, putSettings, testEndpoint, updateEndpoint, type AssistantSettings, type EndpointInfo } from "../../assistant/api";
import { capabilityText, emptyEndpointForm, endpointBody, formOf, type EndpointForm } from "../../assistant/logic";

type Message = { text: string; error: boolean } | null;

export default function Endpoints() {
  const client = useQueryClient();
  const endpoints = useQuery({ queryKey: ["endpoints"], queryFn: listEndpoints });
  const [editing, setEditing] = useState<EndpointInfo | "new" | null>(null);
  const [message, setMessage] = useState<Message>(null);
  const [busy, setBusy] = useState<string | null>(null);
  const refresh = () => client.invalidateQueries({ queryKey: ["endpoints"] });

  const test = async (e: EndpointInfo) => {
    setBusy(e.name);
    setMessage(null);
    try {
      const probed = await testEndpoint(e.name);
      setMessage({ text: `${e.name}: ${capabilityText(probed)}.`, error: Boolean(probed.capabilities.error_code) });
    } catch (error) {
      setMessage({ text: `${e.name}: ${describeError(error).message}`, error: true });
    } finally {
      setBusy(null);
      await refresh();
    }
  };

  const remove = async (e: EndpointInfo) => {
    if (!confirm(`Delete the model endpoint “${e.name}”? Its inference log entries stay.`)) return;
    try {
      await deleteEndpoint(e.name);
      setMessage({ text: `Deleted ${e.name}.`, error: false });
    } catch (error) {
      setMessage({ text: describeError(error).message, error: true });
    } finally {
      await refresh();
    }
  };

  return (
    <div className="page">
      <div className="page-head">
        <h1>Model endpoints</h1>
        <button type="button" className="primary" onClick={() => setEditing("new")}>Add endpoint</button>
      </div>
      <p className="muted">
        OpenAI-compatible servers (OpenAI, Ollama, vLLM, llama.cpp, LM Studio, LiteLLM) the assistant asks. Their addresses pass the same outbound-address policy as connections; a model server on this machine's loopback needs <code>QUERYDECK_ASSISTANT_ALLOW_LOOPBACK=true</code>.
      </p>
      {message && <p className={message.error ? "error-text" : "notice"} role={message.error ? "alert" : "status"}>{message.text}</p>}
      {endpoints.isPending ? (
        <p className="loading-block" role="status">Loading…</p>
      ) : endpoints.isError ? (
        <ErrorText error={endpoints.error} />
      ) : endpoints.data.length === 0 ? (
        <p className="empty">No model endpoint is registered: the assistant answers “no model is configured”.</p>
      ) : (
        <div className="table-scroll">
          <table className="list" aria-label="Model endpoints">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Kind</th>
                <th scope="col">Model</th>
                <th scope="col">Base URL</th>
                <th scope="col">API key</th>
                <th scope="col">Capabilities</th>
                <th scope="col">Actions</th>
              </tr>
            </thead>
            <tbody>
              {endpoints.data.map((e) => (
                <tr key={e.id} data-endpoint={e.name}>
                  <td>
                    {e.name}
                    {e.default && <span className="pill">default</span>}
                  </td>
                  <td>{e.kind}</td>
                  <td>{e.model}</td>
                  <td className="detail-cell"><code>{e.base_url}</code></td>
                  <td>{e.has_api_key ? "set" : <span className="muted">none</span>}</td>
                  <td data-testid="capabilities">
                    {capabilityText(e)}
                    {e.capabilities.probed_at && <div className="muted small">tested {formatAgo(e.capabilities.probed_at)}</div>}
                  </td>
                  <td className="actions">
                    <button type="button" onClick={() => void test(e)} disabled={busy === e.name} aria-label={`Test ${e.name}`}>
                      {busy === e.name ? "Testing…" : "Test"}
                    </button>
                    <button type="button" onClick={() => setEditing(e)} aria-label={`Edit ${e.name}`}>Edit</button>
                    <button type="button" className="danger" onClick={() => void remove(e)} aria-label={`Delete ${e.name}`}>Delete</button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <p>
        <a href="/assistant/log?all=1" onClick={(e) => (e.preventDefault(), navigate("/assistant/log?all=1"))}>Every user's inference log</a>
      </p>
      <ConnectionSwitches />
      {editing && (
        <EndpointDialog
          endpoint={editing === "new" ? null : editing}
          onClose={() => setEditing(null)}
          onSaved={async (saved) => {
            setEditing(null);
            setMessage({ text: `Saved ${saved.name}. Test it to see what it can do.`, error: false });
            await refresh();
          }}
        />
      )}
    </div>
  );
}

function EndpointDialog({ endpoint, onClose, onSaved }: { endpoint: EndpointInfo | null; onClose: () => void; onSaved: (e: EndpointInfo) => Promise<void> }) {
  const [form, setForm] = useState<EndpointForm>(() => (endpoint ? formOf(endpoint) : emptyEndpointForm()));
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const first = useRef<HTMLInputElement>(null);
  useEffect(() => first.current?.focus(), []);
  const set = <K extends keyof EndpointForm>(key: K, value: EndpointForm[K]) => setForm((f) => ({ ...f, [key]: value }));
  const title = endpoint ? `Edit ${endpoint.name}` : "Add a model endpoint";
  return (
    <div className="dialog-backdrop" onClick={onClose}>
      <form
        className="dialog form"
        role="dialog"
        aria-modal="true"
        aria-label={title}
        autoComplete="off"
        onClick={(e) => e.stopPropagation()}
        onKeyDown={(e) => e.key === "Escape" && onClose()}
        onSubmit={(e) => {
          e.preventDefault();
          setBusy(true);
          setError(null);
          const body = endpointBody(form, endpoint);
          (endpoint ? updateEndpoint(endpoint.name, body) : createEndpoint(body))
            .then(onSaved)
            .catch(setError)
            .finally(() => setBusy(false));
        }}
      >
        <h2>{title}</h2>
        {!endpoint && (
          <label>
            Name <input ref={first} value={form.name} onChange={(e) => set("name", e.target.value)} required maxLength={200} />
          </label>
        )}
        {!endpoint && (
          <label>
            Kind
            <select value={form.kind} onChange={(e) => set("kind", e.target.value as EndpointForm["kind"])}>
              <option value="chat">chat</option>
              <option value="embeddings">embeddings</option>
            </select>
          </label>
        )}
        <label>
          Base URL <input ref={endpoint ? first : undefined} type="url" value={form.base_url} onChange={(e) => set("base_url", e.target.value)} required placeholder="http://127.0.0.1:11434/v1" />
        </label>
        <label>
          Model <input value={form.model} onChange={(e) => set("model", e.target.value)} required />
        </label>
        <label>
          API key{" "}
          <input type="password" autoComplete="new-password" value={form.api_key} onChange={(e) => set("api_key", e.target.value)} disabled={form.remove_key} placeholder={endpoint?.has_api_key ? "set: leave empty to keep it" : "optional"} aria-describedby="api-key-hint" />
        </label>
        <small id="api-key-hint" className="muted">The API key is write-only: kept sealed, never shown again.</small>
        {endpoint?.has_api_key && (
          <label className="check">
            <input type="checkbox" checked={form.remove_key} onChange={(e) => set("remove_key", e.target.checked)} /> Remove the API key
          </label>
        )}
        <label>
          Timeout (seconds) <input type="number" min={1} max={600} step="any" value={form.timeout_s} onChange={(e) => set("timeout_s", e.target.value)} required />
        </label>
        <label>
          Token limit per answer <input type="number" min={16} max={32768} value={form.max_tokens} onChange={(e) => set("max_tokens", e.target.value)} required />
        </label>
        <label>
          Rate limit <input value={form.rate_limit} onChange={(e) => set("rate_limit", e.target.value)} placeholder="e.g. 60/minute (empty: none)" />
        </label>
        <label className="check">
          <input type="checkbox" checked={form.default} onChange={(e) => set("default", e.target.checked)} /> The default endpoint of its kind
        </label>
        {error !== null && <ErrorText error={error} />}
        <div className="dialog-actions">
          <button type="button" onClick={onClose}>Cancel</button>
          <button type="submit" className="primary" disabled={busy}>{busy ? "Saving…" : "Save"}</button>
        </div>
      </form>
    </div>
  );
}

function ConnectionSwitches() {
  const connections = useConnections();
  const [connection, setConnection] = useState("");
  const name = connection || connections.data?.[0]?.name || "";
  const client = useQueryClient();
  const settings = useQuery({ queryKey: ["assistant-settings", name], queryFn: () => getSettings(name), enabled: Boolean(name) });
  const [message, setMessage] = useState<Message>(null);
  const change = async (values: AssistantSettings) => {
    setMessage(null);
    // Shown at once; the answer (or the refetch after a refusal) settles it.
    client.setQueryData(["assistant-settings", name], values);
    try {
      await putSettings(name, values);
      setMessage({ text: `Saved the settings of ${name}.`, error: false });
    } catch (error) {
      setMessage({ text: describeError(error).message, error: true });
    } finally {
      await client.invalidateQueries({ queryKey: ["assistant-settings", name] });
    }
  };
  return (
    <section aria-labelledby="switches-head">
      <h2 id="switches-head">Assistant settings per connection</h2>
      <label>
        Connection{" "}
        <select value={name} onChange={(e) => setConnection(e.target.value)}>
          {(connections.data ?? []).map((c) => <option key={c.id} value={c.name}>{c.name}</option>)}
        </select>
      </label>
      {settings.isError && <ErrorText error={settings.error} />}
      {settings.data && (
        <div className="switches" role="group" aria-label={`Assistant settings of ${name}`}>
          <label className="check">
            <input type="checkbox" checked={settings.data.allow_sampling} onChange={(e) => void change({ ...settings.data, allow_sampling: e.target.checked })} />
            Allow sampling: profile the top values of low-cardinality text columns (one GROUP BY each) so question words find their columns
          </label>
          <label className="check">
            <input type="checkbox" checked={settings.data.send_sample_values} onChange={(e) => void change({ ...settings.data, send_sample_values: e.target.checked })} />
            Send sample values: those values go to the model with the tables' definitions (off: only names and types do)
          </label>
        </div>
      )}
      {message && <p className={message.error ? "error-text" : "notice"} role={message.error ? "alert" : "status"}>{message.text}</p>}
    </section>
  );
}
