/**
 * Documents out of corpus files: `.txt` (one per line, or one per blank-line-separated block)
 * and `.jsonl` (one JSON object per line, the text in one field). Files are strict UTF-8;
 * every document's text is whitespace-trimmed and empty ones are skipped.
 */
import * as path from 'node:path';
import { CusprunError } from '../../core/errors';
import { TextFormat } from './manifest';
import { readUtf8File } from './utf8';

export interface TextDocument {
  text: string;
  /** 1-based line where the document starts in its file. */
  line: number;
}

function splitLines(text: string): string[] {
  return text.split(/\r\n|\n|\r/);
}

/** One document per non-empty line. */
export function linesOf(text: string): TextDocument[] {
  const docs: TextDocument[] = [];
  splitLines(text).forEach((raw, i) => {
    const t = raw.trim();
    if (t !== '') {
      docs.push({ text: t, line: i + 1 });
    }
  });
  return docs;
}

/**
 * One document per block of lines separated by blank (whitespace-only) lines; a block's lines
 * are joined with '\n' and the block trimmed.
 */
export function blocksOf(text: string): TextDocument[] {
  const docs: TextDocument[] = [];
  let start = -1;
  let lines: string[] = [];
  const flush = () => {
    const t = lines.join('\n').trim();
    if (t !== '') {
      docs.push({ text: t, line: start + 1 });
    }
    lines = [];
    start = -1;
  };
  splitLines(text).forEach((raw, i) => {
    if (raw.trim() === '') {
      flush();
    } else {
      if (start < 0) start = i;
      lines.push(raw);
    }
  });
  flush();
  return docs;
}

/** One document per non-blank line of JSON Lines, its text in `textField`. */
export function jsonlOf(
  text: string,
  textField: string,
  file: string,
  fieldHint = "set the manifest's textField to the field that holds the text"
): TextDocument[] {
  const docs: TextDocument[] = [];
  splitLines(text).forEach((raw, i) => {
    const line = i + 1;
    if (raw.trim() === '') {
      return;
    }
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch (error) {
      throw new CusprunError(
        'bad-argument',
        `line ${line}: not valid JSON (${error instanceof Error ? error.message : String(error)})`,
        file
      );
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw new CusprunError(
        'bad-argument',
        `line ${line}: not a JSON object (each line must be an object with a "${textField}" field)`,
        file
      );
    }
    const record = value as Record<string, unknown>;
    if (!Object.prototype.hasOwnProperty.call(record, textField)) {
      const keys = Object.keys(record);
      throw new CusprunError(
        'bad-argument',
        `line ${line}: no "${textField}" field (it has ${keys.length === 0 ? 'none' : keys.map(k => `"${k}"`).join(', ')}); ${fieldHint}`,
        file
      );
    }
    const field = record[textField];
    if (typeof field !== 'string') {
      throw new CusprunError(
        'bad-argument',
        `line ${line}: field "${textField}" is ${field === null ? 'null' : Array.isArray(field) ? 'a list' : `a ${typeof field}`}, not a string`,
        file
      );
    }
    const t = field.trim();
    if (t !== '') {
      docs.push({ text: t, line });
    }
  });
  return docs;
}

/**
 * Reads one corpus file. `format` is required for .txt; `textField` is used for .jsonl.
 * Errors name the file (and the line, for JSONL).
 */
export function readDocuments(
  file: string,
  format: TextFormat | undefined,
  textField: string
): TextDocument[] {
  const text = readUtf8File(file);
  const ext = path.extname(file).toLowerCase();
  if (ext === '.jsonl') {
    return jsonlOf(text, textField, file);
  }
  if (ext === '.txt') {
    if (format === undefined) {
      throw new CusprunError(
        'bad-argument',
        'a .txt corpus needs a format: "lines" or "blocks"',
        file
      );
    }
    return format === 'lines' ? linesOf(text) : blocksOf(text);
  }
  throw new CusprunError(
    'bad-argument',
    `not a corpus file: expected .txt or .jsonl (got '${ext || 'no extension'}')`,
    file
  );
}
