/**
 * What cusprun may replace: only what it wrote itself. Every folder cusprun writes outputs into
 * keeps a ledger (`.cusprun-outputs.json`) of the files it wrote there, with their size and
 * modification time when written; a file is cusprun's to replace only while the ledger says so
 * and it is unchanged. A folder cusprun made as a whole (a pruned model) says so in its ledger,
 * and is replaced only while it holds nothing but the files the ledger lists.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CusprunError } from '../../core/errors';
import { writeFileAtomic } from './staging';

export const LEDGER_FILE = '.cusprun-outputs.json';

interface LedgerEntry {
  bytes: number;
  mtimeMs: number;
}

export interface Ledger {
  format: 'cusprun-outputs';
  version: 1;
  /** True when cusprun made the folder itself, and may replace it whole. */
  folder: boolean;
  files: Record<string, LedgerEntry>;
}

function emptyLedger(folder: boolean): Ledger {
  return { format: 'cusprun-outputs', version: 1, folder, files: {} };
}

/** The folder's ledger; a missing or unreadable one owns nothing. */
export function readLedger(dir: string): Ledger | undefined {
  try {
    const ledger = JSON.parse(
      fs.readFileSync(path.join(dir, LEDGER_FILE), 'utf8')
    ) as Ledger;
    return ledger.format === 'cusprun-outputs' &&
      typeof ledger.files === 'object'
      ? ledger
      : undefined;
  } catch {
    return undefined;
  }
}

function entryOf(file: string): LedgerEntry {
  const stat = fs.statSync(file);
  return { bytes: stat.size, mtimeMs: stat.mtimeMs };
}

/** Whether `name` in `dir` is a file cusprun wrote and nobody changed since. */
export function isOwnedFile(
  dir: string,
  name: string,
  ledger = readLedger(dir)
): boolean {
  const entry = ledger?.files[name];
  if (!entry) {
    return false;
  }
  const now = entryOf(path.join(dir, name));
  return now.bytes === entry.bytes && now.mtimeMs === entry.mtimeMs;
}

/** Adds files just written in `dir` to its ledger (made if missing). */
export function recordWritten(
  dir: string,
  names: string[],
  folder = false
): void {
  const ledger = readLedger(dir) ?? emptyLedger(folder);
  for (const name of names) {
    ledger.files[name] = entryOf(path.join(dir, name));
  }
  writeFileAtomic(
    path.join(dir, LEDGER_FILE),
    `${JSON.stringify(ledger, null, 1)}\n`
  );
}

/** Files of `dir` that its ledger does not account for (added or changed since). */
export function foreignFiles(dir: string): string[] {
  const ledger = readLedger(dir);
  return fs
    .readdirSync(dir)
    .filter(name => name !== LEDGER_FILE)
    .filter(name => {
      const isFile = fs.lstatSync(path.join(dir, name)).isFile();
      return !(isFile && ledger?.folder && isOwnedFile(dir, name, ledger));
    });
}

/** Names for a message: the first few, then how many more. */
export function someNames(names: string[], shown = 3): string {
  const head = names.slice(0, shown).join(', ');
  return names.length > shown
    ? `${head} and ${names.length - shown} more`
    : head;
}

export function notOurs(subject: string, detail: string): CusprunError {
  return new CusprunError('would-overwrite', detail, subject);
}
