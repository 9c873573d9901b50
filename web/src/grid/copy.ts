/** Copying a range of the grid: as TSV (what spreadsheets paste), CSV (RFC 4180),
 * a Markdown table, or a SQL ``IN (...)`` list of the values of one column. */

export type CopyFormat = "tsv" | "csv" | "markdown" | "in-list";

/** A value as it reads in a cell (NULL stays null; objects as JSON). */
export function cellText(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

function tsvField(text: string | null): string {
  if (text === null) return "";
  return /[\t\n\r"]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

function csvField(text: string | null): string {
  if (text === null) return "";
  return /[",\n\r]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

function markdownField(text: string | null): string {
  if (text === null) return "NULL";
  return text.replaceAll("\\", "\\\\").replaceAll("|", "\\|").replace(/\r?\n/g, "<br>");
}

function sqlLiteral(value: unknown, numeric: boolean): string {
  if (value === null || value === undefined) return "NULL";
  if (typeof value === "boolean") return value ? "TRUE" : "FALSE";
  if (typeof value === "number" || (numeric && typeof value === "string" && /^-?\d+(\.\d+)?$/.test(value))) return String(value);
  const text = typeof value === "object" ? JSON.stringify(value) : String(value);
  return `'${text.replaceAll("'", "''")}'`;
}

/** ``rows`` (the selected cells, row by row) with their column ``names`` in ``format``.
 * ``numeric`` says which columns hold numbers (unquoted in an IN list). */
export function formatRange(format: CopyFormat, names: string[], rows: unknown[][], numeric: boolean[] = []): string {
  const texts = rows.map((row) => row.map(cellText));
  switch (format) {
    case "tsv":
      return [names.map(tsvField), ...texts.map((r) => r.map(tsvField))].map((r) => r.join("\t")).join("\n");
    case "csv":
      return [names.map(csvField), ...texts.map((r) => r.map(csvField))].map((r) => r.join(",")).join("\r\n") + "\r\n";
    case "markdown": {
      const header = `| ${names.map(markdownField).join(" | ")} |`;
      const rule = `| ${names.map((_, i) => (numeric[i] ? "---:" : "---")).join(" | ")} |`;
      return [header, rule, ...texts.map((r) => `| ${r.map(markdownField).join(" | ")} |`)].join("\n");
    }
    case "in-list": {
      const values = rows.flatMap((row) => row.map((value, i) => sqlLiteral(value, numeric[i] ?? false)));
      return `IN (${[...new Set(values)].join(", ")})`;
    }
  }
}
