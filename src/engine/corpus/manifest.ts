/**
 * The corpus manifest (JSON or YAML, by extension): each dimension's sources, the truncation
 * length, the sampling seed and the number of documents. Every field is validated; an error
 * names the manifest file and the field. See README.md beside this file for the format.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as YAML from 'yaml';
import { CusprunError } from '../../core/errors';
import { readUtf8File } from './utf8';

/** The three dimensions of a Cus-Prun expert, in the order documents are always listed. */
export const DIMENSIONS = ['language', 'domain', 'task'] as const;
export type Dimension = (typeof DIMENSIONS)[number];

export const TEXT_FORMATS = ['lines', 'blocks'] as const;
/** How a .txt file splits into documents: one per line, or one per blank-line-separated block. */
export type TextFormat = (typeof TEXT_FORMATS)[number];

/** File extensions a source (or a folder's files) may have. */
export const SOURCE_EXTENSIONS = ['.txt', '.jsonl'] as const;

export const DEFAULT_TRUNCATION = 256;
export const MIN_TRUNCATION = 8;
export const DEFAULT_SEED = 0;
export const DEFAULT_DOCUMENTS = 64;
export const DEFAULT_TEXT_FIELD = 'text';

const TOP_KEYS = ['dimensions', 'truncation', 'seed', 'documents'];
const DIMENSION_KEYS = ['name', 'sources', 'format', 'textField'];

export interface SourceFile {
  /** Absolute path. */
  file: string;
  /** Path relative to the manifest's folder, '/'-separated: what run records show. */
  relative: string;
  /** The `sources` entry it came from (a folder expands to several files). */
  field: string;
}

export interface DimensionSpec {
  dimension: Dimension;
  /** The corpus's own name (e.g. "de", "legal", "qa"); the dimension key when not given. */
  name: string;
  /** The files, in order: sources as listed, each folder expanded to its files sorted by name. */
  files: SourceFile[];
  /** Required when a .txt file is among the sources; undefined otherwise. */
  format: TextFormat | undefined;
  /** The JSONL field that holds the text. */
  textField: string;
}

export interface CorpusManifest {
  /** The manifest file (absolute), or the name given to parseManifest: errors name it. */
  file: string;
  /** The folder relative source paths are resolved against (absolute). */
  dir: string;
  /** The dimensions present, in DIMENSIONS order. */
  dimensions: DimensionSpec[];
  truncation: number;
  seed: number;
  /** Documents per dimension; a dimension with more is sampled down to this many. */
  documents: number;
}

function fail(subject: string, field: string, message: string): never {
  throw new CusprunError('bad-argument', `${field}: ${message}`, subject);
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'string') return `the string ${JSON.stringify(value)}`;
  return `${typeof value} ${String(value)}`;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function checkKeys(
  subject: string,
  field: string,
  value: Record<string, unknown>,
  known: string[]
): void {
  for (const key of Object.keys(value)) {
    if (!known.includes(key)) {
      fail(
        subject,
        field === '' ? key : `${field}.${key}`,
        `unknown field; known fields: ${known.join(', ')}`
      );
    }
  }
}

function wholeNumber(
  subject: string,
  field: string,
  value: unknown,
  fallback: number,
  min: number,
  max: number
): number {
  if (value === undefined) {
    return fallback;
  }
  if (
    typeof value !== 'number' ||
    !Number.isInteger(value) ||
    value < min ||
    value > max
  ) {
    const range =
      max === Number.MAX_SAFE_INTEGER ? `≥ ${min}` : `from ${min} to ${max}`;
    fail(
      subject,
      field,
      `must be a whole number ${range} (got ${describe(value)})`
    );
  }
  return value;
}

function hasSourceExtension(file: string): boolean {
  return (SOURCE_EXTENSIONS as readonly string[]).includes(
    path.extname(file).toLowerCase()
  );
}

function toPosix(p: string): string {
  return p.split(path.sep).join('/');
}

function expandSources(
  subject: string,
  dir: string,
  dimension: Dimension,
  value: unknown
): SourceFile[] {
  const field = `dimensions.${dimension}.sources`;
  if (value === undefined) {
    fail(subject, field, 'missing: list the files or folders of this corpus');
  }
  if (!Array.isArray(value) || value.length === 0) {
    fail(
      subject,
      field,
      `must be a non-empty list of files or folders (got ${describe(value)})`
    );
  }
  const files: SourceFile[] = [];
  const seen = new Map<string, string>();
  const add = (file: string, entryField: string) => {
    const earlier = seen.get(file);
    if (earlier !== undefined) {
      fail(
        subject,
        entryField,
        `'${toPosix(path.relative(dir, file))}' is already a source (${earlier})`
      );
    }
    seen.set(file, entryField);
    files.push({
      file,
      relative: toPosix(path.relative(dir, file)),
      field: entryField
    });
  };
  value.forEach((entry: unknown, i: number) => {
    const entryField = `${field}[${i}]`;
    if (typeof entry !== 'string' || entry.trim() === '') {
      fail(
        subject,
        entryField,
        `must be a path to a file or folder (got ${describe(entry)})`
      );
    }
    const resolved = path.resolve(dir, entry);
    if (!fs.existsSync(resolved)) {
      throw new CusprunError(
        'not-found',
        `${entryField}: no such file or folder '${entry}'`,
        subject
      );
    }
    if (fs.statSync(resolved).isDirectory()) {
      const names = fs
        .readdirSync(resolved)
        .filter(
          name =>
            hasSourceExtension(name) &&
            fs.statSync(path.join(resolved, name)).isFile()
        )
        .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
      if (names.length === 0) {
        fail(
          subject,
          entryField,
          `folder '${entry}' has no ${SOURCE_EXTENSIONS.join(' or ')} files`
        );
      }
      for (const name of names) {
        add(path.join(resolved, name), entryField);
      }
    } else {
      if (!hasSourceExtension(resolved)) {
        fail(
          subject,
          entryField,
          `'${entry}' is neither ${SOURCE_EXTENSIONS.join(' nor ')}`
        );
      }
      add(resolved, entryField);
    }
  });
  return files;
}

function parseDimension(
  subject: string,
  dir: string,
  dimension: Dimension,
  value: unknown
): DimensionSpec {
  const field = `dimensions.${dimension}`;
  if (!isObject(value)) {
    fail(
      subject,
      field,
      `must be an object with "sources" (got ${describe(value)})`
    );
  }
  checkKeys(subject, field, value, DIMENSION_KEYS);
  let name: string = dimension;
  if (value.name !== undefined) {
    if (typeof value.name !== 'string' || value.name.trim() === '') {
      fail(
        subject,
        `${field}.name`,
        `must be a non-empty string (got ${describe(value.name)})`
      );
    }
    name = value.name.trim();
  }
  let format: TextFormat | undefined;
  if (value.format !== undefined) {
    if (!(TEXT_FORMATS as readonly unknown[]).includes(value.format)) {
      fail(
        subject,
        `${field}.format`,
        `must be "lines" (one document per line) or "blocks" (one per blank-line-separated block), got ${describe(value.format)}`
      );
    }
    format = value.format as TextFormat;
  }
  let textField = DEFAULT_TEXT_FIELD;
  if (value.textField !== undefined) {
    if (typeof value.textField !== 'string' || value.textField === '') {
      fail(
        subject,
        `${field}.textField`,
        `must be a non-empty string (got ${describe(value.textField)})`
      );
    }
    textField = value.textField;
  }
  const files = expandSources(subject, dir, dimension, value.sources);
  if (
    format === undefined &&
    files.some(f => path.extname(f.file).toLowerCase() === '.txt')
  ) {
    fail(
      subject,
      `${field}.format`,
      'missing: .txt sources need "lines" (one document per line) or "blocks" (one per blank-line-separated block)'
    );
  }
  return { dimension, name, files, format, textField };
}

/**
 * Validates a parsed manifest value. `subject` names it in errors (the manifest file); `dir`
 * is the folder relative source paths are resolved against.
 */
export function parseManifest(
  value: unknown,
  subject: string,
  dir: string
): CorpusManifest {
  if (!isObject(value)) {
    throw new CusprunError(
      'bad-argument',
      `must be an object with "dimensions" (got ${describe(value)})`,
      subject
    );
  }
  checkKeys(subject, '', value, TOP_KEYS);
  const dims = value.dimensions;
  if (dims === undefined) {
    fail(
      subject,
      'dimensions',
      `missing: name the sources of at least one of ${DIMENSIONS.join(', ')}`
    );
  }
  if (!isObject(dims)) {
    fail(
      subject,
      'dimensions',
      `must be an object with keys among ${DIMENSIONS.join(', ')} (got ${describe(dims)})`
    );
  }
  for (const key of Object.keys(dims)) {
    if (!(DIMENSIONS as readonly string[]).includes(key)) {
      fail(
        subject,
        `dimensions.${key}`,
        `unknown dimension; known dimensions: ${DIMENSIONS.join(', ')}`
      );
    }
  }
  const present = DIMENSIONS.filter(d => dims[d] !== undefined);
  if (present.length === 0) {
    fail(
      subject,
      'dimensions',
      `empty: name the sources of at least one of ${DIMENSIONS.join(', ')}`
    );
  }
  const truncation = wholeNumber(
    subject,
    'truncation',
    value.truncation,
    DEFAULT_TRUNCATION,
    MIN_TRUNCATION,
    Number.MAX_SAFE_INTEGER
  );
  const seed = wholeNumber(
    subject,
    'seed',
    value.seed,
    DEFAULT_SEED,
    0,
    0xffffffff
  );
  const documents = wholeNumber(
    subject,
    'documents',
    value.documents,
    DEFAULT_DOCUMENTS,
    1,
    Number.MAX_SAFE_INTEGER
  );
  const dimensions = present.map(d => parseDimension(subject, dir, d, dims[d]));
  return {
    file: subject,
    dir,
    dimensions,
    truncation,
    seed,
    documents
  };
}

/** Reads and validates a manifest file: `.json`, or `.yaml`/`.yml`. */
export function readManifest(file: string): CorpusManifest {
  const resolved = path.resolve(file);
  if (!fs.existsSync(resolved)) {
    throw new CusprunError('not-found', 'no such corpus manifest', resolved);
  }
  if (fs.statSync(resolved).isDirectory()) {
    throw new CusprunError(
      'bad-argument',
      'a folder, not a corpus manifest (.json, .yaml or .yml)',
      resolved
    );
  }
  const ext = path.extname(resolved).toLowerCase();
  if (ext !== '.json' && ext !== '.yaml' && ext !== '.yml') {
    throw new CusprunError(
      'bad-argument',
      `a corpus manifest must be .json, .yaml or .yml (got '${ext || 'no extension'}')`,
      resolved
    );
  }
  const text = readUtf8File(resolved);
  let value: unknown;
  try {
    value = ext === '.json' ? JSON.parse(text) : YAML.parse(text);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new CusprunError(
      'bad-argument',
      `not valid ${ext === '.json' ? 'JSON' : 'YAML'} (${message.split('\n')[0]})`,
      resolved
    );
  }
  return parseManifest(value, resolved, path.dirname(resolved));
}
