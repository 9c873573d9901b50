import { describe, expect, it } from "vitest";
import { formatRange } from "./copy";

const names = ["id", "name"];
const rows = [
  [1, "plain"],
  [2, 'with "quote", comma'],
  [3, null],
  [4, "tab\there"],
];

describe("formatRange", () => {
  it("writes TSV with a header, NULL as an empty field, quoting what needs it", () => {
    expect(formatRange("tsv", names, rows)).toBe('id\tname\n1\tplain\n2\t"with ""quote"", comma"\n3\t\n4\t"tab\there"');
  });
  it("writes RFC 4180 CSV", () => {
    expect(formatRange("csv", names, rows.slice(0, 3))).toBe('id,name\r\n1,plain\r\n2,"with ""quote"", comma"\r\n3,\r\n');
  });
  it("writes a Markdown table with NULL spelled out and pipes escaped", () => {
    const text = formatRange("markdown", ["a|b", "n"], [["x|y", null]], [false, true]);
    expect(text).toBe("| a\\|b | n |\n| --- | ---: |\n| x\\|y | NULL |");
  });
  it("writes a SQL IN list: numbers bare, strings quoted, duplicates once", () => {
    expect(formatRange("in-list", ["v"], [[1], [2], [2]], [true])).toBe("IN (1, 2)");
    expect(formatRange("in-list", ["v"], [["o'k"], [null], ["12345678901234567890"]], [false])).toBe("IN ('o''k', NULL, '12345678901234567890')");
    expect(formatRange("in-list", ["v"], [["12345678901234567890"]], [true])).toBe("IN (12345678901234567890)");
  });
});
