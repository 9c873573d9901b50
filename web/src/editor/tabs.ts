/** Editor tabs kept on the server in the user's preferences, so that they survive a
 * reload and follow the user to another browser: ``ui/tabs`` holds the order and the
 * active tab, ``ui/tabs/<id>`` each tab (a preference value is at most 64 KB, so one key
 * per tab lets each tab's SQL use nearly all of it). A copy stays in this browser's
 * storage until the server has it: an edit made while the server is away is not lost. */
import { fetchJson, ApiError } from "../api/client";

export type EditorTab = {
  id: string;
  title: string;
  connection: string | null;
  sql: string;
  /** The run whose stored result the tab shows (reopened without running it again). */
  runId: string | null;
  /** The row cap asked for (null: the server's default). */
  maxRows?: number | null;
  /** The saved query the tab was opened from (its chart is saved with it). */
  savedId?: string | null;
};

export type TabsState = { tabs: EditorTab[]; active: string };

/** A preference value is at most 65,536 bytes of compact UTF-8 JSON. */
export const MAX_TAB_BYTES = 65_536;
const INDEX_KEY = "ui/tabs";
const LOCAL_KEY = "querydeck.tabs";

export function newTab(connection: string | null, sql = "", title?: string): EditorTab {
  const id = Math.random().toString(36).slice(2, 10);
  return { id, title: title ?? "Query", connection, sql, runId: null };
}

export function tabBytes(tab: EditorTab): number {
  const { id: _id, ...value } = tab;
  return new TextEncoder().encode(JSON.stringify(value)).length;
}

type Index = { order: string[]; active: string };
type Stored = Omit<EditorTab, "id">;
type Local = { state: TabsState; dirty: boolean };

function preference(key: string): string {
  return `/api/v1/me/preferences/${key.split("/").map(encodeURIComponent).join("/")}`;
}

async function readPreference<T>(key: string): Promise<T | null> {
  try {
    const found = await fetchJson<{ value: T }>(preference(key));
    return found.value;
  } catch (error) {
    if (error instanceof ApiError && error.code === "PREFERENCE_NOT_FOUND") return null;
    throw error;
  }
}

function writePreference(key: string, value: unknown): Promise<unknown> {
  return fetchJson(preference(key), { method: "PUT", body: JSON.stringify({ value }) });
}

function deletePreference(key: string): Promise<unknown> {
  return fetchJson(preference(key), { method: "DELETE" }).catch((error) => {
    if (!(error instanceof ApiError && error.code === "PREFERENCE_NOT_FOUND")) throw error;
  });
}

function readLocal(user: string): Local | null {
  try {
    const raw = localStorage.getItem(`${LOCAL_KEY}.${user}`);
    return raw ? (JSON.parse(raw) as Local) : null;
  } catch {
    return null;
  }
}

export function writeLocal(user: string, state: TabsState, dirty: boolean): void {
  try {
    localStorage.setItem(`${LOCAL_KEY}.${user}`, JSON.stringify({ state, dirty }));
  } catch {
    // storage full or disabled: the server copy is the one that counts
  }
}

/** The tabs: this browser's unsynced copy first (it is newer), else the server's. */
export async function loadTabs(user: string, fallbackConnection: string | null): Promise<TabsState> {
  const local = readLocal(user);
  if (local?.dirty) return local.state;
  try {
    const index = await readPreference<Index>(INDEX_KEY);
    if (index && index.order.length > 0) {
      const tabs: EditorTab[] = [];
      for (const id of index.order) {
        const stored = await readPreference<Stored>(`${INDEX_KEY}/${id}`);
        if (stored) tabs.push({ id, ...stored });
      }
      if (tabs.length > 0) {
        const active = tabs.some((t) => t.id === index.active) ? index.active : (tabs[0] as EditorTab).id;
        return { tabs, active };
      }
    }
  } catch (error) {
    if (local) return local.state; // the server is away: this browser's copy
    throw error;
  }
  const first = newTab(fallbackConnection, "");
  return { tabs: [first], active: first.id };
}

/** Writes what changed since ``before`` to the server (tabs, then the index, then the
 * removed tabs). Throws when the server is unreachable (the caller retries). */
export async function saveTabs(before: TabsState | null, after: TabsState): Promise<void> {
  const previous = new Map((before?.tabs ?? []).map((t) => [t.id, t]));
  for (const tab of after.tabs) {
    const old = previous.get(tab.id);
    if (old && JSON.stringify(old) === JSON.stringify(tab)) continue;
    if (tabBytes(tab) > MAX_TAB_BYTES) continue; // too long to keep on the server: kept in this browser
    const { id, ...value } = tab;
    await writePreference(`${INDEX_KEY}/${id}`, value);
  }
  const order = after.tabs.map((t) => t.id);
  const oldOrder = before?.tabs.map((t) => t.id) ?? [];
  if (before === null || before.active !== after.active || order.join() !== oldOrder.join()) {
    await writePreference(INDEX_KEY, { order, active: after.active });
  }
  for (const id of oldOrder) if (!order.includes(id)) await deletePreference(`${INDEX_KEY}/${id}`);
}
