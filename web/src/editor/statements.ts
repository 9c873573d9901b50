/** Statements of an editor's text: split on semicolons outside strings, quoted names,
 * comments and dollar-quoted bodies, with their offsets (to run the one under the cursor
 * and to place an error's mark). */

export type Statement = { from: number; to: number; text: string };

/** The statements of ``text`` (trimmed; empty ones dropped), in order. */
export function splitStatements(text: string): Statement[] {
  const out: Statement[] = [];
  let start = 0;
  let i = 0;
  const push = (end: number) => {
    const raw = text.slice(start, end);
    const lead = raw.length - raw.trimStart().length;
    const body = raw.trim();
    if (body && !isOnlyComments(body)) out.push({ from: start + lead, to: start + lead + body.length, text: body });
  };
  while (i < text.length) {
    const c = text[i];
    const next = text[i + 1];
    if (c === "-" && next === "-") {
      const end = text.indexOf("\n", i);
      i = end === -1 ? text.length : end + 1;
    } else if (c === "/" && next === "*") {
      const end = text.indexOf("*/", i + 2);
      i = end === -1 ? text.length : end + 2;
    } else if (c === "'" || c === '"' || c === "`") {
      i = closingQuote(text, i, c);
    } else if (c === "$") {
      const tag = /^\$[A-Za-z_]?[A-Za-z0-9_]*\$/.exec(text.slice(i));
      if (tag && !/[A-Za-z0-9_]/.test(text[i - 1] ?? "")) {
        const end = text.indexOf(tag[0], i + tag[0].length);
        i = end === -1 ? text.length : end + tag[0].length;
      } else i++;
    } else if (c === ";") {
      push(i);
      start = i + 1;
      i++;
    } else i++;
  }
  push(text.length);
  return out;
}

function closingQuote(text: string, open: number, quote: string): number {
  let i = open + 1;
  while (i < text.length) {
    if (text[i] === quote) {
      if (text[i + 1] === quote) i += 2; // a doubled quote stands for itself
      else return i + 1;
    } else if (text[i] === "\\" && quote === "'") i += 2;
    else i++;
  }
  return text.length;
}

function isOnlyComments(body: string): boolean {
  return body.replace(/--[^\n]*/g, "").replace(/\/\*[\s\S]*?\*\//g, "").trim() === "";
}

/** The statement under the cursor: the one containing it, else the nearest one before
 * it (the cursor sits after its semicolon), else the first one after. */
export function statementAt(text: string, cursor: number): Statement | null {
  const all = splitStatements(text);
  let before: Statement | null = null;
  for (const statement of all) {
    if (cursor >= statement.from && cursor <= statement.to) return statement;
    if (statement.to < cursor) before = statement;
  }
  if (before) {
    const between = text.slice(before.to, cursor);
    if (!between.includes("\n\n")) return before;
  }
  return all.find((s) => s.from > cursor) ?? before;
}

/** Line and column (1-based) to an offset into ``text``. */
export function offsetOf(text: string, line: number, column: number): number {
  let offset = 0;
  for (let l = 1; l < line; l++) {
    const next = text.indexOf("\n", offset);
    if (next === -1) return text.length;
    offset = next + 1;
  }
  return Math.min(offset + Math.max(column - 1, 0), text.length);
}
