import { describe, expect, it } from "vitest";
import { aggregationQuery, chartSpec, defaultSettings, savedChart, settingsFromSaved } from "./spec";

const columns = [
  { name: "region", type: "string", json_type: "string", truncated_values: 0 },
  { name: "amount", type: "decimal128(12, 2)", json_type: "string", truncated_values: 0 },
  { name: "at", type: "timestamp[us, tz=UTC]", json_type: "string", truncated_values: 0 },
];

describe("defaultSettings", () => {
  it("puts a category on x and sums the first number", () => {
    expect(defaultSettings(columns)).toEqual({ mark: "bar", x: "region", y: "amount", aggregate: "sum", color: null });
  });
  it("counts when there is no number", () => {
    expect(defaultSettings([columns[0]!])).toMatchObject({ y: null, aggregate: "count" });
  });
});

describe("aggregationQuery", () => {
  it("asks the server for the grouping, never for raw rows", () => {
    const query = aggregationQuery({ mark: "line", x: "at", y: "amount", aggregate: "avg", color: "region" }, 40);
    expect(Object.fromEntries(query)).toEqual({ x: "at", agg: "avg", bins: "40", y: "amount", color: "region" });
    expect(aggregationQuery({ mark: "bar", x: "region", y: "amount", aggregate: "count", color: null }).has("y")).toBe(false);
  });
});

describe("chartSpec", () => {
  it("draws binned times as a temporal bar range, decimals as numbers", () => {
    const spec = chartSpec({ mark: "bar", x: "at", y: "amount", aggregate: "sum", color: null }, columns, {
      rows: [{ x: "2024-01-01T00:00:00Z", x_end: "2024-01-02T00:00:00Z", y: "12.50" }],
      binned: true,
      groups: 1,
      truncated: false,
    }) as { encoding: { x: { type: string; bin: unknown }; x2: unknown; y: { title: string } }; data: { values: { y: number }[] } };
    expect(spec.encoding.x.type).toBe("temporal");
    expect(spec.encoding.x.bin).toEqual({ binned: true });
    expect(spec.encoding.x2).toEqual({ field: "x_end" });
    expect(spec.encoding.y.title).toBe("sum(amount)");
    expect(spec.data.values[0]?.y).toBe(12.5);
  });
  it("colours by a column and keeps the server's order of categories", () => {
    const spec = chartSpec({ mark: "line", x: "region", y: null, aggregate: "count", color: "region" }, columns, { rows: [], binned: false, groups: 0, truncated: false }) as {
      encoding: { color: { field: string }; x: { sort: unknown; type: string } };
    };
    expect(spec.encoding.color.field).toBe("color");
    expect(spec.encoding.x).toMatchObject({ type: "nominal", sort: null });
  });
});

describe("saved charts", () => {
  const settings = { mark: "line" as const, x: "at", y: "amount", aggregate: "avg" as const, color: "region" };
  const data = { rows: [{ x: "a", y: 1 }], binned: false, groups: 1, truncated: false };
  it("keep no rows, and the settings to draw them again", () => {
    const saved = savedChart(settings, chartSpec(settings, columns, data));
    expect(saved.data).toEqual({ name: "result" });
    expect(JSON.stringify(saved)).not.toContain('"values"');
    expect(settingsFromSaved(saved, columns)).toEqual(settings);
  });
  it("drop settings that no longer fit the columns", () => {
    const saved = savedChart(settings, {});
    expect(settingsFromSaved(saved, columns.slice(0, 1))).toBeNull();
    expect(settingsFromSaved(saved, [columns[2]!, columns[0]!])).toEqual({ ...settings, y: null });
    expect(settingsFromSaved(null, columns)).toBeNull();
  });
});
