/** The API types are generated from the server's OpenAPI document (web/openapi.json, kept
 * current by a pytest test): this fails when src/api/schema.d.ts was not regenerated
 * (`npm run gen:api`). */
import { readFileSync } from "node:fs";
import openapiTS, { astToString } from "openapi-typescript";
import { describe, expect, it } from "vitest";

describe("generated API types", () => {
  it("match openapi.json", async () => {
    const document = JSON.parse(readFileSync(new URL("../../openapi.json", import.meta.url), "utf8"));
    const generated = astToString(await openapiTS(document));
    const committed = readFileSync(new URL("./schema.d.ts", import.meta.url), "utf8");
    // The CLI adds a banner comment; the declarations must be the same.
    const strip = (text: string) => text.replace(/^\/\*\*[\s\S]*?\*\/\s*/, "").trim();
    expect(strip(committed)).toBe(strip(generated));
  });
});
