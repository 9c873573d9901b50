/** The chart view of a result: bar, line, area or scatter with x, y, colour and an
 * aggregate picked from the result's columns; aggregated on the server; drawn by
 * vega-embed (loaded with this view only, expressions interpreted: no eval under the
 * page's CSP); downloadable as PNG and SVG. */
import { useEffect, useRef, useState } from "react";
import { describeError, fetchJson, type RunInfo } from "../api/client";
import { aggregationQuery, chartSpec, defaultSettings, savedChart, settingsFromSaved, type Aggregate, type Aggregation, type ChartSettings, type Mark } from "./spec";

type Embedded = { view: { toImageURL: (type: "png" | "svg", scale?: number) => Promise<string>; finalize: () => void } };

type Saved = { id: string; name: string; chart?: unknown };

export default function ChartView({ run, savedId = null }: { run: RunInfo; savedId?: string | null }) {
  const columns = run.columns ?? [];
  const [settings, setSettings] = useState<ChartSettings>(defaultSettings(columns));
  const [data, setData] = useState<Aggregation | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [saved, setSaved] = useState<Saved | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const host = useRef<HTMLDivElement>(null);
  const embedded = useRef<Embedded | null>(null);
  const drawn = useRef<Record<string, unknown> | null>(null);

  // A tab opened from a saved query draws the chart saved with it.
  useEffect(() => {
    if (!savedId) return;
    let live = true;
    fetchJson<Saved>(`/api/v1/saved-queries/${encodeURIComponent(savedId)}`)
      .then((found) => {
        if (!live) return;
        setSaved(found);
        const restored = settingsFromSaved(found.chart, columns);
        if (restored) setSettings(restored);
      })
      .catch(() => live && setSaved(null));
    return () => {
      live = false;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [savedId]);

  const saveChart = async () => {
    if (!saved || !drawn.current) return;
    setNotice(null);
    try {
      await fetchJson(`/api/v1/saved-queries/${encodeURIComponent(saved.id)}`, { method: "PATCH", body: JSON.stringify({ chart: savedChart(settings, drawn.current) }) });
      setNotice(`Chart saved with “${saved.name}”.`);
    } catch (reason) {
      setError(describeError(reason).message);
    }
  };

  useEffect(() => {
    let live = true;
    setError(null);
    fetchJson<Aggregation>(`/api/v1/runs/${encodeURIComponent(run.id)}/aggregate?${aggregationQuery(settings)}`)
      .then((found) => live && setData(found))
      .catch((reason) => live && setError(describeError(reason).message));
    return () => {
      live = false;
    };
  }, [run.id, settings]);

  useEffect(() => {
    if (!data || !host.current) return;
    let live = true;
    const spec = chartSpec(settings, columns, data);
    drawn.current = spec;
    Promise.all([import("vega-embed"), import("vega-interpreter")]).then(async ([{ default: embed }, { expressionInterpreter }]) => {
      if (!live || !host.current) return;
      embedded.current?.view.finalize();
      const dark = document.documentElement.dataset.theme === "dark";
      embedded.current = (await embed(host.current, spec as never, { actions: false, ast: true, expr: expressionInterpreter, theme: dark ? "dark" : undefined, renderer: "svg" })) as unknown as Embedded;
    }).catch((reason) => live && setError(describeError(reason).message));
    return () => {
      live = false;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [data]);

  useEffect(() => () => embedded.current?.view.finalize(), []);

  const download = async (type: "png" | "svg") => {
    const url = await embedded.current?.view.toImageURL(type, type === "png" ? 2 : 1);
    if (!url) return;
    const link = document.createElement("a");
    link.href = url;
    link.download = `chart-${run.id.slice(0, 8)}.${type}`;
    link.click();
  };

  const pick = (name: keyof ChartSettings, value: string | null) => setSettings({ ...settings, [name]: value === "" ? null : value } as ChartSettings);
  return (
    <div className="chart-view">
      <form className="chart-settings" aria-label="Chart settings" onSubmit={(e) => e.preventDefault()}>
        <label>
          Chart
          <select value={settings.mark} onChange={(e) => pick("mark", e.target.value as Mark)}>
            <option value="bar">bar</option>
            <option value="line">line</option>
            <option value="area">area</option>
            <option value="point">scatter</option>
          </select>
        </label>
        <label>
          X
          <select value={settings.x} onChange={(e) => pick("x", e.target.value)}>
            {columns.map((c) => (
              <option key={c.name}>{c.name}</option>
            ))}
          </select>
        </label>
        <label>
          Aggregate
          <select value={settings.aggregate} onChange={(e) => pick("aggregate", e.target.value as Aggregate)}>
            {["count", "sum", "avg", "min", "max"].map((a) => (
              <option key={a}>{a}</option>
            ))}
          </select>
        </label>
        <label>
          Y
          <select value={settings.y ?? ""} onChange={(e) => pick("y", e.target.value)} disabled={settings.aggregate === "count"}>
            <option value="">(none)</option>
            {columns.map((c) => (
              <option key={c.name}>{c.name}</option>
            ))}
          </select>
        </label>
        <label>
          Colour
          <select value={settings.color ?? ""} onChange={(e) => pick("color", e.target.value)}>
            <option value="">(none)</option>
            {columns.map((c) => (
              <option key={c.name}>{c.name}</option>
            ))}
          </select>
        </label>
        <button type="button" onClick={() => void download("png")} disabled={!data}>PNG</button>
        <button type="button" onClick={() => void download("svg")} disabled={!data}>SVG</button>
        {saved && (
          <button type="button" onClick={() => void saveChart()} disabled={!data}>
            Save chart with “{saved.name}”
          </button>
        )}
      </form>
      {error && <p className="error-text" role="alert">{error}</p>}
      {notice && <p className="notice" role="status">{notice}</p>}
      {data?.truncated && <p className="notice">Showing the {data.groups.toLocaleString()} largest groups only.</p>}
      <div className="chart" ref={host} data-testid="chart" aria-label="Chart" role="img" />
    </div>
  );
}
