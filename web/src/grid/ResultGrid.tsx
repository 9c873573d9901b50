/** The results grid: rows and columns virtualised over server pages. Only the pages that
 * hold the rows in view (and a little around them) are fetched, at most CACHE_PAGES of
 * them are kept, and the exact total comes from the server: a 1,000,000-row result
 * scrolls anywhere without being loaded. */
import { useVirtualizer } from "@tanstack/react-virtual";
import { useCallback, useEffect, useMemo, useRef, useState, type KeyboardEvent, type MouseEvent } from "react";
import type { ColumnInfo, RowsPage } from "../api/client";
import { describeError } from "../api/client";
import { columnWidth, detailText, display, isNumeric } from "./cells";
import { formatRange, type CopyFormat } from "./copy";
import { PageCache, firstRowAt, geometry, pagesFor, scrollTopFor, visibleRows } from "./paging";
import { fetchPage, type ViewSpec } from "./source";

export const ROW_HEIGHT = 28;
export const PAGE_SIZE = 200;
const CACHE_PAGES = 60;
const OVERSCAN_ROWS = 40;
const NUMBER_COLUMN = 72;
/** The most rows one copy fetches (a range larger than this is exported instead). */
export const MAX_COPY_ROWS = 20_000;

type Cell = { row: number; col: number };
type Props = {
  runId: string;
  columns: ColumnInfo[];
  total: number;
  view: ViewSpec;
  first?: RowsPage | null;
  onHeader?: (column: ColumnInfo, index: number, anchor: HTMLElement) => void;
  headerBadge?: (column: ColumnInfo) => string | null;
  onStatus?: (message: string) => void;
};

function rangeOf(a: Cell, b: Cell) {
  return { top: Math.min(a.row, b.row), bottom: Math.max(a.row, b.row), left: Math.min(a.col, b.col), right: Math.max(a.col, b.col) };
}

export function ResultGrid({ runId, columns, total, view, first, onHeader, headerBadge, onStatus }: Props) {
  const scroller = useRef<HTMLDivElement>(null);
  const cache = useMemo(() => new PageCache<unknown[][]>(CACHE_PAGES), []);
  const pending = useRef(new Map<number, AbortController>());
  const [, setVersion] = useState(0);
  const [viewport, setViewport] = useState({ top: 0, height: 400 });
  const [error, setError] = useState<string | null>(null);
  const [anchor, setAnchor] = useState<Cell | null>(null);
  const [focus, setFocus] = useState<Cell | null>(null);
  const [detail, setDetail] = useState<{ cell: Cell; value: unknown } | null>(null);
  const dragging = useRef(false);
  const widths = useMemo(() => columns.map(columnWidth), [columns]);
  const numeric = useMemo(() => columns.map(isNumeric), [columns]);
  const key = `${runId}|${JSON.stringify(view)}`;

  // A new result or view: forget the pages, seed the first one, back to the top.
  useEffect(() => {
    for (const controller of pending.current.values()) controller.abort();
    pending.current.clear();
    cache.clear();
    if (first && first.offset === 0 && first.rows.length >= Math.min(PAGE_SIZE, total)) cache.set(0, first.rows.slice(0, PAGE_SIZE));
    setAnchor(null);
    setFocus(null);
    setError(null);
    if (scroller.current) scroller.current.scrollTop = 0;
    setViewport((v) => ({ ...v, top: 0 }));
    setVersion((v) => v + 1);
  }, [key, cache, first, total]);

  const g = geometry(total, ROW_HEIGHT, Math.max(viewport.height - ROW_HEIGHT, ROW_HEIGHT));
  const { row: firstRow, shift } = firstRowAt(g, viewport.top);
  const shown = visibleRows(g) + 1;
  const lastRow = Math.min(total - 1, firstRow + shown);

  const load = useCallback(
    (page: number) => {
      if (cache.has(page) || pending.current.has(page)) return;
      const controller = new AbortController();
      pending.current.set(page, controller);
      fetchPage(runId, view, page * PAGE_SIZE, PAGE_SIZE, controller.signal)
        .then((answer) => {
          cache.set(page, answer.rows);
          setVersion((v) => v + 1);
        })
        .catch((reason) => {
          if (!controller.signal.aborted) setError(describeError(reason).message);
        })
        .finally(() => pending.current.delete(page));
    },
    // The key names runId and view; a new key starts a new cache.
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [key, cache],
  );

  useEffect(() => {
    const wanted = pagesFor(firstRow, lastRow, PAGE_SIZE, total, OVERSCAN_ROWS);
    for (const [page, controller] of pending.current) {
      if (!wanted.includes(page)) {
        controller.abort();
        pending.current.delete(page);
      }
    }
    for (const page of wanted) load(page);
  }, [firstRow, lastRow, total, load]);

  useEffect(() => {
    const element = scroller.current;
    if (!element) return;
    const observer = new ResizeObserver(() => setViewport({ top: element.scrollTop, height: element.clientHeight }));
    observer.observe(element);
    return () => observer.disconnect();
  }, []);

  const columnVirtualizer = useVirtualizer({
    horizontal: true,
    count: columns.length,
    getScrollElement: () => scroller.current,
    estimateSize: (i) => widths[i] ?? 160,
    overscan: 3,
  });

  const rowValues = (row: number): unknown[] | undefined => cache.get(Math.floor(row / PAGE_SIZE))?.[row % PAGE_SIZE];

  const scrollToRow = useCallback(
    (row: number) => {
      const element = scroller.current;
      if (!element) return;
      element.scrollTop = scrollTopFor(g, row);
      setViewport({ top: element.scrollTop, height: element.clientHeight });
    },
    [g],
  );

  const ensureVisible = (cell: Cell) => {
    const element = scroller.current;
    if (!element) return;
    if (cell.row < firstRow || cell.row >= firstRow + shown - 2) scrollToRow(cell.row < firstRow ? cell.row : cell.row - shown + 3);
    const start = columnVirtualizer.measurementsCache[cell.col]?.start ?? 0;
    const end = start + (widths[cell.col] ?? 160);
    if (start < element.scrollLeft) element.scrollLeft = start;
    else if (end + NUMBER_COLUMN > element.scrollLeft + element.clientWidth) element.scrollLeft = end + NUMBER_COLUMN - element.clientWidth;
  };

  /** The selected range's values, fetching pages not in memory (bounded). */
  const selectedValues = async (): Promise<{ names: string[]; rows: unknown[][]; numeric: boolean[] } | null> => {
    if (!anchor || !focus) return null;
    const r = rangeOf(anchor, focus);
    if (r.bottom - r.top + 1 > MAX_COPY_ROWS) {
      onStatus?.(`Select at most ${MAX_COPY_ROWS.toLocaleString()} rows to copy; export the result for more.`);
      return null;
    }
    const rows: unknown[][] = [];
    for (let page = Math.floor(r.top / PAGE_SIZE); page <= Math.floor(r.bottom / PAGE_SIZE); page++) {
      let values = cache.get(page);
      if (!values) {
        values = (await fetchPage(runId, view, page * PAGE_SIZE, PAGE_SIZE)).rows;
        cache.set(page, values);
      }
      for (let i = 0; i < values.length; i++) {
        const row = page * PAGE_SIZE + i;
        if (row >= r.top && row <= r.bottom) rows.push((values[i] as unknown[]).slice(r.left, r.right + 1));
      }
    }
    const picked = columns.slice(r.left, r.right + 1);
    return { names: picked.map((c) => c.name), rows, numeric: numeric.slice(r.left, r.right + 1) };
  };

  const copy = async (format: CopyFormat) => {
    try {
      const values = await selectedValues();
      if (!values) return;
      const text = formatRange(format, values.names, values.rows, values.numeric);
      await navigator.clipboard.writeText(text);
      onStatus?.(`Copied ${values.rows.length.toLocaleString()} row(s) as ${format.toUpperCase()}.`);
    } catch (reason) {
      onStatus?.(`Copy failed: ${describeError(reason).message}`);
    }
  };

  const onKeyDown = (event: KeyboardEvent<HTMLDivElement>) => {
    if ((event.ctrlKey || event.metaKey) && event.key.toLowerCase() === "c") {
      event.preventDefault();
      void copy("tsv");
      return;
    }
    if ((event.ctrlKey || event.metaKey) && event.key.toLowerCase() === "a") {
      event.preventDefault();
      setAnchor({ row: 0, col: 0 });
      setFocus({ row: total - 1, col: columns.length - 1 });
      return;
    }
    const current = focus ?? { row: firstRow, col: 0 };
    const moves: Record<string, Cell> = {
      ArrowDown: { row: Math.min(total - 1, current.row + 1), col: current.col },
      ArrowUp: { row: Math.max(0, current.row - 1), col: current.col },
      ArrowRight: { row: current.row, col: Math.min(columns.length - 1, current.col + 1) },
      ArrowLeft: { row: current.row, col: Math.max(0, current.col - 1) },
      PageDown: { row: Math.min(total - 1, current.row + shown - 2), col: current.col },
      PageUp: { row: Math.max(0, current.row - shown + 2), col: current.col },
      Home: { row: event.ctrlKey ? 0 : current.row, col: 0 },
      End: { row: event.ctrlKey ? total - 1 : current.row, col: columns.length - 1 },
    };
    const next = moves[event.key];
    if (next && total > 0) {
      event.preventDefault();
      setFocus(next);
      if (!event.shiftKey) setAnchor(next);
      ensureVisible(next);
    } else if (event.key === "Enter" && focus) {
      event.preventDefault();
      setDetail({ cell: focus, value: rowValues(focus.row)?.[focus.col] });
    }
  };

  const cellAt = (event: MouseEvent): Cell | null => {
    const target = (event.target as HTMLElement).closest<HTMLElement>("[data-col]");
    const row = target?.parentElement?.dataset.row;
    if (!target || row === undefined) return null;
    return { row: Number(row), col: Number(target.dataset.col) };
  };

  const range = anchor && focus ? rangeOf(anchor, focus) : null;
  const virtualColumns = columnVirtualizer.getVirtualItems();
  const contentWidth = columnVirtualizer.getTotalSize() + NUMBER_COLUMN;
  const rows: number[] = [];
  for (let row = firstRow; row <= lastRow && row < total; row++) rows.push(row);

  return (
    <div className="grid-wrap">
      <div
        className="grid"
        role="grid"
        aria-label="Query result"
        aria-rowcount={total + 1}
        aria-colcount={columns.length + 1}
        tabIndex={0}
        ref={scroller}
        onKeyDown={onKeyDown}
        onScroll={(event) => {
          const element = event.currentTarget;
          setViewport({ top: element.scrollTop, height: element.clientHeight });
        }}
        onMouseDown={(event) => {
          const cell = cellAt(event);
          if (!cell) return;
          dragging.current = true;
          setFocus(cell);
          if (!event.shiftKey || !anchor) setAnchor(cell);
        }}
        onMouseMove={(event) => {
          if (!dragging.current) return;
          const cell = cellAt(event);
          if (cell) setFocus(cell);
        }}
        onMouseUp={() => (dragging.current = false)}
        onDoubleClick={(event) => {
          const cell = cellAt(event);
          if (cell) setDetail({ cell, value: rowValues(cell.row)?.[cell.col] });
        }}
      >
        <div className="grid-space" style={{ height: g.height + ROW_HEIGHT, width: contentWidth }} />
        <div className="grid-layer" style={{ transform: `translateY(${viewport.top}px)`, width: contentWidth, height: viewport.height }}>
          <div className="grid-row grid-head" role="row" aria-rowindex={1} style={{ height: ROW_HEIGHT }}>
            <div className="grid-cell grid-num" role="columnheader" style={{ width: NUMBER_COLUMN }}>#</div>
            {virtualColumns.map((vc) => {
              const column = columns[vc.index] as ColumnInfo;
              const badge = headerBadge?.(column);
              return (
                <div
                  key={vc.key}
                  className={`grid-cell${numeric[vc.index] ? " num" : ""}`}
                  role="columnheader"
                  aria-colindex={vc.index + 2}
                  style={{ width: vc.size, left: vc.start + NUMBER_COLUMN }}
                  title={`${column.name}: ${column.native_type ?? column.type}`}
                >
                  <button type="button" className="head-button" onClick={(event) => onHeader?.(column, vc.index, event.currentTarget)}>
                    <span className="head-name">{column.name}</span>
                    <span className="head-type">{column.native_type ?? column.type}</span>
                    {badge && <span className="head-badge">{badge}</span>}
                  </button>
                </div>
              );
            })}
          </div>
          <div style={{ transform: `translateY(${-shift}px)` }}>
            {rows.map((row) => {
              const values = rowValues(row);
              return (
                <div key={row} className="grid-row" role="row" aria-rowindex={row + 2} data-row={row} style={{ height: ROW_HEIGHT }}>
                  <div className="grid-cell grid-num" role="rowheader" style={{ width: NUMBER_COLUMN }}>{(row + 1).toLocaleString()}</div>
                  {virtualColumns.map((vc) => {
                    const value = values?.[vc.index];
                    const selected = range && row >= range.top && row <= range.bottom && vc.index >= range.left && vc.index <= range.right;
                    const focused = focus && focus.row === row && focus.col === vc.index;
                    const classes = ["grid-cell"];
                    if (numeric[vc.index]) classes.push("num");
                    if (values === undefined) classes.push("loading");
                    else if (value === null) classes.push("null");
                    if (selected) classes.push("selected");
                    if (focused) classes.push("focused");
                    return (
                      <div
                        key={vc.key}
                        className={classes.join(" ")}
                        role="gridcell"
                        aria-colindex={vc.index + 2}
                        aria-selected={selected ? true : undefined}
                        data-col={vc.index}
                        style={{ width: vc.size, left: vc.start + NUMBER_COLUMN }}
                      >
                        {values === undefined ? "…" : display(value)}
                      </div>
                    );
                  })}
                </div>
              );
            })}
          </div>
        </div>
      </div>
      <div className="grid-foot">
        <span data-testid="row-total">{total.toLocaleString()} rows</span>
        {range && (
          <span>
            {" "}· selected {(range.bottom - range.top + 1).toLocaleString()} × {range.right - range.left + 1}
          </span>
        )}
        <GoToRow total={total} onGo={(row) => { scrollToRow(row); const cell = { row, col: focus?.col ?? 0 }; setAnchor(cell); setFocus(cell); }} />
        <span className="copy-menu">
          Copy as
          {(["tsv", "csv", "markdown", "in-list"] as CopyFormat[]).map((format) => (
            <button key={format} type="button" className="link" disabled={!range} onClick={() => void copy(format)}>
              {format === "in-list" ? "IN (…)" : format.toUpperCase()}
            </button>
          ))}
        </span>
        {error && <span className="error-text" role="alert">{error}</span>}
      </div>
      {detail && <CellDetail column={columns[detail.cell.col] as ColumnInfo} row={detail.cell.row} value={detail.value} onClose={() => setDetail(null)} />}
    </div>
  );
}

function GoToRow({ total, onGo }: { total: number; onGo: (row: number) => void }) {
  const [value, setValue] = useState("");
  return (
    <form
      className="goto"
      onSubmit={(event) => {
        event.preventDefault();
        const row = Number(value.replaceAll(",", "").replaceAll("_", ""));
        if (Number.isFinite(row) && row >= 1) onGo(Math.min(total, Math.floor(row)) - 1);
      }}
    >
      <label>
        Go to row <input value={value} onChange={(e) => setValue(e.target.value)} inputMode="numeric" size={9} />
      </label>
    </form>
  );
}

function CellDetail({ column, row, value, onClose }: { column: ColumnInfo; row: number; value: unknown; onClose: () => void }) {
  const { text, json } = detailText(value);
  const close = useRef<HTMLButtonElement>(null);
  useEffect(() => close.current?.focus(), []);
  return (
    <div className="dialog-backdrop" onClick={onClose}>
      <div className="dialog" role="dialog" aria-modal="true" aria-label={`Value of ${column.name}`} onClick={(e) => e.stopPropagation()} onKeyDown={(e) => e.key === "Escape" && onClose()}>
        <h2>
          {column.name} <small>row {(row + 1).toLocaleString()} · {column.native_type ?? column.type}</small>
        </h2>
        <pre className={json ? "json" : undefined}>{value === null ? "NULL" : text}</pre>
        <div className="dialog-actions">
          <button type="button" onClick={() => void navigator.clipboard.writeText(text)}>Copy</button>
          <button type="button" ref={close} onClick={onClose}>Close</button>
        </div>
      </div>
    </div>
  );
}
