/** A column header's menu: sort, filter (value, range, substring, null) and the column's
 * statistics, all computed on the server over the stored result. */
import { useEffect, useRef, useState } from "react";
import { describeError, fetchJson, type ColumnInfo, type RunInfo } from "../api/client";
import { display, isNumeric } from "../grid/cells";
import type { Filter, FilterOp, ViewSpec } from "../grid/source";

export type ColumnStats = {
  column: string;
  rows: number;
  nulls: number;
  distinct: number;
  min: unknown;
  max: unknown;
  top: { value: unknown; count: number }[];
};

type Props = {
  run: RunInfo;
  column: ColumnInfo;
  anchor: HTMLElement;
  view: ViewSpec;
  onSort: (desc: boolean | null) => void;
  onFilter: (filter: Filter | null) => void;
  onClose: () => void;
};

const OPS: { op: FilterOp; label: string }[] = [
  { op: "eq", label: "equals" },
  { op: "ne", label: "is not" },
  { op: "contains", label: "contains" },
  { op: "between", label: "between" },
  { op: "gt", label: ">" },
  { op: "lt", label: "<" },
  { op: "is_null", label: "is NULL" },
  { op: "not_null", label: "is not NULL" },
];

function parseValue(text: string, numeric: boolean): unknown {
  if (numeric && text.trim() !== "" && Number.isFinite(Number(text))) return Number(text);
  return text;
}

export function ColumnMenu({ run, column, anchor, view, onSort, onFilter, onClose }: Props) {
  const box = useRef<HTMLDivElement>(null);
  const numeric = isNumeric(column);
  const current = view.filters.find((f) => f.column === column.name);
  const [op, setOp] = useState<FilterOp>(current?.op ?? (numeric ? "eq" : "contains"));
  const [value, setValue] = useState(current && !Array.isArray(current.value) && current.value !== undefined ? String(current.value) : "");
  const [upper, setUpper] = useState(current && Array.isArray(current.value) ? String(current.value[1]) : "");
  const [stats, setStats] = useState<ColumnStats | null>(null);
  const [statsError, setStatsError] = useState<string | null>(null);
  const rect = anchor.getBoundingClientRect();

  useEffect(() => {
    box.current?.querySelector<HTMLElement>("button, input, select")?.focus();
    const outside = (event: MouseEvent) => {
      if (box.current && !box.current.contains(event.target as Node) && event.target !== anchor) onClose();
    };
    document.addEventListener("mousedown", outside);
    return () => document.removeEventListener("mousedown", outside);
  }, [anchor, onClose]);

  const loadStats = () => {
    setStatsError(null);
    fetchJson<ColumnStats>(`/api/v1/runs/${encodeURIComponent(run.id)}/stats?${new URLSearchParams({ column: column.name })}`)
      .then(setStats)
      .catch((error) => setStatsError(describeError(error).message));
  };

  const apply = () => {
    if (op === "is_null" || op === "not_null") onFilter({ column: column.name, op });
    else if (op === "between") onFilter({ column: column.name, op, value: [parseValue(value, numeric), parseValue(upper, numeric)] });
    else onFilter({ column: column.name, op, value: parseValue(value, numeric) });
    onClose();
  };

  const left = Math.min(rect.left, window.innerWidth - 300);
  return (
    <div
      className="popover column-menu"
      role="dialog"
      aria-label={`Column ${column.name}`}
      ref={box}
      style={{ top: rect.bottom + 4, left: Math.max(8, left) }}
      onKeyDown={(e) => e.key === "Escape" && onClose()}
    >
      <h3>{column.name}</h3>
      <div className="menu-row">
        <button type="button" onClick={() => (onSort(false), onClose())}>Sort ascending</button>
        <button type="button" onClick={() => (onSort(true), onClose())}>Sort descending</button>
        {view.sort.some((s) => s.column === column.name) && (
          <button type="button" onClick={() => (onSort(null), onClose())}>Unsort</button>
        )}
      </div>
      <form
        className="filter-form"
        onSubmit={(event) => {
          event.preventDefault();
          apply();
        }}
      >
        <label>
          Filter
          <select aria-label="Filter operator" value={op} onChange={(e) => setOp(e.target.value as FilterOp)}>
            {OPS.map((o) => (
              <option key={o.op} value={o.op}>
                {o.label}
              </option>
            ))}
          </select>
        </label>
        {op !== "is_null" && op !== "not_null" && (
          <input aria-label="Filter value" value={value} onChange={(e) => setValue(e.target.value)} />
        )}
        {op === "between" && <input aria-label="Upper bound" value={upper} onChange={(e) => setUpper(e.target.value)} />}
        <div className="menu-row">
          <button type="submit" className="primary">Apply filter</button>
          {current && (
            <button type="button" onClick={() => (onFilter(null), onClose())}>Remove filter</button>
          )}
        </div>
      </form>
      <div className="stats">
        {stats ? (
          <dl>
            <dt>Nulls</dt>
            <dd>{stats.nulls.toLocaleString()}</dd>
            <dt>Distinct</dt>
            <dd>{stats.distinct.toLocaleString()}</dd>
            <dt>Min</dt>
            <dd>{display(stats.min)}</dd>
            <dt>Max</dt>
            <dd>{display(stats.max)}</dd>
            <dt>Top values</dt>
            <dd>
              <ol className="top-values">
                {stats.top.map((t, i) => (
                  <li key={i}>
                    <span>{display(t.value)}</span> <span className="muted">{t.count.toLocaleString()}</span>
                  </li>
                ))}
              </ol>
            </dd>
          </dl>
        ) : (
          <button type="button" onClick={loadStats}>Column statistics</button>
        )}
        {statsError && <p className="error-text" role="alert">{statsError}</p>}
      </div>
    </div>
  );
}
