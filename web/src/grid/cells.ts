/** How a cell reads: NULL apart from the empty string, numbers right-aligned, JSON pretty
 * in the detail view. */
import type { ColumnInfo } from "../api/client";

export function isNumeric(column: ColumnInfo): boolean {
  return /^(u?int\d+|int\d*|float\d*|double|halffloat|decimal\d*\(|decimal)/.test(column.type) || column.json_type === "number";
}

export function display(value: unknown): string {
  if (value === null || value === undefined) return "NULL";
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

/** The full value for the detail view: JSON (an object, or a string that parses as one)
 * pretty-printed. */
export function detailText(value: unknown): { text: string; json: boolean } {
  if (value !== null && typeof value === "object") return { text: JSON.stringify(value, null, 2), json: true };
  if (typeof value === "string" && /^\s*[[{]/.test(value)) {
    try {
      return { text: JSON.stringify(JSON.parse(value), null, 2), json: true };
    } catch {
      // not JSON after all
    }
  }
  return { text: display(value), json: false };
}

export function columnWidth(column: ColumnInfo): number {
  const byName = column.name.length * 8 + 40;
  const byType = isNumeric(column) ? 110 : column.type.startsWith("timestamp") ? 200 : 160;
  return Math.min(Math.max(byName, byType, 80), 360);
}
