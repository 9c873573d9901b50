/** A connection form's fields from a driver's options JSON schema: type, default, enum,
 * required, description, and which fields are secrets (``writeOnly``: never shown back,
 * left empty to keep the stored value). */

export type Field = {
  name: string;
  title: string;
  kind: "string" | "integer" | "number" | "boolean" | "enum" | "secret";
  required: boolean;
  default: unknown;
  choices: string[];
  description: string | null;
  nullable: boolean;
};

type JsonSchema = {
  type?: string;
  title?: string;
  description?: string;
  default?: unknown;
  enum?: string[];
  writeOnly?: boolean;
  format?: string;
  anyOf?: JsonSchema[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
};

export function fieldsOf(schema: unknown): Field[] {
  const root = schema as JsonSchema;
  const required = new Set(root.required ?? []);
  return Object.entries(root.properties ?? {}).map(([name, prop]) => {
    const variants = prop.anyOf ?? [prop];
    const main = variants.find((v) => v.type !== "null") ?? prop;
    const nullable = variants.some((v) => v.type === "null");
    const secret = variants.some((v) => v.writeOnly || v.format === "password");
    const choices = main.enum ?? prop.enum ?? [];
    const kind: Field["kind"] = secret ? "secret" : choices.length ? "enum" : main.type === "integer" ? "integer" : main.type === "number" ? "number" : main.type === "boolean" ? "boolean" : "string";
    return { name, title: prop.title ?? name, kind, required: required.has(name), default: prop.default ?? null, choices, description: prop.description ?? main.description ?? null, nullable };
  });
}

/** The options to send from the form's text values: numbers parsed, empty optional values
 * left out (creating) or reset to null (editing), empty secrets left out (kept). */
export function optionsFrom(fields: Field[], values: Record<string, string | boolean>, editing: boolean, initial: Record<string, unknown> = {}): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const field of fields) {
    const raw = values[field.name];
    if (field.kind === "boolean") {
      if (!editing || raw !== initial[field.name]) out[field.name] = Boolean(raw);
      continue;
    }
    const text = typeof raw === "string" ? raw.trim() : "";
    if (field.kind === "secret") {
      if (text) out[field.name] = text;
      continue;
    }
    if (text === "") {
      if (editing && initial[field.name] !== undefined && initial[field.name] !== null) out[field.name] = null;
      continue;
    }
    const value = field.kind === "integer" || field.kind === "number" ? Number(text) : text;
    if (!editing || value !== initial[field.name]) out[field.name] = value;
  }
  return out;
}
