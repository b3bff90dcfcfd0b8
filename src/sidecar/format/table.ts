/** Plain-text tables for the terminal and CSV for files: one shape of rows serves both. */

/** Left-aligned columns two spaces apart; the first row is the header. */
export function formatTable(rows: string[][]): string {
  const widths = rows[0].map((_, c) =>
    Math.max(...rows.map(r => (r[c] ?? '').length))
  );
  return rows
    .map(r =>
      r
        .map((cell, c) => cell.padEnd(widths[c]))
        .join('  ')
        .trimEnd()
    )
    .join('\n');
}

/** RFC 4180: quote a field holding a comma, a quote or a line break. */
export function toCsv(rows: (string | number | boolean)[][]): string {
  const field = (value: string | number | boolean) => {
    const text = String(value);
    return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
  };
  return rows.map(r => r.map(field).join(',')).join('\n') + '\n';
}
