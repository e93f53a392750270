/**
 * What running one program takes and gives (spawner.ts runs it), how a failure to start it is reported, and
 * reading back its log. Spawn failures that are the machine's fault (EAGAIN, ENOMEM, EMFILE) are marked
 * retryable; the program's own failure never is.
 */
import fs from 'node:fs';
import { GgError } from '../errors.js';
import type { LimitBroken } from './sandbox.js';

export interface RunProcessOptions {
  file: string;
  args: string[];
  argv0?: string;
  cwd: string;
  env: Record<string, string>;
  logFile: string;
  timeoutMs: number;
  abort?: AbortSignal;
}

export interface ProcessOutcome {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  limit?: LimitBroken;
  wallMs: number;
}

const RETRYABLE_SPAWN = new Set(['EAGAIN', 'ENOMEM', 'EMFILE', 'ENFILE', 'EBUSY', 'ETXTBSY']);

export function spawnError(e: unknown, file: string): GgError {
  const errno = (e as NodeJS.ErrnoException).code ?? '';
  return new GgError('GG_E_INFRA', `could not start ${file}: ${(e as Error).message}`, {
    retryable: RETRYABLE_SPAWN.has(errno),
    hint: RETRYABLE_SPAWN.has(errno)
      ? 'the machine is short of processes or memory; it was retried'
      : 'check that the executable exists in the store and is runnable here',
    cause: e,
  });
}

/** Last `max` bytes of what a log file received after offset `from`, as text. */
export function readLogSince(file: string, from: number, max = 4096): string {
  try {
    const st = fs.statSync(file);
    if (st.size <= from) return '';
    const fd = fs.openSync(file, 'r');
    try {
      const len = Math.min(max, st.size - from);
      const buf = Buffer.alloc(len);
      fs.readSync(fd, buf, 0, len, st.size - len);
      return buf.toString('utf8');
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return '';
  }
}
