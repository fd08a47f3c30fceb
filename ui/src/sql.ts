// sql.ts: what the UI needs to know about SQL text without parsing it.

/** countStatements counts the ';'-separated statements of a script,
 * skipping semicolons in strings, quoted names and comments. */
export function countStatements(sql: string): number {
  let n = 0, content = false;
  for (let i = 0; i < sql.length; i++) {
    const c = sql[i];
    if (c === "'" || c === '"') {
      const end = sql.indexOf(c, i + 1);
      i = end < 0 ? sql.length : end;
      content = true;
    } else if (c === "-" && sql[i + 1] === "-") {
      const end = sql.indexOf("\n", i);
      i = end < 0 ? sql.length : end;
    } else if (c === "/" && sql[i + 1] === "*") {
      const end = sql.indexOf("*/", i + 2);
      i = end < 0 ? sql.length : end + 1;
    } else if (c === ";") {
      if (content) n++;
      content = false;
    } else if (!/\s/.test(c)) content = true;
  }
  return Math.max(1, n + (content ? 1 : 0));
}
