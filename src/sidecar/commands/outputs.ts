/** The result files a command writes when asked (`--json FILE`, `--csv FILE`), and its note. */
import { checkOutputFiles, writeOutputFile } from '../../engine/output';

/** Checks the files asked for before the work that fills them starts. */
export function checkRequested(values: { json?: string; csv?: string }): void {
  checkOutputFiles([values.json, values.csv].filter(f => f !== undefined));
}

/** Writes what was asked for; returns the lines that say so. */
export function writeRequested(
  values: { json?: string; csv?: string },
  json: unknown,
  csv: () => string
): string {
  const lines: string[] = [];
  if (values.json) {
    writeOutputFile(values.json, `${JSON.stringify(json, null, 1)}\n`);
    lines.push(`wrote ${values.json}\n`);
  }
  if (values.csv) {
    writeOutputFile(values.csv, csv());
    lines.push(`wrote ${values.csv}\n`);
  }
  return lines.join('');
}

export const wroteLines = (files: string[]) =>
  files.map(f => `wrote ${f}\n`).join('');
