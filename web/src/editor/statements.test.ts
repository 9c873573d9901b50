import { describe, expect, it } from "vitest";
import { offsetOf, splitStatements, statementAt } from "./statements";

describe("splitStatements", () => {
  it("splits on semicolons outside quotes, comments and dollar bodies", () => {
    const text = "select 'a;b' as x; -- c;d\nselect \"q;\" from t /* ; */;\nselect $f$;$f$";
    expect(splitStatements(text).map((s) => s.text)).toEqual([
      "select 'a;b' as x",
      "-- c;d\nselect \"q;\" from t /* ; */",
      "select $f$;$f$",
    ]);
  });

  it("keeps offsets that point into the text", () => {
    const text = "  select 1;\n\nselect 2  ";
    for (const s of splitStatements(text)) expect(text.slice(s.from, s.to)).toBe(s.text);
  });

  it("drops empty and comment-only pieces", () => {
    expect(splitStatements(";;  -- nothing\n;select 1;")).toHaveLength(1);
  });

  it("reads doubled quotes inside strings", () => {
    expect(splitStatements("select 'it''s; fine'; select 2")).toHaveLength(2);
  });
});

describe("statementAt", () => {
  const text = "select 1;\nselect 2;\n\n\nselect 3";
  it("finds the statement containing the cursor", () => {
    expect(statementAt(text, text.indexOf("2"))?.text).toBe("select 2");
  });
  it("takes the statement just before when the cursor follows its semicolon", () => {
    expect(statementAt(text, text.indexOf("2;") + 2)?.text).toBe("select 2");
  });
  it("takes the next statement after a blank line", () => {
    expect(statementAt(text, text.indexOf("3") - 2)?.text).toBe("select 3");
  });
  it("answers null for an empty text", () => {
    expect(statementAt("  ", 1)).toBeNull();
  });
});

describe("offsetOf", () => {
  it("maps line and column to an offset", () => {
    const text = "ab\ncde\nf";
    expect(offsetOf(text, 2, 2)).toBe(4);
    expect(text[offsetOf(text, 3, 1)]).toBe("f");
    expect(offsetOf(text, 9, 1)).toBe(text.length);
  });
});
