import { describe, expect, it } from "vitest";
import { ApiError, OfflineError } from "../api/client";
import type { AskAnswer, EndpointInfo } from "./api";
import { askProblem, capabilityText, importText, endpointBody, emptyEndpointForm, followUpOf, formOf, pageLabel, parseTags, sentLines, tabTitle } from "./logic";

const endpoint: EndpointInfo = {
  id: "e1",
  name: "local",
  kind: "chat",
  base_url: "http://127.0.0.1:11434/v1",
  model: "m",
  has_api_key: true,
  timeout_s: 60,
  max_tokens: 1024,
  rate_limit: "",
  default: false,
  capabilities: { chat: null, json_output: null, embeddings: null, dimension: null, probed_at: null, error_code: null },
  created_at: "2026-01-01T00:00:00Z",
  updated_at: "2026-01-01T00:00:00Z",
};

describe("askProblem", () => {
  const notConfigured = new ApiError(503, "LLM_NOT_CONFIGURED", "No chat endpoint is registered.", {}, "req-1");
  it("sends administrators to the endpoints page when no model is configured", () => {
    const p = askProblem(notConfigured, true);
    expect(p.title).toBe("No model is configured");
    expect(p.link).toEqual({ to: "/admin/endpoints", label: "Register a model endpoint" });
    expect(p.requestId).toBe("req-1");
  });
  it("tells others whom to ask, with no link", () => {
    const p = askProblem(notConfigured, false);
    expect(p.link).toBeUndefined();
    expect(p.message).toMatch(/Ask an administrator/);
  });
  it("keeps the model's SQL and its problems", () => {
    const error = new ApiError(422, "LLM_SQL_INVALID", "The SQL names unknown columns.", { sql: "SELECT Nme FROM Artist", problems: [{ kind: "unknown_column", message: "No column Nme", name: "Nme", suggestions: ["Name"] }, "junk"] }, "");
    const p = askProblem(error, false);
    expect(p.sql).toBe("SELECT Nme FROM Artist");
    expect(p.problems).toHaveLength(1);
    expect(p.problems?.[0]?.suggestions).toEqual(["Name"]);
  });
  it("names a timeout and an unreachable server", () => {
    expect(askProblem(new ApiError(504, "MODEL_TIMEOUT", "…", {}, ""), false).title).toBe("The model took too long");
    expect(askProblem(new OfflineError(), false).title).toBe("The question could not be answered");
    expect(askProblem(new ApiError(503, "MODEL_UNREACHABLE", "…", {}, ""), true).link?.to).toBe("/admin/endpoints");
  });
});

describe("sentLines", () => {
  it("says whether sample values went to the model", () => {
    const off = sentLines({ tables: ["main.Album"], candidate_names: 20, sample_values: false, value_matches: 0, examples: 1, glossary: 0 });
    expect(off).toContain("No sample values from the data");
    expect(off).toContain("Table definitions (DDL) of main.Album");
    expect(off).toContain("1 approved example of questions with their SQL");
    expect(off).toContain("0 glossary entries");
    const on = sentLines({ tables: [], candidate_names: 1, sample_values: true, value_matches: 2, examples: 0, glossary: 1 });
    expect(on[2]).toMatch(/switch is on/);
    expect(on).toContain("1 candidate table name to choose from");
  });
});

describe("threads and titles", () => {
  it("follows the last answer of the thread", () => {
    expect(followUpOf([])).toBeNull();
    expect(followUpOf([{ id: "a" } as AskAnswer, { id: "b" } as AskAnswer])).toBe("b");
  });
  it("cuts long questions for a tab title", () => {
    expect(tabTitle("  How many   albums? ")).toBe("How many albums?");
    expect(tabTitle("Which customers bought the most tracks in 2010?")).toHaveLength(28);
  });
  it("labels pages", () => {
    expect(pageLabel(0, 50, 120)).toBe("1–50 of 120");
    expect(pageLabel(100, 20, 120)).toBe("101–120 of 120");
    expect(pageLabel(0, 0, 0)).toBe("0 of 0");
  });
  it("splits tags", () => {
    expect(parseTags(" a, b ,,a, c ")).toEqual(["a", "b", "c"]);
  });
});

describe("endpoint forms", () => {
  it("creates with every field and the key only when typed", () => {
    const form = { ...emptyEndpointForm(), name: " local ", base_url: "http://x/v1", model: "m" };
    expect(endpointBody(form, null)).toEqual({ name: "local", kind: "chat", base_url: "http://x/v1", model: "m", timeout_s: 60, max_tokens: 1024, rate_limit: "", default: false });
    expect(endpointBody({ ...form, api_key: "sk-1" }, null).api_key).toBe("sk-1");
  });
  it("edits only what changed; an empty key field keeps the key, remove sends an empty key", () => {
    const form = formOf(endpoint);
    expect(form.api_key).toBe("");
    expect(endpointBody(form, endpoint)).toEqual({});
    expect(endpointBody({ ...form, timeout_s: "5" }, endpoint)).toEqual({ timeout_s: 5 });
    expect(endpointBody({ ...form, api_key: "sk-2" }, endpoint)).toEqual({ api_key: "sk-2" });
    expect(endpointBody({ ...form, api_key: "sk-2", remove_key: true }, endpoint)).toEqual({ api_key: "" });
  });
  it("describes capabilities", () => {
    expect(capabilityText(endpoint)).toBe("not tested");
    const probed = { ...endpoint, capabilities: { ...endpoint.capabilities, probed_at: "2026-01-01T00:00:00Z", chat: true, json_output: true } };
    expect(capabilityText(probed)).toBe("chat, JSON output");
    expect(capabilityText({ ...probed, capabilities: { ...probed.capabilities, error_code: "MODEL_UNREACHABLE" } })).toBe("test failed: MODEL_UNREACHABLE");
    expect(capabilityText({ ...probed, kind: "embeddings", capabilities: { ...probed.capabilities, chat: false, json_output: false, embeddings: true, dimension: 32 } })).toBe("embeddings (32 dimensions)");
  });
});

describe("importText", () => {
  it("counts what an import added and updated", () => {
    expect(importText({ examples_added: 1, examples_updated: 2, glossary_added: 0, glossary_updated: 1 })).toBe("Imported: 1 example added, 2 updated; 0 terms added, 1 updated.");
  });
});
