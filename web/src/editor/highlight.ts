/** Syntax colours by CSS variables, so that the light and dark themes each set colours
 * with enough contrast (CodeMirror's default style is for light backgrounds only). */
import { HighlightStyle } from "@codemirror/language";
import { tags } from "@lezer/highlight";

export const highlightStyle = HighlightStyle.define([
  { tag: [tags.keyword, tags.operatorKeyword, tags.modifier], color: "var(--hl-keyword)", fontWeight: "600" },
  { tag: [tags.string, tags.special(tags.string)], color: "var(--hl-string)" },
  { tag: [tags.number, tags.bool, tags.null], color: "var(--hl-number)" },
  { tag: [tags.comment, tags.lineComment, tags.blockComment], color: "var(--hl-comment)", fontStyle: "italic" },
  { tag: [tags.typeName, tags.standard(tags.name)], color: "var(--hl-type)" },
  { tag: [tags.function(tags.variableName), tags.special(tags.variableName)], color: "var(--hl-function)" },
  { tag: [tags.operator, tags.punctuation, tags.bracket], color: "var(--fg)" },
  { tag: tags.invalid, color: "var(--danger)" },
]);
