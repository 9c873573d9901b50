/** Chart settings and the Vega-Lite spec drawn from them. The data are the server's
 * aggregation of the stored result (grouped, or binned for numbers and times), so a chart
 * of a million rows draws at most a few thousand points. */
import type { ColumnInfo } from "../api/client";

export type Mark = "bar" | "line" | "area" | "point";
export type Aggregate = "count" | "sum" | "avg" | "min" | "max";
export type ChartSettings = { mark: Mark; x: string; y: string | null; aggregate: Aggregate; color: string | null };
export type AggregateRow = { x: unknown; x_end?: unknown; color?: unknown; y: number | string | null };
export type Aggregation = { rows: AggregateRow[]; binned: boolean; groups: number; truncated: boolean };

export function columnKind(column: ColumnInfo | undefined): "quantitative" | "temporal" | "nominal" {
  if (!column) return "nominal";
  if (/^(timestamp|date)/.test(column.type)) return "temporal";
  if (/^(u?int|float|double|decimal|halffloat)/.test(column.type)) return "quantitative";
  return "nominal";
}

/** Settings that fit ``columns``: the first non-numeric column on x and count, or the
 * first two columns. */
export function defaultSettings(columns: ColumnInfo[]): ChartSettings {
  const nominal = columns.find((c) => columnKind(c) !== "quantitative");
  const numeric = columns.find((c) => columnKind(c) === "quantitative");
  const x = (nominal ?? columns[0])?.name ?? "";
  const y = numeric && numeric.name !== x ? numeric.name : null;
  return { mark: "bar", x, y, aggregate: y ? "sum" : "count", color: null };
}

/** The query string of the aggregation request for ``settings``. */
export function aggregationQuery(settings: ChartSettings, bins = 50): URLSearchParams {
  const query = new URLSearchParams({ x: settings.x, agg: settings.aggregate, bins: String(bins) });
  if (settings.y && settings.aggregate !== "count") query.set("y", settings.y);
  if (settings.color) query.set("color", settings.color);
  return query;
}

function yTitle(settings: ChartSettings): string {
  return settings.aggregate === "count" || !settings.y ? "count" : `${settings.aggregate}(${settings.y})`;
}

/** A Vega-Lite spec of the aggregated ``data`` (inline values). */
export function chartSpec(settings: ChartSettings, columns: ColumnInfo[], data: Aggregation): Record<string, unknown> {
  const xColumn = columns.find((c) => c.name === settings.x);
  const xKind = data.binned ? (columnKind(xColumn) === "temporal" ? "temporal" : "quantitative") : columnKind(xColumn) === "quantitative" ? "ordinal" : columnKind(xColumn);
  const mark = settings.mark === "point" ? { type: "point", filled: true } : { type: settings.mark, tooltip: true };
  const encoding: Record<string, unknown> = {
    x: { field: "x", type: xKind, title: settings.x, ...(data.binned && settings.mark === "bar" ? { bin: { binned: true } } : {}), ...(xKind === "ordinal" || xKind === "nominal" ? { sort: null } : {}) },
    y: { field: "y", type: "quantitative", title: yTitle(settings) },
    tooltip: [
      { field: "x", title: settings.x, type: xKind },
      { field: "y", title: yTitle(settings), type: "quantitative" },
      ...(settings.color ? [{ field: "color", title: settings.color, type: "nominal" }] : []),
    ],
  };
  if (data.binned && settings.mark === "bar") encoding.x2 = { field: "x_end" };
  if (settings.color) encoding.color = { field: "color", type: "nominal", title: settings.color };
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    width: "container",
    height: 320,
    autosize: { type: "fit", contains: "padding" },
    data: { values: data.rows.map((r) => ({ ...r, y: typeof r.y === "string" ? Number(r.y) : r.y })) },
    mark,
    encoding,
  };
}

/** The spec a saved query keeps: no rows (a named data source instead) and the settings
 * under ``usermeta.querydeck``, to draw the same chart of a later run. */
export function savedChart(settings: ChartSettings, spec: Record<string, unknown>): Record<string, unknown> {
  return { ...spec, data: { name: "result" }, usermeta: { querydeck: settings } };
}

/** The settings of a saved chart, when they still fit the result's columns. */
export function settingsFromSaved(chart: unknown, columns: ColumnInfo[]): ChartSettings | null {
  const saved = (chart as { usermeta?: { querydeck?: Partial<ChartSettings> } } | null)?.usermeta?.querydeck;
  if (!saved || typeof saved.x !== "string") return null;
  const names = new Set(columns.map((c) => c.name));
  const marks: Mark[] = ["bar", "line", "area", "point"];
  const aggregates: Aggregate[] = ["count", "sum", "avg", "min", "max"];
  if (!names.has(saved.x)) return null;
  return {
    mark: marks.includes(saved.mark as Mark) ? (saved.mark as Mark) : "bar",
    x: saved.x,
    y: typeof saved.y === "string" && names.has(saved.y) ? saved.y : null,
    aggregate: aggregates.includes(saved.aggregate as Aggregate) ? (saved.aggregate as Aggregate) : "count",
    color: typeof saved.color === "string" && names.has(saved.color) ? saved.color : null,
  };
}
