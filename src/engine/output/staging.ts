/**
 * Temporary names for what cusprun is writing: a file or folder is assembled under a name beside
 * its target and renamed into place, so a crash leaves the old output or the new one, never half
 * of either. A name holds the writer's pid, so the next write to the same place can remove what
 * a killed writer left behind (and only that: a live writer's names are left alone).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

export type StagingKind = 'tmp' | 'staging' | 'previous';

let counter = 0;

/** A fresh temporary name beside `target` (`TARGET.cusprun-KIND-PID-N`). */
export function stagingName(target: string, kind: StagingKind): string {
  counter += 1;
  return `${target}.cusprun-${kind}-${process.pid}-${Date.now()}${counter}`;
}

/** Whether process `pid` is running (as anyone's). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Removes the temporary names of `target` whose writer is no longer running. */
export function removeStaleStaging(target: string): void {
  const dir = path.dirname(target);
  const pattern = new RegExp(
    `^${escape(path.basename(target))}\\.cusprun-(?:tmp|staging|previous)-(\\d+)-\\d+$`
  );
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return; // no folder yet: nothing was left here
  }
  for (const name of names) {
    const pid = pattern.exec(name)?.[1];
    if (pid !== undefined && !isAlive(Number(pid))) {
      fs.rmSync(path.join(dir, name), { recursive: true, force: true });
    }
  }
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * Makes `dir` and its missing parents one level at a time. Unlike `mkdirSync(…, {recursive:
 * true})`, which reports a read-only or forbidden parent as ENOENT, a failure here carries the
 * real reason (EROFS, EACCES, ENOTDIR) and the path it is about. Returns the first folder it
 * made, if any, so that a failed write can take back what it made.
 */
export function makeFolder(dir: string): string | undefined {
  const target = path.resolve(dir);
  if (fs.existsSync(target)) {
    return undefined;
  }
  const made = makeFolder(path.dirname(target)) ?? target;
  fs.mkdirSync(target);
  return made;
}

/** Writes a file through a temporary name and a rename; the temporary file never outlives it. */
export function writeFileAtomic(file: string, data: string | Uint8Array): void {
  const target = path.resolve(file);
  makeFolder(path.dirname(target));
  removeStaleStaging(target);
  const temp = stagingName(target, 'tmp');
  try {
    fs.writeFileSync(temp, data);
    fs.renameSync(temp, target);
  } catch (error) {
    fs.rmSync(temp, { force: true });
    throw error;
  }
}
