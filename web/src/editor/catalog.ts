/** The catalog as the editor and the schema tree read it: one level at a time from the
 * API, cached for the page's life (a 5,000-table catalog is never fetched whole: table
 * names come from the search index as they are typed). */
import { fetchJson, type Schemas } from "../api/client";

export type CatalogNode = Schemas["CatalogNode"];
export type CatalogLevel = Schemas["CatalogLevel"];
export type SearchHit = Schemas["SearchHit"];

const levels = new Map<string, Promise<CatalogLevel>>();
const PAGE = 1000;

function levelUrl(connection: string, path: string, offset: number): string {
  const query = new URLSearchParams({ path, limit: String(PAGE), offset: String(offset) });
  return `/api/v1/connections/${encodeURIComponent(connection)}/catalog?${query}`;
}

/** The path of a relation or column in the catalog API (dot-separated, as it names them). */
export function catalogPath(...parts: string[]): string {
  return parts.join(".");
}

/** One level of a connection's catalog ('' = schemas), every page of it. */
export function catalogLevel(connection: string, path: string, fresh = false): Promise<CatalogLevel> {
  const key = `${connection}\u0000${path}`;
  const known = levels.get(key);
  if (known && !fresh) return known;
  const pending = (async () => {
    const first = await fetchJson<CatalogLevel>(levelUrl(connection, path, 0));
    const items = [...first.items];
    while (items.length < first.total) {
      const next = await fetchJson<CatalogLevel>(levelUrl(connection, path, items.length));
      if (next.items.length === 0) break;
      items.push(...next.items);
    }
    return { ...first, items };
  })();
  levels.set(key, pending);
  pending.catch(() => levels.delete(key));
  return pending;
}

export function forgetCatalog(connection: string): void {
  for (const key of levels.keys()) if (key.startsWith(`${connection}\u0000`)) levels.delete(key);
}

const searches = new Map<string, { at: number; hits: Promise<SearchHit[]> }>();
/** Search answers are reused this long: the index grows while catalogs are first read. */
const SEARCH_TTL_MS = 30_000;

/** Catalog search across every connection the user may browse (best match first). An
 * empty answer is not kept (the catalog may be being read for the first time). */
export function searchCatalog(q: string, limit = 50): Promise<SearchHit[]> {
  const key = `${limit}\u0000${q}`;
  const known = searches.get(key);
  if (known && Date.now() - known.at < SEARCH_TTL_MS) return known.hits;
  const pending = fetchJson<Schemas["Page_SearchHit_"]>(`/api/v1/search?${new URLSearchParams({ q, limit: String(limit) })}`).then((page) => page.items);
  searches.set(key, { at: Date.now(), hits: pending });
  pending.then((hits) => hits.length === 0 && searches.delete(key)).catch(() => searches.delete(key));
  if (searches.size > 200) searches.delete(searches.keys().next().value as string);
  return pending;
}

/** The schema of a table named without one: where the search finds it, else the schema
 * (of the usual default ones, or the only one) whose tables include it. */
export async function schemaOf(connection: string, table: string): Promise<string | null> {
  const wanted = table.toLowerCase();
  const hits = await searchCatalog(table, 100);
  const exact = hits.find((h) => h.connection === connection && !h.column && h.name.toLowerCase() === wanted);
  if (exact) {
    const dot = exact.path.lastIndexOf(".");
    return dot === -1 ? null : exact.path.slice(0, dot);
  }
  const schemas = (await catalogLevel(connection, "")).items.map((n) => n.name);
  const candidates = schemas.length === 1 ? schemas : schemas.filter((s) => ["main", "public", "dbo"].includes(s.toLowerCase()));
  for (const schema of candidates) {
    const tables = await catalogLevel(connection, schema);
    if (tables.items.some((n) => n.name.toLowerCase() === wanted)) return schema;
  }
  return null;
}
