/** The SQL workbench: editor tabs (kept on the server), the schema browser, runs with
 * progress and cancel, and their results. */
import { lazy, Suspense, useCallback, useEffect, useRef, useState } from "react";
import { ApiError, describeError, OfflineError } from "../api/client";
import { useConnections, useDialect } from "../app/data";
import { navigate, useLocation } from "../app/router";
import { useUser } from "../app/session";
import { SqlEditor, type EditorHandle, type RunMode } from "../editor/SqlEditor";
import { loadTabs, MAX_TAB_BYTES, newTab, saveTabs, tabBytes, writeLocal, type EditorTab, type TabsState } from "../editor/tabs";
import type { Statement } from "../editor/statements";
import { ResultsPanel, type ResultEntry } from "../runs/ResultsPanel";
import { cancelRun, errorRange, follow, getRun, startRun } from "../runs/run";
import { tabTitle } from "../assistant/logic";
import { SaveDialog } from "./SaveDialog";
import { SchemaTree } from "./SchemaTree";

const AskPanel = lazy(() => import("../assistant/AskPanel").then((m) => ({ default: m.AskPanel })));
const SAVE_DELAY_MS = 600;
const ASK_OPEN_KEY = "querydeck.ask-open";

export function Workbench() {
  const user = useUser();
  const connections = useConnections();
  const { search } = useLocation();
  const [state, setState] = useState<TabsState | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [results, setResults] = useState<Record<string, ResultEntry[]>>({});
  const [activeResult, setActiveResult] = useState<Record<string, number>>({});
  const [saving, setSaving] = useState<"idle" | "pending" | "saved" | "offline">("idle");
  const [showSave, setShowSave] = useState(false);
  const [notice, setNotice] = useState<string | null>(null);
  const [askOpen, setAskOpen] = useState(() => localStorage.getItem(ASK_OPEN_KEY) === "1");
  const editor = useRef<EditorHandle>(null);
  const synced = useRef<TabsState | null>(null);
  const followers = useRef(new Map<string, { stopped: boolean }>());
  const pendingCancels = useRef(new Set<string>());

  const defaultConnection = connections.data?.[0]?.name ?? null;
  const tab = state?.tabs.find((t) => t.id === state.active) ?? null;
  const dialect = useDialect(tab?.connection ?? null);

  // Load the tabs once the connections are known (a new tab picks the first one).
  useEffect(() => {
    if (state || !connections.data) return;
    loadTabs(user.username, defaultConnection)
      .then((loaded) => {
        synced.current = null;
        setState(loaded);
      })
      .catch((error) => setLoadError(describeError(error).message));
  }, [connections.data, defaultConnection, state, user.username]);

  // Open a run or a saved query passed in the address (from History or Saved queries).
  useEffect(() => {
    if (!state) return;
    const runId = search.get("run");
    const sql = search.get("sql");
    if (!runId && sql === null) return;
    const opened = newTab(search.get("connection") ?? tab?.connection ?? defaultConnection, sql ?? "", search.get("title") ?? (runId ? "Past run" : "Query"));
    if (runId) opened.runId = runId;
    opened.savedId = search.get("saved");
    setState({ tabs: [...state.tabs, opened], active: opened.id });
    navigate("/", { replace: true });
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [search, state === null]);

  // Keep the tabs: in this browser at once, on the server shortly after.
  useEffect(() => {
    if (!state) return;
    writeLocal(user.username, state, true);
    setSaving("pending");
    const timer = setTimeout(() => {
      saveTabs(synced.current, state)
        .then(() => {
          synced.current = state;
          writeLocal(user.username, state, false);
          setSaving("saved");
        })
        .catch(() => setSaving("offline"));
    }, SAVE_DELAY_MS);
    return () => clearTimeout(timer);
  }, [state, user.username]);

  // Retry saving when the server is back.
  useEffect(() => {
    if (saving !== "offline" || !state) return;
    const timer = setTimeout(() => setState({ ...state }), 3000);
    return () => clearTimeout(timer);
  }, [saving, state]);

  // A tab that names a past run shows its stored result without running it again.
  useEffect(() => {
    if (!tab?.runId || results[tab.id]) return;
    const id = tab.runId;
    const tabId = tab.id;
    setResults((all) => ({ ...all, [tabId]: [{ key: id, sql: tab.sql, status: "running", startedAt: Date.now(), run: null, first: null, error: null }] }));
    // A run started meanwhile replaces the entry: then this answer is dropped.
    const settle = (entry: ResultEntry) => setResults((all) => (all[tabId]?.[0]?.key === id ? { ...all, [tabId]: [entry] } : all));
    getRun(id)
      .then((view) => {
        const running = view.run.status === "running" || view.run.status === "queued";
        settle({ key: id, sql: view.run.sql, status: running ? "running" : view.run.status === "succeeded" ? "done" : "error", startedAt: Date.now(), run: view.run, first: view.page, error: view.run.error_message ? new ApiError(400, view.run.error_code ?? "", view.run.error_message, {}, "") : null });
        if (running) void track(tabId, id, id, { from: 0, to: 0, text: view.run.sql });
      })
      .catch((error) => settle({ key: id, sql: "", status: "error", startedAt: Date.now(), run: null, first: null, error }));
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [tab?.id, tab?.runId]);

  const update = useCallback((changes: Partial<EditorTab>) => {
    setState((current) => (current ? { ...current, tabs: current.tabs.map((t) => (t.id === current.active ? { ...t, ...changes } : t)) } : current));
  }, []);

  /** Changes one result entry, found by its key (a newer run's entries are left alone). */
  const setEntry = (tabId: string, key: string, entry: Partial<ResultEntry>) => {
    setResults((all) => {
      const list = all[tabId] ?? [];
      if (!list.some((e) => e.key === key)) return all;
      return { ...all, [tabId]: list.map((e) => (e.key === key ? { ...e, ...entry } : e)) };
    });
  };

  const track = async (tabId: string, key: string, runId: string, statement: Statement | null) => {
    const signal = { stopped: false };
    followers.current.set(runId, signal);
    try {
      const view = await follow(runId, (run) => setEntry(tabId, key, { run }), signal);
      setEntry(tabId, key, { status: "done", run: view.run, first: view.page });
    } catch (error) {
      setEntry(tabId, key, { status: "error", error: error as Error });
      if (statement) markError(error, statement);
    } finally {
      followers.current.delete(runId);
    }
  };

  const markError = (error: unknown, statement: Statement) => {
    if (!(error instanceof ApiError)) return;
    const range = errorRange(error, statement);
    if (range) editor.current?.mark({ ...range, message: `${error.code}: ${error.message}` });
  };

  const run = async (mode: RunMode) => {
    if (!tab || !tab.connection) {
      setNotice("Pick a connection first.");
      return;
    }
    const statements = editor.current?.target(mode) ?? [];
    if (statements.length === 0) {
      setNotice("Nothing to run: write a statement first.");
      return;
    }
    await runStatements(statements, true);
  };

  const toggleAsk = (open: boolean) => {
    setAskOpen(open);
    try {
      localStorage.setItem(ASK_OPEN_KEY, open ? "1" : "0");
    } catch {
      // storage disabled: the panel is closed again after a reload
    }
  };

  /** Runs statements into this tab's results area; ``inEditor``: their positions are the
   * editor's (errors are marked there), else the SQL came from elsewhere (the Ask panel). */
  const runStatements = async (statements: Statement[], inEditor: boolean) => {
    if (!tab || !tab.connection) {
      setNotice("Pick a connection first.");
      return;
    }
    setNotice(null);
    editor.current?.mark(null);
    const tabId = tab.id;
    const connection = tab.connection;
    const entries: ResultEntry[] = statements.map((s, i) => ({ key: `${Date.now()}-${i}`, sql: s.text, status: "running", startedAt: Date.now(), run: null, first: null, error: null }));
    setResults((all) => ({ ...all, [tabId]: entries }));
    setActiveResult((all) => ({ ...all, [tabId]: 0 }));
    for (const [index, statement] of statements.entries()) {
      const key = (entries[index] as ResultEntry).key;
      setEntry(tabId, key, { startedAt: Date.now() });
      try {
        const started = await startRun(connection, statement.text, { maxRows: tab.maxRows ?? null });
        setEntry(tabId, key, { run: started.run });
        if (pendingCancels.current.delete(key) && !["succeeded", "failed"].includes(started.run.status)) {
          void cancelRun(started.run.id).catch((error) => setNotice(`Cancel failed: ${describeError(error).message}`));
        }
        if (started.run.status === "succeeded") {
          setEntry(tabId, key, { status: "done", run: started.run, first: started.page });
        } else {
          await track(tabId, key, started.run.id, inEditor ? statement : null);
        }
        if (index === statements.length - 1) update({ runId: started.run.id });
      } catch (error) {
        setEntry(tabId, key, { status: "error", error: error as Error });
        if (inEditor) markError(error, statement);
        if (error instanceof OfflineError) setNotice("The server cannot be reached; the run did not start.");
        for (const rest of entries.slice(index + 1)) setEntry(tabId, rest.key, { status: "error", error: new Error("Not run: an earlier statement failed.") });
        setActiveResult((all) => ({ ...all, [tabId]: index }));
        break;
      }
    }
  };

  /** Cancel a run; one asked for before the server said the run's id is cancelled as
   * soon as it does. */
  const cancel = async (entry: ResultEntry) => {
    if (!tab) return;
    setEntry(tab.id, entry.key, { status: "cancelling" });
    if (!entry.run) {
      pendingCancels.current.add(entry.key);
      return;
    }
    try {
      await cancelRun(entry.run.id);
    } catch (error) {
      setNotice(`Cancel failed: ${describeError(error).message}`);
    }
  };

  // Esc cancels the running statement of this tab.
  useEffect(() => {
    const onKey = (event: KeyboardEvent) => {
      // An Escape the editor used (closing its completions) is not a cancel.
      if (event.key !== "Escape" || event.defaultPrevented || !tab) return;
      const list = results[tab.id] ?? [];
      const index = list.findIndex((e) => e.status === "running");
      if (index >= 0) {
        event.preventDefault();
        void cancel(list[index] as ResultEntry);
      }
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  });

  const format = async () => {
    if (!tab) return;
    const { format: formatSql } = await import("sql-formatter");
    const language = dialect === "postgres" || dialect === "duckdb" ? "postgresql" : dialect === "mysql" ? "mysql" : dialect === "sqlite" ? "sqlite" : "sql";
    try {
      update({ sql: formatSql(editor.current?.text() ?? tab.sql, { language, keywordCase: "upper" }) });
    } catch (error) {
      setNotice(`Could not format: ${describeError(error).message}`);
    }
  };

  if (loadError) return <div className="page"><p className="error-text" role="alert">Could not load your editor tabs: {loadError}</p></div>;
  if (!state || !tab) return <div className="page loading-block" role="status">Loading the editor…</div>;

  const list = results[tab.id] ?? [];
  const shown = Math.min(activeResult[tab.id] ?? 0, Math.max(list.length - 1, 0));
  const entry = list[shown];
  const tooLong = tabBytes(tab) > MAX_TAB_BYTES;

  return (
    <div className={`workbench${askOpen ? " with-ask" : ""}`}>
      <aside className="sidebar" aria-label="Schema browser">
        <SchemaTree connection={tab.connection} onInsert={(text) => editor.current?.insert(text)} />
      </aside>
      <section className="work" aria-label="Editor and results">
        <div className="tabs">
          <div className="tab-list" role="tablist" aria-label="Editor tabs">
            {state.tabs.map((t) => (
              <button
                key={t.id}
                type="button"
                role="tab"
                className={`tab${t.id === state.active ? " active" : ""}`}
                aria-selected={t.id === state.active}
                onClick={() => setState({ ...state, active: t.id })}
                onDoubleClick={() => {
                  const title = prompt("Tab name", t.title);
                  if (title) setState({ ...state, tabs: state.tabs.map((x) => (x.id === t.id ? { ...x, title } : x)) });
                }}
              >
                {t.title}
              </button>
            ))}
          </div>
          {state.tabs.length > 1 && (
            <button type="button" className="tab-close" aria-label={`Close the tab ${tab.title}`} title="Close this tab" onClick={() => {
              const tabs = state.tabs.filter((x) => x.id !== tab.id);
              setState({ tabs, active: (tabs[0] as EditorTab).id });
            }}>
              ×
            </button>
          )}
          <button type="button" className="tab-add" aria-label="New tab" onClick={() => {
            const added = newTab(tab.connection, "", `Query ${state.tabs.length + 1}`);
            setState({ tabs: [...state.tabs, added], active: added.id });
          }}>
            +
          </button>
          <span className="spacer" />
          <span className="muted save-state" aria-live="polite">
            {saving === "pending" ? "Saving…" : saving === "offline" ? "Not saved: server unreachable (kept in this browser)" : saving === "saved" ? "Saved" : ""}
          </span>
        </div>
        <div className="toolbar">
          <label>
            Connection{" "}
            <select value={tab.connection ?? ""} onChange={(e) => update({ connection: e.target.value || null })}>
              {!tab.connection && <option value="">(choose)</option>}
              {(connections.data ?? []).map((c) => (
                <option key={c.id} value={c.name}>
                  {c.name} ({c.driver})
                </option>
              ))}
            </select>
          </label>
          <label>
            Row cap{" "}
            <select value={String(tab.maxRows ?? "")} onChange={(e) => update({ maxRows: e.target.value ? Number(e.target.value) : null })}>
              <option value="">server default</option>
              {[1000, 10_000, 100_000, 1_000_000].map((n) => (
                <option key={n} value={n}>
                  {n.toLocaleString()}
                </option>
              ))}
            </select>
          </label>
          <button type="button" className="primary" onClick={() => void run("cursor")} title="Ctrl/Cmd+Enter">
            ▶ Run
          </button>
          <button type="button" onClick={() => void run("all")} title="Ctrl/Cmd+Shift+Enter">
            Run all
          </button>
          <button type="button" onClick={() => void format()} title="Shift+Alt+F">
            Format
          </button>
          <button type="button" onClick={() => setShowSave(true)}>
            Save…
          </button>
          <button type="button" aria-pressed={askOpen} aria-controls={askOpen ? "ask-panel" : undefined} onClick={() => toggleAsk(!askOpen)} title="Ask a question in plain words">
            Ask
          </button>
          {notice && <span className="notice" role="status">{notice}</span>}
          {tooLong && <span className="notice">This tab is over 64 KB: it is kept in this browser only.</span>}
        </div>
        <SqlEditor
          key={tab.id}
          ref={editor}
          value={tab.sql}
          dialect={dialect}
          connection={tab.connection}
          onChange={(sql) => update({ sql })}
          onRun={(mode) => void run(mode)}
          onFormat={() => void format()}
        />
        <div className="results" aria-label="Results">
          {list.length > 1 && (
            <div className="result-tabs" role="tablist" aria-label="Results of the statements">
              {list.map((e, i) => (
                <button key={e.key} type="button" role="tab" aria-selected={i === shown} className={e.status} onClick={() => setActiveResult({ ...activeResult, [tab.id]: i })}>
                  {i + 1}. {e.sql.slice(0, 30)}
                </button>
              ))}
            </div>
          )}
          {entry ? (
            <ResultsPanel entry={entry} onCancel={() => void cancel(entry)} canExport={user.role !== "viewer"} savedId={tab.savedId ?? null} />
          ) : (
            <div className="empty">Run a statement (Ctrl+Enter) to see its rows here.</div>
          )}
        </div>
      </section>
      {askOpen && (
        <Suspense fallback={<aside className="ask-panel loading-block" role="status">Loading…</aside>}>
          <AskPanel
            connection={tab.connection}
            isAdmin={user.role === "admin"}
            canRun={user.role !== "viewer"}
            onClose={() => toggleAsk(false)}
            onInsert={(sql) => {
              editor.current?.insert(sql);
              editor.current?.focus();
            }}
            onOpenTab={(sql, question) => {
              const opened = newTab(tab.connection, sql, tabTitle(question));
              setState({ tabs: [...state.tabs, opened], active: opened.id });
            }}
            onRun={(sql) => void runStatements([{ from: 0, to: sql.length, text: sql }], false)}
          />
        </Suspense>
      )}
      {showSave && <SaveDialog sql={tab.sql} connection={tab.connection} defaultName={tab.title} onClose={() => setShowSave(false)} onSaved={(name) => update({ title: name })} />}
    </div>
  );
}
