/**
 * `gg gc` and running forces. gc holds `.gg/gc.lock` (created exclusively) while it decides and deletes; a force
 * first writes its job header (its targets: gc keeps everything they reach) and then waits while the lock is
 * held. Whichever comes first, the other sees it: a force whose header gc missed started after the lock
 * existed, so it waits; a force that did not wait was running before, so gc read its header.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { GgError, fromSystemError } from '../errors.js';

export function gcLockPath(ggDir: string): string {
  return path.join(ggDir, 'gc.lock');
}

interface LockOwner {
  pid: number;
  host: string;
}

function readOwner(file: string): LockOwner | undefined {
  try {
    const o = JSON.parse(fs.readFileSync(file, 'utf8')) as Partial<LockOwner>;
    return typeof o.pid === 'number' && typeof o.host === 'string' ? { pid: o.pid, host: o.host } : undefined;
  } catch {
    return undefined;
  }
}

export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** A lock whose owner died on this host is stale; one from another host (shared disk) is trusted. */
function stale(file: string): boolean {
  const o = readOwner(file);
  if (!o) {
    // Half-written by a gc that died between create and write, or being written now: stale only once old.
    const st = fs.statSync(file, { throwIfNoEntry: false });
    return st !== undefined && Date.now() - st.mtimeMs > 10_000;
  }
  return o.host === os.hostname() && !processAlive(o.pid);
}

/** Take the gc lock or fail with GG_E_BUSY when another gc holds it. Returns the release function. */
export function acquireGcLock(ggDir: string): () => void {
  const file = gcLockPath(ggDir);
  for (let attempt = 0; ; attempt++) {
    try {
      const fd = fs.openSync(file, 'wx', 0o644);
      fs.writeSync(fd, JSON.stringify({ pid: process.pid, host: os.hostname() } satisfies LockOwner));
      fs.closeSync(fd);
      return () => fs.rmSync(file, { force: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw fromSystemError(e, `creating ${file}`);
    }
    if (attempt === 0 && stale(file)) {
      fs.rmSync(file, { force: true });
      continue;
    }
    const o = readOwner(file);
    throw new GgError('GG_E_BUSY', `another gg gc is running${o ? ` (pid ${o.pid} on ${o.host})` : ''}`, {
      hint: `wait for it to finish; if it died, remove ${file}`,
    });
  }
}

/** Wait while a live gc holds the lock (a force calls this after writing its job header). */
export async function waitWhileGc(ggDir: string, onWait?: () => void, signal?: AbortSignal): Promise<void> {
  const file = gcLockPath(ggDir);
  let told = false;
  while (fs.existsSync(file)) {
    if (signal?.aborted)
      throw new GgError('GG_E_CANCELLED', 'interrupted while waiting for gg gc to finish; nothing was forced');
    if (stale(file)) {
      fs.rmSync(file, { force: true });
      break;
    }
    if (!told) onWait?.();
    told = true;
    await new Promise((r) => setTimeout(r, 100));
  }
}
