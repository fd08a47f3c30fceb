// editor.ts: the SQL editor of a cell (CodeMirror 6): highlighting,
// completion of keywords, weir's functions, and the workspace's tables and
// columns (GET /api/tables), Shift+Enter to run, and SQL errors underlined
// at their line and column.
import { autocompletion, closeBrackets, closeBracketsKeymap, completionKeymap, type Completion, type CompletionContext } from "@codemirror/autocomplete";
import { defaultKeymap, history, historyKeymap, indentWithTab } from "@codemirror/commands";
import { sql, PostgreSQL, type SQLNamespace } from "@codemirror/lang-sql";
import { bracketMatching, HighlightStyle, indentOnInput, syntaxHighlighting } from "@codemirror/language";
import { setDiagnostics } from "@codemirror/lint";
import { Compartment, EditorState, Prec } from "@codemirror/state";
import { drawSelection, EditorView, keymap, placeholder } from "@codemirror/view";
import { tags as t } from "@lezer/highlight";
import { api, type Table } from "./api";

const highlight = HighlightStyle.define([
  { tag: t.keyword, color: "var(--syn-keyword)", fontWeight: "600" },
  { tag: [t.string, t.special(t.string)], color: "var(--syn-string)" },
  { tag: [t.number, t.bool, t.null], color: "var(--syn-number)" },
  { tag: [t.lineComment, t.blockComment, t.comment], color: "var(--syn-comment)", fontStyle: "italic" },
  { tag: [t.operator, t.punctuation], color: "var(--syn-punct)" },
  { tag: [t.typeName, t.standard(t.name)], color: "var(--syn-type)" },
  { tag: t.special(t.name), color: "var(--syn-name)" },
]);

// Table-valued and aggregate functions of weir's dialect, offered beside
// the keywords.
const functions: Completion[] = [
  ["TUMBLE", "TUMBLE(table, time_col, INTERVAL '1' SECOND) — fixed windows"],
  ["HOP", "HOP(table, time_col, slide, size) — sliding windows"],
  ["SESSION", "SESSION(table, time_col, gap) — session windows"],
  ["read_parquet", "read_parquet('file:///…/*.parquet', event_time => 'col')"],
  ["count", "count(*)"], ["sum", "sum(x)"], ["avg", "avg(x)"], ["min", "min(x)"], ["max", "max(x)"],
  ["window_start", "window start (from TUMBLE/HOP/SESSION)"], ["window_end", "window end"],
].map(([label, detail]) => ({ label, detail, type: /^[A-Z]/.test(label) || label.includes("_") && !label.startsWith("window") ? "function" : label.startsWith("window") ? "property" : "function", boost: -1 }));

function weirFunctions(ctx: CompletionContext) {
  const word = ctx.matchBefore(/\w+/);
  if (!word || (word.from === word.to && !ctx.explicit)) return null;
  return { from: word.from, options: functions, validFor: /^\w*$/ };
}

let tables: Promise<Table[]> | null = null;
/** loadTables fetches the tables once per page (empty when the endpoint is missing). */
export function loadTables(refresh = false): Promise<Table[]> {
  if (!tables || refresh) tables = api.tables().catch(() => []);
  return tables;
}

function schemaOf(ts: Table[]): SQLNamespace {
  const ns: Record<string, readonly Completion[]> = {};
  for (const tb of ts) ns[tb.name] = tb.columns.map((c) => ({ label: c.name, type: "property", detail: c.type }));
  return ns;
}

const lang = new Compartment();
const sqlLang = (schema: SQLNamespace) => sql({ dialect: PostgreSQL, upperCaseKeywords: true, schema });

export interface EditorHooks { onRun(): void; onSave(): void; onChange(doc: string): void }

export function createEditor(parent: HTMLElement, doc: string, hooks: EditorHooks): EditorView {
  const view = new EditorView({
    parent,
    state: EditorState.create({
      doc,
      extensions: [
        history(),
        drawSelection(),
        indentOnInput(),
        bracketMatching(),
        closeBrackets(),
        EditorView.lineWrapping,
        placeholder("SELECT … — Shift+Enter runs the cell"),
        lang.of(sqlLang({})),
        PostgreSQL.language.data.of({ autocomplete: weirFunctions }),
        autocompletion({ icons: false, activateOnTypingDelay: 80 }),
        syntaxHighlighting(highlight),
        Prec.highest(keymap.of([
          { key: "Shift-Enter", run: () => (hooks.onRun(), true) },
          { key: "Mod-Enter", run: () => (hooks.onRun(), true) },
          { key: "Mod-s", run: () => (hooks.onSave(), true), preventDefault: true },
        ])),
        keymap.of([...closeBracketsKeymap, ...defaultKeymap, ...historyKeymap, ...completionKeymap, indentWithTab]),
        EditorView.updateListener.of((u) => {
          if (u.docChanged) {
            hooks.onChange(u.state.doc.toString());
            if (errored.delete(view)) queueMicrotask(() => view.dispatch(setDiagnostics(view.state, [])));
          }
        }),
      ],
    }),
  });
  loadTables().then((ts) => view.dispatch({ effects: lang.reconfigure(sqlLang(schemaOf(ts))) }));
  return view;
}

// errored holds the editors showing an error: the first edit clears it.
const errored = new WeakSet<EditorView>();

/** showError underlines the token at line:column (1-based) with message. */
export function showError(view: EditorView, message: string, line?: number, column?: number) {
  const doc = view.state.doc;
  if (!line || line < 1 || line > doc.lines) {
    view.dispatch(setDiagnostics(view.state, []));
    return;
  }
  const l = doc.line(line);
  const from = Math.min(l.from + Math.max(0, (column || 1) - 1), l.to);
  let to = from;
  const text = l.text;
  // Underline the word or quoted name that starts there (at least one char).
  const rest = text.slice(from - l.from);
  const m = rest.match(/^("[^"]*"|'[^']*'|[\w.]+|\S)/);
  to = from + (m ? m[0].length : 0);
  if (to === from && from > l.from) return showErrorRange(view, message, from - 1, from);
  if (to === from) to = Math.min(from + 1, doc.length);
  showErrorRange(view, message, from, to);
}

function showErrorRange(view: EditorView, message: string, from: number, to: number) {
  view.dispatch(setDiagnostics(view.state, [{ from, to, severity: "error", message }]));
  errored.add(view);
}

/** clearError removes the underline. */
export function clearError(view: EditorView) { view.dispatch(setDiagnostics(view.state, [])); }
