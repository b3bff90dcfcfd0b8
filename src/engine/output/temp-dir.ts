/**
 * cusprun's working folders in the system's temporary folder (a scoring graph, a verification
 * reference; the former may hold a copy of a model's weights). A folder's name holds its
 * process's pid: the process removes its folders when it exits, and one that was killed first
 * (SIGKILL, a crash) leaves folders the next cusprun process recognises as its own and removes.
 * Folders of live processes, and anything not named so, are left alone.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { isAlive } from './staging';

const live = new Set<string>();

function removeLive(): void {
  for (const dir of live) {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  live.clear();
}

/** Makes `PARENT/PREFIXPID-XXXXXX`, removed by removeTempDir or when this process exits. */
export function makeTempDir(prefix: string, parent = os.tmpdir()): string {
  fs.mkdirSync(parent, { recursive: true });
  removeStaleTempDirs(prefix, parent);
  const dir = fs.mkdtempSync(path.join(parent, `${prefix}${process.pid}-`));
  if (live.size === 0) {
    process.once('exit', removeLive);
  }
  live.add(dir);
  return dir;
}

export function removeTempDir(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
  live.delete(dir);
  if (live.size === 0) {
    process.off('exit', removeLive);
  }
}

/** Removes `PARENT/PREFIXPID-XXXXXX` folders whose process is gone. */
export function removeStaleTempDirs(prefix: string, parent: string): void {
  let names: string[];
  try {
    names = fs.readdirSync(parent);
  } catch {
    return;
  }
  for (const name of names) {
    const pid = name.startsWith(prefix)
      ? /^(\d+)-[A-Za-z0-9]{6}$/.exec(name.slice(prefix.length))?.[1]
      : undefined;
    if (pid !== undefined && !isAlive(Number(pid))) {
      try {
        fs.rmSync(path.join(parent, name), { recursive: true, force: true });
      } catch {
        // Another user's folder, or one going away: not ours to report.
      }
    }
  }
}
