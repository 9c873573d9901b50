/** Where the grid's pages come from: a stored result's rows, or a sorted and filtered view
 * of it computed on the server (never by running the query again). */
import { fetchJson, type RowsPage } from "../api/client";

export type SortKey = { column: string; desc: boolean };
export type FilterOp = "eq" | "ne" | "lt" | "le" | "gt" | "ge" | "between" | "contains" | "is_null" | "not_null";
export type Filter = { column: string; op: FilterOp; value?: unknown };
export type ViewSpec = { sort: SortKey[]; filters: Filter[] };

export const NO_VIEW: ViewSpec = { sort: [], filters: [] };

export function isPlain(view: ViewSpec): boolean {
  return view.sort.length === 0 && view.filters.length === 0;
}

/** The URL of a page of ``runId``'s rows under ``view``. */
export function pageUrl(runId: string, view: ViewSpec, offset: number, limit: number): string {
  const query = new URLSearchParams({ offset: String(offset), limit: String(limit) });
  const id = encodeURIComponent(runId);
  if (isPlain(view)) return `/api/v1/runs/${id}/rows?${query}`;
  if (view.sort.length) query.set("sort", JSON.stringify(view.sort));
  if (view.filters.length) query.set("filter", JSON.stringify(view.filters));
  return `/api/v1/runs/${id}/view?${query}`;
}

export function fetchPage(runId: string, view: ViewSpec, offset: number, limit: number, signal?: AbortSignal): Promise<RowsPage> {
  return fetchJson<RowsPage>(pageUrl(runId, view, offset, limit), { signal });
}
