/** The SQL editor: CodeMirror 6 with the connection's dialect, catalog autocomplete,
 * Ctrl/Cmd-Enter to run the statement under the cursor (or the selection), Shift as well to
 * run every statement, and error marks at the line and column the server reported. */
import { autocompletion, closeBrackets, closeBracketsKeymap, completionKeymap } from "@codemirror/autocomplete";
import { defaultKeymap, history, historyKeymap, indentWithTab } from "@codemirror/commands";
import { keywordCompletionSource, MySQL, PostgreSQL, SQLite, StandardSQL, sql, type SQLDialect } from "@codemirror/lang-sql";
import { bracketMatching, indentOnInput, syntaxHighlighting } from "@codemirror/language";
import { lintGutter, setDiagnostics, type Diagnostic } from "@codemirror/lint";
import { highlightSelectionMatches, searchKeymap } from "@codemirror/search";
import { Compartment, EditorState } from "@codemirror/state";
import { drawSelection, EditorView, highlightActiveLine, highlightActiveLineGutter, keymap, lineNumbers, placeholder } from "@codemirror/view";
import { forwardRef, useEffect, useImperativeHandle, useRef } from "react";
import { catalogCompletion } from "./complete";
import { highlightStyle } from "./highlight";
import { splitStatements, statementAt, type Statement } from "./statements";

export type RunMode = "cursor" | "all";

export type EditorHandle = {
  /** What to run: the selection, else the statement under the cursor (or every one). */
  target: (mode: RunMode) => Statement[];
  mark: (diagnostic: { from: number; to: number; message: string } | null) => void;
  replace: (from: number, to: number, text: string) => void;
  insert: (text: string) => void;
  focus: () => void;
  text: () => string;
};

type Props = {
  value: string;
  dialect: string | null;
  connection: string | null;
  onChange: (value: string) => void;
  onRun: (mode: RunMode) => void;
  onFormat: () => void;
};

export function dialectOf(name: string | null): SQLDialect {
  switch (name) {
    case "postgres":
    case "duckdb":
      return PostgreSQL;
    case "mysql":
      return MySQL;
    case "sqlite":
      return SQLite;
    default:
      return StandardSQL;
  }
}

export const SqlEditor = forwardRef<EditorHandle, Props>(function SqlEditor(props, ref) {
  const host = useRef<HTMLDivElement>(null);
  const view = useRef<EditorView | null>(null);
  const language = useRef(new Compartment());
  const latest = useRef(props);
  latest.current = props;

  useEffect(() => {
    const dialect = dialectOf(props.dialect);
    const state = EditorState.create({
      doc: props.value,
      extensions: [
        lineNumbers(),
        highlightActiveLineGutter(),
        history(),
        drawSelection(),
        indentOnInput(),
        bracketMatching(),
        closeBrackets(),
        highlightActiveLine(),
        highlightSelectionMatches(),
        syntaxHighlighting(highlightStyle),
        lintGutter(),
        placeholder("SELECT … (Ctrl+Enter runs the statement under the cursor)"),
        language.current.of(sql({ dialect, upperCaseKeywords: true })),
        autocompletion({
          override: [catalogCompletion(() => latest.current.connection), keywordCompletionSource(dialect, true)],
          activateOnTyping: true,
        }),
        keymap.of([
          { key: "Mod-Enter", run: () => (latest.current.onRun("cursor"), true) },
          { key: "Shift-Mod-Enter", run: () => (latest.current.onRun("all"), true) },
          { key: "Shift-Alt-f", run: () => (latest.current.onFormat(), true) },
          ...closeBracketsKeymap,
          ...completionKeymap,
          ...searchKeymap,
          ...historyKeymap,
          ...defaultKeymap,
          indentWithTab,
        ]),
        EditorView.updateListener.of((update) => {
          if (update.docChanged) latest.current.onChange(update.state.doc.toString());
        }),
        EditorView.contentAttributes.of({ "aria-label": "SQL editor" }),
      ],
    });
    const editor = new EditorView({ state, parent: host.current as HTMLDivElement });
    view.current = editor;
    return () => {
      editor.destroy();
      view.current = null;
    };
    // The editor is created once; value changes from outside go through the effect below.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);

  useEffect(() => {
    const editor = view.current;
    if (!editor) return;
    const dialect = dialectOf(props.dialect);
    editor.dispatch({ effects: language.current.reconfigure(sql({ dialect, upperCaseKeywords: true })) });
  }, [props.dialect]);

  useEffect(() => {
    const editor = view.current;
    if (editor && editor.state.doc.toString() !== props.value) {
      editor.dispatch({ changes: { from: 0, to: editor.state.doc.length, insert: props.value } });
    }
  }, [props.value]);

  useImperativeHandle(ref, () => ({
    target(mode) {
      const editor = view.current;
      if (!editor) return [];
      const text = editor.state.doc.toString();
      const selection = editor.state.selection.main;
      if (mode === "all") return splitStatements(text);
      if (!selection.empty) {
        const chosen = text.slice(selection.from, selection.to);
        return splitStatements(chosen).map((s) => ({ ...s, from: s.from + selection.from, to: s.to + selection.from }));
      }
      const statement = statementAt(text, selection.head);
      return statement ? [statement] : [];
    },
    mark(diagnostic) {
      const editor = view.current;
      if (!editor) return;
      const diagnostics: Diagnostic[] = diagnostic
        ? [{ from: diagnostic.from, to: Math.max(diagnostic.to, diagnostic.from), severity: "error", message: diagnostic.message }]
        : [];
      editor.dispatch(setDiagnostics(editor.state, diagnostics));
      if (diagnostic) editor.dispatch({ selection: { anchor: diagnostic.from }, scrollIntoView: true });
    },
    replace(from, to, text) {
      view.current?.dispatch({ changes: { from, to, insert: text } });
    },
    insert(text) {
      const editor = view.current;
      if (!editor) return;
      editor.dispatch(editor.state.replaceSelection(text));
      editor.focus();
    },
    focus() {
      view.current?.focus();
    },
    text() {
      return view.current?.state.doc.toString() ?? "";
    },
  }));

  return <div className="sql-editor" ref={host} />;
});
