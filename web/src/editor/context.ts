/** What the autocomplete should offer at the cursor: the name being typed, what qualifies
 * it (``alias.``, ``schema.``, ``schema.table.``), and the relations the statement reads
 * with their aliases (defined before or after the cursor). */

export type Token = { kind: "word" | "quoted" | "dot" | "comma" | "open" | "close" | "other"; text: string; from: number; to: number };

export type TableRef = { schema: string | null; table: string; alias: string | null; cte: boolean };

export type CompletionContext = {
  /** Text typed so far of the name at the cursor. */
  prefix: string;
  /** Where the name being typed starts. */
  from: number;
  /** Qualifiers before the name (``a.`` → ["a"]), unquoted. */
  qualifier: string[];
  /** tables: a FROM/JOIN position; columns: after a relation's qualifier; any: elsewhere. */
  want: "tables" | "columns" | "any";
  /** The relations whose columns fit (for ``columns``: the qualified one; for ``any``: all). */
  relations: TableRef[];
  /** Every relation the statement reads. */
  refs: TableRef[];
};

const RELATION_KEYWORDS = new Set(["from", "join", "into", "update", "table"]);
const NOT_ALIAS = new Set([
  "where", "join", "inner", "left", "right", "full", "outer", "cross", "natural", "on", "using",
  "group", "order", "having", "limit", "offset", "union", "intersect", "except", "window",
  "as", "select", "from", "lateral", "fetch", "for", "qualify", "with", "set", "values", "returning",
]);

export function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i] as string;
    if (/\s/.test(c)) {
      i++;
    } else if (c === "-" && text[i + 1] === "-") {
      const end = text.indexOf("\n", i);
      i = end === -1 ? text.length : end;
    } else if (c === "/" && text[i + 1] === "*") {
      const end = text.indexOf("*/", i + 2);
      i = end === -1 ? text.length : end + 2;
    } else if (c === "'") {
      let j = i + 1;
      while (j < text.length && !(text[j] === "'" && text[j + 1] !== "'")) j += text[j] === "'" ? 2 : 1;
      tokens.push({ kind: "other", text: text.slice(i, j + 1), from: i, to: j + 1 });
      i = j + 1;
    } else if (c === '"' || c === "`" || c === "[") {
      const close = c === "[" ? "]" : c;
      let j = i + 1;
      while (j < text.length && !(text[j] === close && text[j + 1] !== close)) j += text[j] === close ? 2 : 1;
      const inner = text.slice(i + 1, j).split(close + close).join(close);
      tokens.push({ kind: "quoted", text: inner, from: i, to: Math.min(j + 1, text.length) });
      i = j + 1;
    } else if (/[A-Za-z_\u00C0-\uFFFF]/.test(c)) {
      let j = i + 1;
      while (j < text.length && /[A-Za-z0-9_$\u00C0-\uFFFF]/.test(text[j] as string)) j++;
      tokens.push({ kind: "word", text: text.slice(i, j), from: i, to: j });
      i = j;
    } else {
      const kind = c === "." ? "dot" : c === "," ? "comma" : c === "(" ? "open" : c === ")" ? "close" : "other";
      tokens.push({ kind, text: c, from: i, to: i + 1 });
      i++;
    }
  }
  return tokens;
}

const isName = (t: Token | undefined): t is Token => !!t && (t.kind === "word" || t.kind === "quoted");
const lower = (t: Token | undefined) => (t && t.kind === "word" ? t.text.toLowerCase() : "");

/** A dotted name starting at ``tokens[i]``: its parts and the index after it. */
function dotted(tokens: Token[], i: number): { parts: string[]; next: number } {
  const parts: string[] = [];
  let j = i;
  while (isName(tokens[j])) {
    parts.push((tokens[j] as Token).text);
    if (tokens[j + 1]?.kind === "dot" && isName(tokens[j + 2])) j += 2;
    else {
      j++;
      break;
    }
  }
  return { parts, next: j };
}

/** The relations a statement reads (FROM/JOIN lists, comma joins) and its CTE names. */
export function relations(tokens: Token[]): TableRef[] {
  const refs: TableRef[] = [];
  const ctes = new Set<string>();
  for (let i = 0; i < tokens.length; i++) {
    // WITH name AS ( ... ), name2 AS (...)
    if ((lower(tokens[i]) === "with" || tokens[i]?.kind === "comma") && isName(tokens[i + 1]) && lower(tokens[i + 2]) === "as" && tokens[i + 3]?.kind === "open") {
      const name = (tokens[i + 1] as Token).text;
      ctes.add(name.toLowerCase());
      refs.push({ schema: null, table: name, alias: null, cte: true });
    }
  }
  let depth = 0;
  const inFrom: boolean[] = [];
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i] as Token;
    if (t.kind === "open") depth++;
    if (t.kind === "close") {
      inFrom[depth] = false;
      depth = Math.max(0, depth - 1);
    }
    const word = lower(t);
    if (word === "from" || word === "join") inFrom[depth] = true;
    else if (t.kind === "word" && NOT_ALIAS.has(word) && word !== "as" && word !== "lateral") {
      if (!["join", "inner", "left", "right", "full", "outer", "cross", "natural", "on", "using"].includes(word)) inFrom[depth] = false;
    }
    const startsRef = word === "from" || word === "join" || (t.kind === "comma" && inFrom[depth]);
    if (!startsRef || !isName(tokens[i + 1])) continue;
    const { parts, next } = dotted(tokens, i + 1);
    if (parts.length === 0 || tokens[next]?.kind === "open") continue; // a function call
    const table = parts[parts.length - 1] as string;
    const schema = parts.length > 1 ? (parts[parts.length - 2] as string) : null;
    let alias: string | null = null;
    let k = next;
    if (lower(tokens[k]) === "as") k++;
    const candidate = tokens[k];
    if (isName(candidate) && !(candidate.kind === "word" && NOT_ALIAS.has(candidate.text.toLowerCase()))) alias = candidate.text;
    refs.push({ schema, table, alias, cte: schema === null && ctes.has(table.toLowerCase()) });
  }
  return refs;
}

function sameName(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}

/** The relation a qualifier names: an alias, else a table name, else null. */
export function resolveQualifier(refs: TableRef[], qualifier: string[]): TableRef | null {
  if (qualifier.length === 1) {
    const name = qualifier[0] as string;
    return (
      refs.find((r) => r.alias !== null && sameName(r.alias, name)) ??
      refs.find((r) => r.alias === null && sameName(r.table, name)) ??
      null
    );
  }
  if (qualifier.length === 2) {
    const [schema, table] = qualifier as [string, string];
    return refs.find((r) => r.schema !== null && sameName(r.schema, schema) && sameName(r.table, table)) ?? { schema, table, alias: null, cte: false };
  }
  return null;
}

/** The completion context at ``cursor`` (an offset into ``statement``). */
export function completionContext(statement: string, cursor: number): CompletionContext {
  const tokens = tokenize(statement);
  const refs = relations(tokens);
  const before = tokens.filter((t) => t.to <= cursor);
  let last = before[before.length - 1];
  let prefix = "";
  let from = cursor;
  // The name being typed touches the cursor.
  if (last && isName(last) && last.to === cursor) {
    prefix = last.text;
    from = last.from;
    before.pop();
    last = before[before.length - 1];
  }
  const qualifier: string[] = [];
  while (last && last.kind === "dot" && last.to === (qualifier.length === 0 ? from : before[before.length]?.from ?? from)) {
    const name = before[before.length - 2];
    if (!isName(name) || name.to !== last.from) break;
    qualifier.unshift(name.text);
    before.splice(before.length - 2, 2);
    last = before[before.length - 1];
  }
  const previous = lower(before[before.length - 1]);
  if (qualifier.length > 0) {
    const relation = resolveQualifier(refs, qualifier);
    if (relation) return { prefix, from, qualifier, want: "columns", relations: [relation], refs };
    // An unknown single qualifier is a schema: its tables.
    return { prefix, from, qualifier, want: "tables", relations: [], refs };
  }
  if (RELATION_KEYWORDS.has(previous) || (before[before.length - 1]?.kind === "comma" && inFromList(before))) {
    return { prefix, from, qualifier, want: "tables", relations: [], refs };
  }
  return { prefix, from, qualifier, want: "any", relations: refs.filter((r) => !r.cte), refs };
}

/** Whether the tokens end inside a FROM list (the last clause keyword is FROM or JOIN). */
function inFromList(tokens: Token[]): boolean {
  for (let i = tokens.length - 1; i >= 0; i--) {
    const word = lower(tokens[i]);
    if (word === "from" || word === "join") return true;
    if (word === "select" || word === "where" || word === "on" || word === "group" || word === "order") return false;
  }
  return false;
}
