/** The results grid's window over a stored result it never loads whole: which rows a
 * scroll position shows, which server pages hold them, and a bounded cache of pages.
 *
 * Browsers cap an element's height (about 33 million px in Chromium, less elsewhere), so a
 * 1,000,000-row result at 28 px a row cannot be one tall element. Up to MAX_SCROLL_PX the
 * scroll position maps to rows one to one; beyond, the scrollbar is scaled: its range maps
 * linearly onto the rows (each pixel of scrollbar then moves several rows). */

export const MAX_SCROLL_PX = 10_000_000;

export type Geometry = {
  total: number;
  rowHeight: number;
  viewport: number;
  /** Height of the scrolled content. */
  height: number;
  scaled: boolean;
};

export function geometry(total: number, rowHeight: number, viewport: number): Geometry {
  const natural = total * rowHeight;
  return { total, rowHeight, viewport, height: Math.min(natural, MAX_SCROLL_PX), scaled: natural > MAX_SCROLL_PX };
}

/** Rows that fit in the viewport (at least one). */
export function visibleRows(g: Geometry): number {
  return Math.max(1, Math.ceil(g.viewport / g.rowHeight));
}

/** The first row shown at ``scrollTop`` and how far up it is shifted (px). */
export function firstRowAt(g: Geometry, scrollTop: number): { row: number; shift: number } {
  if (g.total === 0) return { row: 0, shift: 0 };
  if (!g.scaled) {
    const row = Math.min(Math.floor(scrollTop / g.rowHeight), Math.max(g.total - 1, 0));
    return { row, shift: scrollTop - row * g.rowHeight };
  }
  const range = Math.max(g.height - g.viewport, 1);
  const rows = Math.max(g.total - visibleRows(g) + 1, 1);
  const fraction = Math.min(Math.max(scrollTop / range, 0), 1);
  return { row: Math.min(Math.round(fraction * (rows - 1)), g.total - 1), shift: 0 };
}

/** The scroll position that shows ``row`` first (the inverse of firstRowAt). */
export function scrollTopFor(g: Geometry, row: number): number {
  const clamped = Math.min(Math.max(row, 0), Math.max(g.total - 1, 0));
  if (!g.scaled) return clamped * g.rowHeight;
  const range = Math.max(g.height - g.viewport, 1);
  const rows = Math.max(g.total - visibleRows(g) + 1, 1);
  return rows <= 1 ? 0 : (Math.min(clamped, rows - 1) / (rows - 1)) * range;
}

/** Indexes of the pages of ``pageSize`` rows that hold rows ``first`` to ``last``
 * (inclusive), widened by ``overscan`` rows each way and clipped to the result. */
export function pagesFor(first: number, last: number, pageSize: number, total: number, overscan = 0): number[] {
  if (total <= 0 || last < first) return [];
  const from = Math.max(0, first - overscan);
  const to = Math.min(total - 1, last + overscan);
  const pages: number[] = [];
  for (let p = Math.floor(from / pageSize); p <= Math.floor(to / pageSize); p++) pages.push(p);
  return pages;
}

/** A least-recently-used cache of pages: at most ``capacity`` of them stay in memory. */
export class PageCache<T> {
  private readonly pages = new Map<number, T>();
  constructor(readonly capacity: number) {}

  get(page: number): T | undefined {
    const found = this.pages.get(page);
    if (found !== undefined) {
      this.pages.delete(page);
      this.pages.set(page, found);
    }
    return found;
  }

  has(page: number): boolean {
    return this.pages.has(page);
  }

  set(page: number, value: T): void {
    this.pages.delete(page);
    this.pages.set(page, value);
    while (this.pages.size > this.capacity) {
      const oldest = this.pages.keys().next().value as number;
      this.pages.delete(oldest);
    }
  }

  get size(): number {
    return this.pages.size;
  }

  clear(): void {
    this.pages.clear();
  }
}
