import { describe, expect, it } from "vitest";
import { MAX_SCROLL_PX, PageCache, firstRowAt, geometry, pagesFor, scrollTopFor, visibleRows } from "./paging";

describe("geometry", () => {
  it("maps scroll positions one to one for small results", () => {
    const g = geometry(1000, 28, 560);
    expect(g.scaled).toBe(false);
    expect(g.height).toBe(28_000);
    expect(firstRowAt(g, 28 * 10 + 5)).toEqual({ row: 10, shift: 5 });
    expect(scrollTopFor(g, 10)).toBe(280);
  });

  it("scales the scrollbar for a million rows and reaches both ends", () => {
    const g = geometry(1_000_000, 28, 560);
    expect(g.scaled).toBe(true);
    expect(g.height).toBe(MAX_SCROLL_PX);
    expect(firstRowAt(g, 0).row).toBe(0);
    const end = firstRowAt(g, g.height - g.viewport).row;
    expect(end + visibleRows(g) - 1).toBe(999_999);
  });

  it("jumps to row 900,000 and back to it", () => {
    const g = geometry(1_000_000, 28, 560);
    expect(firstRowAt(g, scrollTopFor(g, 900_000)).row).toBe(900_000);
    for (const row of [1, 12_345, 499_999, 999_979]) expect(firstRowAt(g, scrollTopFor(g, row)).row).toBe(row);
  });

  it("handles an empty result", () => {
    const g = geometry(0, 28, 560);
    expect(firstRowAt(g, 100)).toEqual({ row: 0, shift: 0 });
    expect(pagesFor(0, 10, 200, 0)).toEqual([]);
  });
});

describe("pagesFor", () => {
  it("lists the pages holding a window, with overscan, clipped to the result", () => {
    expect(pagesFor(0, 30, 200, 1000)).toEqual([0]);
    expect(pagesFor(190, 230, 200, 1000)).toEqual([0, 1]);
    expect(pagesFor(390, 420, 200, 1000, 50)).toEqual([1, 2]);
    expect(pagesFor(980, 1020, 200, 1000, 100)).toEqual([4]);
  });
});

describe("PageCache", () => {
  it("keeps the most recently used pages only", () => {
    const cache = new PageCache<string>(2);
    cache.set(1, "a");
    cache.set(2, "b");
    cache.get(1);
    cache.set(3, "c");
    expect(cache.has(1)).toBe(true);
    expect(cache.has(2)).toBe(false);
    expect(cache.size).toBe(2);
  });
});
