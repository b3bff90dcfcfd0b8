/**
 * The two ways cusprun writes an output the user named: a file (a chart, a CSV or JSON table)
 * and a folder made as a whole (a pruned model). Both refuse, in one line naming the place and
 * why, to replace what cusprun did not write, and to replace or lie above what the job reads
 * or keeps (the input model, the run folder, the run store) or the current working folder.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CusprunError } from '../../core/errors';
import { aboutFile, userError } from '../fs-errors';
import {
  foreignFiles,
  isOwnedFile,
  notOurs,
  readLedger,
  recordWritten,
  someNames
} from './ownership';
import {
  makeFolder,
  removeStaleStaging,
  stagingName,
  writeFileAtomic
} from './staging';

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
  ].map(p => ({ ...p, inside: path.relative(target, realPath(p.path)) }));
  const same = places.find(p => p.inside === '');
  if (same) {
    throw notOurs(
      subject,
      `is ${same.what}; choose another place for the output`
    );
  }
  const held = places.find(
    p => !p.inside.startsWith('..') && !path.isAbsolute(p.inside)
  );
  if (held) {
    throw notOurs(
      subject,
      `holds ${held.what} (${held.inside}); choose another place for the output`
    );
  }
}

/** Why an existing file may not be replaced by an output, if it may not. */
function checkOutputFile(target: string, subject: string): void {
  if (!fs.existsSync(target)) {
    return;
  }
  if (fs.statSync(target).isDirectory()) {
    throw new CusprunError('bad-argument', 'is a folder; name a file', subject);
  }
  const dir = path.dirname(target);
  if (!isOwnedFile(dir, path.basename(target))) {
    throw notOurs(
      subject,
      readLedger(dir)?.files[path.basename(target)]
        ? 'was changed after cusprun wrote it; move it away or choose another name'
        : 'exists and was not written by cusprun; move it away or choose another name'
    );
  }
}

/** Checks, before any work, that outputs could be written to `files` (see writeOutputFiles). */
export function checkOutputFiles(
  files: string[],
  guard: OutputGuard = {}
): void {
  for (const file of files) {
    const target = realPath(file);
    checkProtected(target, file, guard);
    aboutFile(file, () => checkOutputFile(target, file));
  }
}

export interface OutputFile {
  file: string;
  data: string | Uint8Array;
}

/**
 * Writes files the user named as outputs, all or none: every target is checked first (an
 * existing file is replaced only if cusprun wrote it and it is unchanged since), and a failure
 * midway takes back the files and folders this call made. Returns the absolute paths written.
 */
export function writeOutputFiles(
  files: OutputFile[],
  guard: OutputGuard = {}
): string[] {
  checkOutputFiles(
    files.map(f => f.file),
    guard
  );
  const targets = files.map(f => ({ ...f, target: realPath(f.file) }));
  const made: string[] = [];
  try {
    for (const t of targets) {
      aboutFile(t.file, () => {
        const dir = path.dirname(t.target);
        const folder = makeFolder(dir);
        if (folder) {
          made.push(folder);
        }
        if (!fs.existsSync(t.target)) {
          made.push(t.target);
        }
        writeFileAtomic(t.target, t.data);
        recordWritten(dir, [path.basename(t.target)]);
      });
    }
  } catch (error) {
    made.reverse().forEach(p => fs.rmSync(p, { recursive: true, force: true }));
    throw error;
  }
  return targets.map(t => t.target);
}

export function writeOutputFile(
  file: string,
  data: string | Uint8Array,
  guard: OutputGuard = {}
): string {
  return writeOutputFiles([{ file, data }], guard)[0];
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
 * Checks that `dir` may be made whole by writeOutputFolder, and returns its real path: a job
 * calls it before long work, so that a refusal comes first (writeOutputFolder checks again).
 */
export function checkOutputFolder(
  dir: string,
  guard: OutputGuard = {}
): string {
  const target = realPath(dir);
  checkProtected(target, dir, guard);
  aboutFile(dir, () => {
    checkReplaceable(target, dir, guard.overwrite ?? false);
    checkWritable(target);
  });
  return target;
}

/**
 * Throws the file system's own error (a file on the path, a read-only folder or disk) where
 * making `target` and its staging folder beside it would fail; a full disk shows only then.
 */
function checkWritable(target: string): void {
  try {
    fs.statSync(target);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw error;
    }
  }
  let parent = path.dirname(target);
  while (!fs.existsSync(parent)) {
    parent = path.dirname(parent);
  }
  try {
    fs.accessSync(parent, fs.constants.W_OK);
  } catch (error) {
    // About the output, as the same error is when its staging folder is made.
    (error as NodeJS.ErrnoException).path = target;
    throw error;
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
  const target = checkOutputFolder(dir, guard);
  aboutFile(dir, () => removeStaleStaging(target));
  const staging = stagingName(target, 'staging');
  let made: string | undefined;
  try {
    aboutFile(dir, () => {
      made = makeFolder(path.dirname(target));
      fs.mkdirSync(staging);
    });
    await build(staging);
    aboutFile(dir, () => {
      recordWritten(staging, fs.readdirSync(staging), true);
      swapInto(staging, target);
    });
  } catch (error) {
    fs.rmSync(staging, { recursive: true, force: true });
    if (made) {
      fs.rmSync(made, { recursive: true, force: true });
    }
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
