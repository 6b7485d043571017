/** RFC 4180 CSV: a reader tolerant of what spreadsheets write, and a writer that quotes every field. */

/** Parses CSV text into rows of fields (quoted fields, doubled quotes, CRLF, a BOM). */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  for (; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i++;
        } else quoted = false;
      } else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      row.push(field);
      field = '';
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      row.push(field);
      field = '';
      if (row.some((f) => f.trim() !== '')) rows.push(row);
      row = [];
    } else field += c;
  }
  row.push(field);
  if (row.some((f) => f.trim() !== '')) rows.push(row);
  return rows;
}

/** Text a spreadsheet would run as a formula (= + - @ tab CR first) gets a leading apostrophe. */
export function defuseFormula(s: string): string {
  return /^[=+\-@\t\r]/.test(s) ? `'${s}` : s;
}

/**
 * One quoted field. Text starting with = + - @ (or a tab/CR) is prefixed with ' so a spreadsheet
 * shows a file name like `=HYPERLINK(…).png` instead of running it.
 */
export function csvField(value: unknown, { text = true } = {}): string {
  let s = value === undefined || value === null ? '' : String(value);
  if (text) s = defuseFormula(s);
  return `"${s.replace(/"/g, '""')}"`;
}

export function csvLine(values: unknown[]): string {
  return values.map((v) => csvField(v, { text: typeof v === 'string' })).join(',') + '\r\n';
}
