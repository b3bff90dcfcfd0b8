/** Paths to the committed corpus and tokenizer fixtures, and a scratch folder for variants. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CusprunError } from '../../../core/errors';

export const REPO = path.resolve(__dirname, '../../../..');
export const CORPORA = path.join(REPO, 'fixtures/corpora');
export const TOKENIZER_DIR = path.join(REPO, 'fixtures/tokenizer');
export const MODELS = path.join(REPO, 'fixtures/models');

export function corpora(...parts: string[]): string {
  return path.join(CORPORA, ...parts);
}

/** A fresh temporary folder; `files` maps relative names to contents. */
export function scratch(
  files: Record<string, string | Uint8Array> = {}
): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cusprun-corpus-'));
  for (const [name, content] of Object.entries(files)) {
    const file = path.join(dir, name);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, content);
  }
  return dir;
}

export function removeScratch(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
}

/** Every file under `dir` with its size and modification time: to show nothing was written. */
export function snapshot(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const name of fs.readdirSync(d).sort()) {
      const p = path.join(d, name);
      const st = fs.statSync(p);
      if (st.isDirectory()) {
        walk(p);
      } else {
        out.push(`${path.relative(dir, p)} ${st.size} ${st.mtimeMs}`);
      }
    }
  };
  walk(dir);
  return out;
}

/** Runs `fn`, expects a CusprunError, and returns it. */
export function caught(fn: () => unknown): CusprunError {
  try {
    fn();
  } catch (error) {
    if (error instanceof CusprunError) {
      return error;
    }
    throw error;
  }
  throw new Error('expected a CusprunError, but nothing was thrown');
}
