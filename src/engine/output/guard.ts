/**
 * The two ways cusprun writes an output the user named: a file (a chart, a CSV or JSON table)
 * and a folder made as a whole (a pruned model). Both refuse, in one line naming the place and
 * why, to replace what cusprun did not write, and to replace or lie above what the job reads
 * or keeps (the input model, the run folder, the run store) or the current working folder.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { aboutFile, CusprunError, userError } from '../errors';
import {
  foreignFiles,
  isOwnedFile,
  notOurs,
  readLedger,
  recordWritten,
  someNames
} from './ownership';
import { removeStaleStaging, stagingName, writeFileAtomic } from './staging';

/** A place an output must not replace or contain: `what` says what it is, for the message. */
export interface ProtectedPlace {
  path: string;
  what: string;
}

export interface OutputGuard {
  /** Besides the current working folder, which is always protected. */
  protect?: ProtectedPlace[];
  /** Replace an earlier output of cusprun's (a folder it made whole). */
  overwrite?: boolean;
}

/** The path with symbolic links resolved as far as it exists. */
function realPath(given: string): string {
  const absolute = path.resolve(given);
  try {
    return fs.realpathSync.native(absolute);
  } catch {
    const parent = path.dirname(absolute);
    return parent === absolute
      ? absolute
      : path.join(realPath(parent), path.basename(absolute));
  }
}

function checkProtected(
  target: string,
  subject: string,
  guard: OutputGuard
): void {
  const places = [
    { path: process.cwd(), what: 'the current working folder' },
    ...(guard.protect ?? [])
  ];
  for (const place of places) {
    const protectedPath = realPath(place.path);
    const inside = path.relative(target, protectedPath);
    if (inside === '') {
      throw notOurs(
        subject,
        `is ${place.what}; choose another place for the output`
      );
    }
    if (!inside.startsWith('..') && !path.isAbsolute(inside)) {
      throw notOurs(
        subject,
        `holds ${place.what} (${inside}); choose another place for the output`
      );
    }
  }
}

/**
 * Writes a file the user named as an output. An existing file is replaced only if cusprun wrote
 * it there and it is unchanged since. Returns the absolute path written.
 */
export function writeOutputFile(
  file: string,
  data: string | Uint8Array,
  guard: OutputGuard = {}
): string {
  const target = realPath(file);
  checkProtected(target, file, guard);
  return aboutFile(file, () => {
    const dir = path.dirname(target);
    const name = path.basename(target);
    if (fs.existsSync(target)) {
      if (fs.statSync(target).isDirectory()) {
        throw new CusprunError(
          'bad-argument',
          'is a folder; name a file',
          file
        );
      }
      if (!isOwnedFile(dir, name)) {
        throw notOurs(
          file,
          readLedger(dir)?.files[name]
            ? 'was changed after cusprun wrote it; move it away or choose another name'
            : 'exists and was not written by cusprun; move it away or choose another name'
        );
      }
    }
    writeFileAtomic(target, data);
    recordWritten(dir, [name]);
    return target;
  });
}

/** Why an existing `target` may not be replaced by a folder cusprun makes whole, if it may not. */
function checkReplaceable(
  target: string,
  subject: string,
  overwrite: boolean
): void {
  if (!fs.existsSync(target)) {
    return;
  }
  if (!fs.statSync(target).isDirectory()) {
    throw new CusprunError('bad-argument', 'is a file; name a folder', subject);
  }
  if (fs.readdirSync(target).length === 0) {
    return;
  }
  const foreign = foreignFiles(target);
  if (!readLedger(target)?.folder) {
    throw notOurs(
      subject,
      `holds files cusprun did not write (${someNames(foreign)}); choose a new folder`
    );
  }
  if (foreign.length) {
    throw notOurs(
      subject,
      `holds files added or changed after cusprun wrote it (${someNames(foreign)}); move them away or choose a new folder`
    );
  }
  if (!overwrite) {
    throw notOurs(
      subject,
      'holds an earlier output of cusprun; allow overwriting (--overwrite) to replace it'
    );
  }
}

/**
 * Makes the folder `dir` whole: `build` fills a staging folder beside it (and may throw to
 * abandon it: nothing is left behind), which then takes the place of the old one, if any.
 */
export async function writeOutputFolder(
  dir: string,
  build: (staging: string) => Promise<void>,
  guard: OutputGuard = {}
): Promise<string> {
  const target = realPath(dir);
  checkProtected(target, dir, guard);
  aboutFile(dir, () => {
    checkReplaceable(target, dir, guard.overwrite ?? false);
    removeStaleStaging(target);
  });
  const staging = stagingName(target, 'staging');
  try {
    aboutFile(dir, () => fs.mkdirSync(staging, { recursive: true }));
    await build(staging);
    aboutFile(dir, () => {
      recordWritten(staging, fs.readdirSync(staging), true);
      swapInto(staging, target);
    });
  } catch (error) {
    fs.rmSync(staging, { recursive: true, force: true });
    throw userError(error, dir) ?? error;
  }
  return target;
}

/** Puts `staging` in the place of `target`; an old `target` goes only once the new one is in. */
function swapInto(staging: string, target: string): void {
  const previous = fs.existsSync(target)
    ? stagingName(target, 'previous')
    : undefined;
  if (previous) {
    fs.renameSync(target, previous);
  }
  fs.renameSync(staging, target);
  if (previous) {
    fs.rmSync(previous, { recursive: true, force: true });
  }
}

export { writeFileAtomic };
