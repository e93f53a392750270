/**
 * The one error class of gg-ts. Every failure a user can meet carries a stable code (GG_E_...), a message that
 * says what went wrong and a hint that says what to do. The CLI prints `error[CODE]: message` and exits non-zero.
 */
export type GgErrorCode =
  | 'GG_E_USAGE'
  | 'GG_E_NAME_INVALID'
  | 'GG_E_THUNK_INVALID'
  | 'GG_E_OBJECT_MISSING'
  | 'GG_E_OBJECT_CORRUPT'
  | 'GG_E_NO_GG_DIR'
  | 'GG_E_FILE_NOT_FOUND'
  | 'GG_E_PLACEHOLDER_INVALID'
  | 'GG_E_THUNK_FAILED'
  | 'GG_E_THUNK_TIMEOUT'
  | 'GG_E_THUNK_OUTPUT_MISSING'
  | 'GG_E_THUNK_LIMIT'
  | 'GG_E_DEPENDENCY_FAILED'
  | 'GG_E_CANCELLED'
  | 'GG_E_INFRA'
  | 'GG_E_JOB_INVALID'
  | 'GG_E_CLUSTER'
  | 'GG_E_SANDBOX_UNAVAILABLE'
  | 'GG_E_SANDBOX_REQUIRED'
  | 'GG_E_NONDETERMINISTIC'
  | 'GG_E_STORAGE_URI'
  | 'GG_E_STORAGE_UNREACHABLE'
  | 'GG_E_STORAGE_AUTH'
  | 'GG_E_STORAGE_BUCKET'
  | 'GG_E_STORAGE_CREDENTIALS'
  | 'GG_E_STORAGE_IO'
  | 'GG_E_DISK_FULL'
  | 'GG_E_INFER'
  | 'GG_E_MEMO_CYCLE'
  | 'GG_E_PERMISSION'
  | 'GG_E_FILE_TYPE'
  | 'GG_E_LAMBDA'
  | 'GG_E_LAMBDA_THROTTLED'
  | 'GG_E_LAMBDA_CONFIG'
  | 'GG_E_COST_LIMIT'
  | 'GG_E_TOO_BIG'
  | 'GG_E_BUSY'
  | 'GG_E_JOB_NOT_FOUND'
  | 'GG_E_INTERNAL';

export interface GgErrorOptions {
  hint?: string;
  /** Process exit status the CLI should use (1 by default, 2 for usage errors). */
  exitCode?: number;
  cause?: unknown;
  /** Infrastructure failures may be retried; a program's own failure never is. */
  retryable?: boolean;
}

export class GgError extends Error {
  readonly code: GgErrorCode;
  readonly hint: string | undefined;
  readonly exitCode: number;
  readonly retryable: boolean;

  constructor(code: GgErrorCode, message: string, options: GgErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'GgError';
    this.code = code;
    this.hint = options.hint;
    this.exitCode = options.exitCode ?? (code === 'GG_E_USAGE' ? 2 : 1);
    this.retryable = options.retryable ?? false;
  }
}

export function isGgError(e: unknown, code?: GgErrorCode): e is GgError {
  return e instanceof GgError && (code === undefined || e.code === code);
}

/** Map a Node system error from file I/O to a GgError, keeping the original as the cause. */
export function fromSystemError(e: unknown, what: string): GgError {
  if (e instanceof GgError) return e;
  const errno = (e as NodeJS.ErrnoException | undefined)?.code;
  if (errno === 'ENOSPC' || errno === 'EDQUOT') {
    return new GgError('GG_E_DISK_FULL', `no space left while ${what}`, {
      hint: 'free disk space (or point GG_DIR at a larger disk) and run the command again; nothing half-written was kept',
      cause: e,
    });
  }
  if (errno === 'ENOENT') {
    return new GgError('GG_E_FILE_NOT_FOUND', `${what}: no such file or directory`, { cause: e });
  }
  if (errno === 'EACCES' || errno === 'EPERM' || errno === 'EROFS') {
    return new GgError(
      'GG_E_PERMISSION',
      `${what}: ${errno === 'EROFS' ? 'read-only file system' : 'permission denied'}`,
      {
        hint: 'gg needs to write its .gg directory (and read the files named): check their owner and mode, or point GG_DIR elsewhere',
        cause: e,
      },
    );
  }
  if (errno === 'EISDIR' || errno === 'ENOTDIR') {
    return new GgError(
      'GG_E_FILE_TYPE',
      `${what}: ${errno === 'EISDIR' ? 'is a directory' : 'a part of the path is not a directory'}`,
      {
        hint: 'name a regular file',
        cause: e,
      },
    );
  }
  const msg = e instanceof Error ? e.message : String(e);
  return new GgError('GG_E_INTERNAL', `${what}: ${msg}`, { cause: e });
}
