import { describe, expect, it } from "vitest";
import { fieldsOf, optionsFrom } from "./optionsForm";

const schema = {
  properties: {
    host: { title: "Host", type: "string" },
    port: { default: 5432, title: "Port", type: "integer" },
    password: { anyOf: [{ format: "password", type: "string", writeOnly: true }, { type: "null" }], default: null, title: "Password" },
    sslmode: { default: "prefer", enum: ["disable", "prefer", "require"], title: "Sslmode", type: "string" },
  },
  required: ["host"],
};

describe("fieldsOf", () => {
  it("reads kinds, defaults, choices and secrets from the schema", () => {
    const fields = fieldsOf(schema);
    expect(fields.map((f) => [f.name, f.kind, f.required])).toEqual([
      ["host", "string", true],
      ["port", "integer", false],
      ["password", "secret", false],
      ["sslmode", "enum", false],
    ]);
    expect(fields[1]?.default).toBe(5432);
    expect(fields[3]?.choices).toEqual(["disable", "prefer", "require"]);
  });
});

describe("optionsFrom", () => {
  const fields = fieldsOf(schema);
  it("parses numbers and leaves empty optional values out when creating", () => {
    expect(optionsFrom(fields, { host: "db", port: "6543", password: "", sslmode: "" }, false)).toEqual({ host: "db", port: 6543 });
  });
  it("sends only changes when editing; an empty secret keeps the stored one", () => {
    const initial = { host: "db", port: 5432, sslmode: "require" };
    expect(optionsFrom(fields, { host: "db", port: "5432", password: "", sslmode: "" }, true, initial)).toEqual({ sslmode: null });
    expect(optionsFrom(fields, { host: "db2", port: "5432", password: "s3cret", sslmode: "require" }, true, initial)).toEqual({ host: "db2", password: "s3cret" });
  });
});
