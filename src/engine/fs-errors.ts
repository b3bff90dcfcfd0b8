/**
 * File system errors a user can cause (a missing input, a read-only folder, a full disk), as
 * one-line CusprunErrors that say what to do; any other error stays a bug.
 */
import * as path from 'node:path';
import { CusprunError, CusprunErrorCode, isCusprunError } from '../core/errors';

/** What each file system error a user can cause means to them, and what to do. */
const FILE_ERRORS: Record<string, [CusprunErrorCode, string]> = {
  ENOENT: ['not-found', 'no such file or folder; check the path'],
  ENOTDIR: [
    'bad-argument',
    'a part of this path is a file, not a folder; name a folder'
  ],
  EISDIR: ['bad-argument', 'is a folder, not a file; name a file'],
  EEXIST: ['would-overwrite', 'already exists; choose another name'],
  ENAMETOOLONG: ['bad-argument', 'the name is too long; choose a shorter one'],
  ELOOP: ['bad-argument', 'too many symbolic links; name the real path'],
  EACCES: [
    'not-writable',
    'permission denied; choose a place you may use, or change its permissions'
  ],
  EPERM: [
    'not-writable',
    'operation not permitted; choose a place you may use, or change its permissions'
  ],
  EROFS: [
    'not-writable',
    'read-only file system; write to a folder on a writable disk'
  ],
  ENOSPC: [
    'no-space',
    'no space left on the device; free some space or write to another disk'
  ],
  EDQUOT: [
    'no-space',
    'disk quota exceeded; free some space or write to another disk'
  ],
  EFBIG: ['no-space', 'file too large for this file system; write elsewhere']
};

/** A Node file system error: `code` like 'ENOENT' and usually the path it is about. */
interface ErrnoError extends Error {
  code: string;
  path?: string;
  dest?: string;
}

function isErrnoError(error: unknown): error is ErrnoError {
  return (
    error instanceof Error &&
    typeof (error as Partial<ErrnoError>).code === 'string' &&
    (error as ErrnoError).code in FILE_ERRORS
  );
}

/** Temporary names cusprun writes under (see output/staging.ts) stand for their target. */
const STAGING_SUFFIX = /\.cusprun-(?:tmp|staging|previous)-\d+-\d+(?=$|[\\/])/;

/**
 * The user's mistake behind an error, as a CusprunError: the error itself if it is one, a file
 * system error a user can cause (missing, read-only, full disk, …) about the path it names
 * (temporary names read as their target) or else `subject`, or undefined for a bug.
 */
export function userError(
  error: unknown,
  subject?: string
): CusprunError | undefined {
  if (isCusprunError(error)) {
    return error;
  }
  if (!isErrnoError(error)) {
    return undefined;
  }
  const [code, text] = FILE_ERRORS[error.code];
  const named = error.path?.replace(STAGING_SUFFIX, '');
  // Name the path as the user wrote it when the error is about that very path.
  const same = subject !== undefined && named === path.resolve(subject);
  return new CusprunError(code, text, same ? subject : (named ?? subject));
}

/** Runs `work`; a file system error it throws becomes a CusprunError (about `subject` if the
 * error names no path). */
export function aboutFile<T>(subject: string, work: () => T): T {
  try {
    return work();
  } catch (error) {
    throw userError(error, subject) ?? error;
  }
}
