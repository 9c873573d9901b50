/** The editor's autocomplete: schemas, tables, columns and the current statement's
 * aliases, fed lazily from the catalog API (see catalog.ts). */
import type { Completion, CompletionContext as CmContext, CompletionResult } from "@codemirror/autocomplete";
import { catalogLevel, catalogPath, schemaOf, searchCatalog } from "./catalog";
import { completionContext, type TableRef } from "./context";
import { statementAt } from "./statements";

function quoteIfNeeded(name: string): string {
  return /^[a-z_][a-z0-9_]*$/.test(name) ? name : `"${name.replaceAll('"', '""')}"`;
}

async function columnsOf(connection: string, ref: TableRef): Promise<Completion[]> {
  if (ref.cte) return [];
  const schema = ref.schema ?? (await schemaOf(connection, ref.table));
  if (schema === null) return [];
  const level = await catalogLevel(connection, catalogPath(schema, ref.table));
  return level.items
    .filter((n) => n.kind === "column")
    .map((n) => ({ label: n.name, apply: quoteIfNeeded(n.name), type: "property", detail: n.native_type ?? undefined, info: n.comment ?? undefined, boost: 2 }));
}

async function tablesOf(connection: string, schema: string): Promise<Completion[]> {
  const level = await catalogLevel(connection, schema);
  return level.items.map((n) => ({ label: n.name, apply: quoteIfNeeded(n.name), type: n.kind === "view" ? "interface" : "class", detail: n.kind, info: n.comment ?? undefined }));
}

async function tablesLike(connection: string, prefix: string): Promise<Completion[]> {
  const schemas = await catalogLevel(connection, "");
  const options: Completion[] = schemas.items.map((n) => ({ label: n.name, apply: quoteIfNeeded(n.name), type: "namespace", detail: "schema" }));
  if (prefix.length >= 1) {
    const hits = await searchCatalog(prefix, 100);
    for (const hit of hits) {
      if (hit.connection !== connection || hit.column) continue;
      options.push({ label: hit.name, apply: hit.path.split(".").map(quoteIfNeeded).join("."), type: hit.kind === "view" ? "interface" : "class", detail: hit.path, boost: 1 });
    }
  }
  return options;
}

/** A completion source for ``connection`` (null: keywords only, from the dialect). */
export function catalogCompletion(connection: () => string | null) {
  return async (context: CmContext): Promise<CompletionResult | null> => {
    const name = connection();
    if (name === null) return null;
    const text = context.state.doc.toString();
    const statement = statementAt(text, context.pos) ?? { from: context.pos, to: context.pos, text: "" };
    const base = Math.min(statement.from, context.pos);
    const local = text.slice(base, Math.max(statement.to, context.pos));
    const ctx = completionContext(local, context.pos - base);
    if (!context.explicit && ctx.prefix === "" && ctx.qualifier.length === 0) return null;
    let options: Completion[] = [];
    try {
      if (ctx.want === "columns") {
        options = await columnsOf(name, ctx.relations[0] as TableRef);
      } else if (ctx.want === "tables") {
        options = ctx.qualifier.length === 1 ? await tablesOf(name, ctx.qualifier[0] as string) : await tablesLike(name, ctx.prefix);
        if (ctx.qualifier.length === 0) for (const ref of ctx.refs) if (ref.cte) options.push({ label: ref.table, type: "class", detail: "CTE" });
      } else {
        for (const ref of ctx.refs) {
          const label = ref.alias ?? ref.table;
          options.push({ label, type: "variable", detail: ref.alias ? `alias of ${ref.table}` : "table", boost: 3 });
        }
        const columns = await Promise.all(ctx.relations.map((ref) => columnsOf(name, ref).catch(() => [])));
        options.push(...columns.flat());
      }
    } catch {
      return null; // the catalog is unavailable: keywords still complete
    }
    if (options.length === 0) return null;
    return { from: base + ctx.from, options, validFor: /^[\w$]*$/ };
  };
}
