/**
 * How the sidecar answers a refusal: a RequestError, a CusprunError or a file system error the
 * user can cause (missing, read-only, full disk) is the user's to fix and becomes its status and
 * one-line message; anything else is a bug, logged whole to stderr and answered as an internal
 * error.
 */
import { CusprunErrorCode } from '../../core/errors';
import { userError } from '../../engine/fs-errors';
import { ErrorBody, RequestError } from '../../core/protocol';

const STATUS_OF: Record<CusprunErrorCode, number> = {
  'not-found': 404,
  busy: 409,
  'would-overwrite': 409,
  'not-onnx': 400,
  truncated: 400,
  'external-data': 400,
  unsupported: 400,
  unmappable: 400,
  'bad-argument': 400,
  'not-writable': 403,
  'no-space': 400
};

export function describeError(
  error: unknown,
  /** What failed, for the log: 'a request', 'a score job', … */
  what: string
): { status: number; error: ErrorBody['error'] } {
  if (error instanceof RequestError) {
    return {
      status: error.status,
      error: { code: error.code, message: error.message }
    };
  }
  const mistake = userError(error);
  if (mistake) {
    return {
      status: STATUS_OF[mistake.code],
      error: { code: mistake.code, message: mistake.message }
    };
  }
  process.stderr.write(
    `cusprun sidecar: ${what} failed on a bug:\n${error instanceof Error ? error.stack : String(error)}\n`
  );
  return {
    status: 500,
    error: {
      code: 'internal',
      message: `internal error: ${error instanceof Error ? error.message : String(error)} (the sidecar's stderr has the details)`
    }
  };
}
