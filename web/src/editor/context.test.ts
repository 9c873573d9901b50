import { describe, expect, it } from "vitest";
import { completionContext, relations, tokenize } from "./context";

const at = (sql: string) => {
  const cursor = sql.indexOf("|");
  return completionContext(sql.replace("|", ""), cursor);
};

describe("relations", () => {
  it("reads tables, schemas and aliases from FROM and JOIN", () => {
    const refs = relations(tokenize('select * from public.orders o join "Line Items" as li on li.id = o.id, customers c'));
    expect(refs).toEqual([
      { schema: "public", table: "orders", alias: "o", cte: false },
      { schema: null, table: "Line Items", alias: "li", cte: false },
      { schema: null, table: "customers", alias: "c", cte: false },
    ]);
  });
  it("does not take a clause keyword for an alias", () => {
    const refs = relations(tokenize("select * from orders where x = 1"));
    expect(refs[0]?.alias).toBeNull();
  });
  it("knows CTE names", () => {
    const refs = relations(tokenize("with recent as (select 1) select * from recent r"));
    expect(refs.some((r) => r.cte && r.table === "recent")).toBe(true);
  });
});

describe("completionContext", () => {
  it("completes columns of an alias defined after the cursor", () => {
    const ctx = at("select o.to| from tpch.orders o");
    expect(ctx.want).toBe("columns");
    expect(ctx.prefix).toBe("to");
    expect(ctx.qualifier).toEqual(["o"]);
    expect(ctx.relations[0]).toMatchObject({ schema: "tpch", table: "orders" });
  });
  it("completes columns right after the dot", () => {
    const ctx = at("select c.| from customer c");
    expect(ctx).toMatchObject({ want: "columns", prefix: "", qualifier: ["c"] });
  });
  it("offers tables after FROM and JOIN", () => {
    expect(at("select * from ord|").want).toBe("tables");
    expect(at("select * from a join |").want).toBe("tables");
    expect(at("select * from a, |").want).toBe("tables");
  });
  it("offers the tables of a schema after its name", () => {
    const ctx = at("select * from main.li|");
    expect(ctx).toMatchObject({ want: "tables", qualifier: ["main"], prefix: "li" });
  });
  it("offers columns of schema.table", () => {
    const ctx = at("select public.orders.| from public.orders");
    expect(ctx.want).toBe("columns");
    expect(ctx.relations[0]).toMatchObject({ schema: "public", table: "orders" });
  });
  it("offers every relation's columns in a select list", () => {
    const ctx = at("select | from orders o join lineitem l on true");
    expect(ctx.want).toBe("any");
    expect(ctx.relations.map((r) => r.table)).toEqual(["orders", "lineitem"]);
  });
  it("ignores dots inside strings", () => {
    expect(at("select 'a.' || x| from t").want).toBe("any");
  });
});
