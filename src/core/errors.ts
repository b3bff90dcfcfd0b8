/**
 * Typed errors for mistakes in the user's input or environment. The CLI, the sidecar and the
 * kernel bridge show `message` as one line; anything that is not a CusprunError (or a file
 * system error that fs-errors.ts translates) is a bug and keeps its stack.
 */
export type CusprunErrorCode =
  | 'not-found'
  | 'not-onnx'
  | 'truncated'
  | 'external-data'
  | 'unsupported'
  | 'unmappable'
  | 'bad-argument'
  | 'would-overwrite'
  | 'not-writable'
  | 'no-space'
  | 'busy';

export class CusprunError extends Error {
  readonly code: CusprunErrorCode;
  /** The file, field or value the message is about, when there is one. */
  readonly subject: string | undefined;

  constructor(code: CusprunErrorCode, message: string, subject?: string) {
    super(subject === undefined ? message : `${subject}: ${message}`);
    this.name = 'CusprunError';
    this.code = code;
    this.subject = subject;
  }
}

export function isCusprunError(error: unknown): error is CusprunError {
  return error instanceof CusprunError;
}
