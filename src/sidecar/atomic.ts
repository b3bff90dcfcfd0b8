/** Writing a file so that a crash leaves the old one or the new one, never half of either. */
import * as fs from 'node:fs';
import * as path from 'node:path';

export function writeFileAtomic(file: string, text: string): void {
  const target = path.resolve(file);
  fs.mkdirSync(path.dirname(target), { recursive: true });
  const temp = `${target}.tmp-${process.pid}`;
  try {
    fs.writeFileSync(temp, text);
    fs.renameSync(temp, target);
  } catch (error) {
    fs.rmSync(temp, { force: true });
    throw error;
  }
}
