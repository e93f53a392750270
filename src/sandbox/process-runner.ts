/**
 * Spawning one program and waiting for it, with a wall-clock limit that kills its whole process group.
 * Shared by every sandbox kind. Spawn failures that are the machine's fault (EAGAIN, ENOMEM, EMFILE) are
 * marked retryable; the program's own failure never is.
 */
import { spawn } from 'node:child_process';
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

export function runProcess(o: RunProcessOptions): Promise<ProcessOutcome> {
  const start = performance.now();
  // Appending, never truncating: a slot's log is reused run after run (the engine remembers where each run's
  // output starts), and on ext4 a truncate-and-rewrite forces a data flush on close (auto_da_alloc).
  const log = fs.openSync(o.logFile, 'a');
  return new Promise<ProcessOutcome>((resolve, reject) => {
    let timedOut = false;
    let child;
    try {
      child = spawn(o.file, o.args, {
        ...(o.argv0 === undefined ? {} : { argv0: o.argv0 }),
        cwd: o.cwd,
        env: o.env,
        stdio: ['ignore', log, log],
        // Own process group, so a timeout kills every descendant, not just the direct child.
        detached: true,
      });
    } catch (e) {
      fs.closeSync(log);
      reject(spawnError(e, o.file));
      return;
    }
    fs.closeSync(log);
    let cancelled = false;
    const killGroup = (): void => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    };
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup();
    }, o.timeoutMs);
    const onAbort = (): void => {
      cancelled = true;
      killGroup();
    };
    if (o.abort?.aborted) onAbort();
    o.abort?.addEventListener('abort', onAbort, { once: true });
    child.once('error', (e) => {
      clearTimeout(timer);
      o.abort?.removeEventListener('abort', onAbort);
      reject(spawnError(e, o.file));
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      o.abort?.removeEventListener('abort', onAbort);
      // Kill stragglers the program left in its group (PID 1 here does not reap orphans for us).
      killGroup();
      resolve({
        exitCode: code,
        signal,
        ...(timedOut ? { limit: 'timeout' as const } : cancelled ? { limit: 'cancelled' as const } : {}),
        wallMs: performance.now() - start,
      });
    });
  });
}

export function spawnError(e: unknown, file: string): GgError {
  const errno = (e as NodeJS.ErrnoException).code ?? '';
  return new GgError('GG_E_INFRA', `could not start ${file}: ${(e as Error).message}`, {
    retryable: RETRYABLE_SPAWN.has(errno),
    hint: RETRYABLE_SPAWN.has(errno) ? 'the machine is short of processes or memory; it was retried' : 'check that the executable exists in the store and is runnable here',
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
