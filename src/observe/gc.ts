/**
 * Store upkeep for the local store (.gg/): `gg gc`.
 *
 * Kept: everything the kept job traces' targets reach (thunks, their inputs and executables, memo results,
 * through dynamic-graph chains), the targets of running jobs, every input of every thunk that is kept, and
 * anything written or read in the last GRACE_MS. Of the rest, objects unused for `olderThanMs` go, then, while
 * the store is over `maxBytes`, the least recently used. Memo entries whose result goes are deleted BEFORE
 * the objects, and entries whose result is already gone are deleted too: the memo never names a missing
 * result. While gc works it holds .gg/gc.lock; forces that start meanwhile wait (gc-lock.ts).
 */
import fs from 'node:fs';
import path from 'node:path';
import { isThunkName, isValidName, nameSize, splitTag } from '../ir/name.js';
import { decodeThunk, type Thunk } from '../ir/thunk.js';
import { jobsDir, type JobHeader } from '../force/job-trace.js';
import { acquireGcLock, processAlive } from '../store/gc-lock.js';
import type { LocalStore } from '../store/local-store.js';

export const GRACE_MS = 60_000;
export const DEFAULT_KEEP_JOBS = 20;
export const DEFAULT_OLDER_THAN_MS = 14 * 24 * 3600 * 1000;

export interface GcOptions {
  store: LocalStore;
  /** Remove unused objects until the store holds at most this many bytes. */
  maxBytes?: number;
  /** Remove objects unused for longer than this (default 14 days). */
  olderThanMs?: number;
  /** Job traces kept (default 20); what their targets reach is kept too. */
  keepJobs?: number;
  /** Report what would go, remove nothing. */
  dryRun?: boolean;
  now?: number;
}

export interface GcResult {
  objectsBefore: number;
  bytesBefore: number;
  removedObjects: number;
  removedBytes: number;
  removedMemo: number;
  removedTraces: number;
  /** Objects kept because a kept or running job reaches them. */
  reachable: number;
  objectsAfter: number;
  bytesAfter: number;
  /** Bytes still above --max-size: what kept jobs need is never removed. */
  overBy: number;
}

interface Blob {
  name: string;
  size: number;
  lastUsed: number;
}

export function gc(o: GcOptions): GcResult {
  const release = acquireGcLock(o.store.ggDir);
  try {
    return collect(o);
  } finally {
    release();
  }
}

function collect(o: GcOptions): GcResult {
  const { store } = o;
  const now = o.now ?? Date.now();
  const removedTraces = o.dryRun ? 0 : pruneJobs(store.ggDir, o.keepJobs ?? DEFAULT_KEEP_JOBS);
  const roots = jobTargets(store.ggDir);

  const blobs = new Map<string, Blob>();
  for (const name of fs.readdirSync(store.blobsDir)) {
    if (!isValidName(name)) continue;
    const st = fs.statSync(store.blobPath(name), { throwIfNoEntry: false });
    if (st) blobs.set(name, { name, size: st.size, lastUsed: Math.max(st.mtimeMs, st.atimeMs) });
  }
  const bytesBefore = [...blobs.values()].reduce((n, b) => n + b.size, 0);

  const decoded = new Map<string, Thunk | null>();
  const thunk = (name: string): Thunk | undefined => {
    let t = decoded.get(name);
    if (t === undefined) {
      try {
        t = blobs.has(name) ? decodeThunk(store.getSync(name)) : null;
      } catch {
        t = null;
      }
      decoded.set(name, t);
    }
    return t ?? undefined;
  };

  // Reachable from the jobs' targets: marked with an explicit stack (graphs are deep).
  const reachable = new Set<string>();
  const stack = [...roots];
  while (stack.length > 0) {
    const ref = stack.pop()!;
    const { name, tag } = splitTag(ref);
    if (reachable.has(name) && tag === undefined) continue;
    reachable.add(name);
    if (!isThunkName(name)) continue;
    const t = thunk(name);
    for (const r of [ref, name, ...(t?.outputs ?? []).map((tg) => `${name}#${tg}`)]) {
      const result = store.getReductionSync(r);
      if (result !== undefined && !reachable.has(splitTag(result).name)) stack.push(result);
    }
    if (!t) continue;
    for (const i of [...t.values, ...t.executables]) reachable.add(i.name);
    for (const d of t.thunks) if (!reachable.has(splitTag(d.name).name)) stack.push(d.name);
  }

  const olderThan = o.olderThanMs ?? DEFAULT_OLDER_THAN_MS;
  const removable = (b: Blob): boolean => !reachable.has(b.name) && now - b.lastUsed > GRACE_MS;
  const doomed = new Set<string>();
  for (const b of blobs.values()) if (removable(b) && now - b.lastUsed > olderThan) doomed.add(b.name);
  keepInputsOfKeptThunks(blobs, doomed, thunk);
  let total = bytesBefore - sum(doomed, blobs);
  if (o.maxBytes !== undefined && total > o.maxBytes) {
    const lru = [...blobs.values()]
      .filter((b) => removable(b) && !doomed.has(b.name))
      .sort((a, b) => a.lastUsed - b.lastUsed);
    for (const b of lru) {
      if (total <= o.maxBytes) break;
      doomed.add(b.name);
      total -= b.size;
    }
    keepInputsOfKeptThunks(blobs, doomed, thunk);
    total = bytesBefore - sum(doomed, blobs);
  }

  // Memo first: no entry may name a result that is gone, not even for a moment.
  let removedMemo = 0;
  for (const ref of fs.readdirSync(store.reductionsDir)) {
    const result = store.getReductionSync(ref);
    const target = result === undefined ? undefined : splitTag(result).name;
    const gone = target === undefined || doomed.has(target) || !blobs.has(target);
    if (!gone) continue;
    removedMemo++;
    if (!o.dryRun) fs.rmSync(path.join(store.reductionsDir, ref), { force: true });
  }
  let removedObjects = 0;
  let removedBytes = 0;
  for (const name of doomed) {
    const file = store.blobPath(name);
    // Used since the scan (a writer that found it already stored): keep it; its memo entries are only misses.
    const st = fs.statSync(file, { throwIfNoEntry: false });
    if (!st || now - Math.max(st.mtimeMs, st.atimeMs) <= GRACE_MS) continue;
    if (!o.dryRun) fs.rmSync(file, { force: true });
    removedObjects++;
    removedBytes += st.size;
  }
  return {
    objectsBefore: blobs.size,
    bytesBefore,
    removedObjects,
    removedBytes,
    removedMemo,
    removedTraces,
    reachable: [...reachable].filter((n) => blobs.has(n)).length,
    objectsAfter: blobs.size - removedObjects,
    bytesAfter: bytesBefore - removedBytes,
    overBy: o.maxBytes === undefined ? 0 : Math.max(0, bytesBefore - removedBytes - o.maxBytes),
  };
}

/** A thunk that stays must stay runnable: its inputs, executables and thunk inputs stay too (transitively). */
function keepInputsOfKeptThunks(
  blobs: Map<string, Blob>,
  doomed: Set<string>,
  thunk: (n: string) => Thunk | undefined,
): void {
  const stack = [...blobs.keys()].filter((n) => isThunkName(n) && !doomed.has(n));
  const seen = new Set<string>();
  while (stack.length > 0) {
    const n = stack.pop()!;
    if (seen.has(n)) continue;
    seen.add(n);
    const t = thunk(n);
    if (!t) continue;
    for (const i of [...t.values, ...t.executables, ...t.thunks]) {
      const name = splitTag(i.name).name;
      doomed.delete(name);
      if (isThunkName(name)) stack.push(name);
    }
  }
}

function sum(names: Set<string>, blobs: Map<string, Blob>): number {
  let n = 0;
  for (const name of names) n += blobs.get(name)?.size ?? nameSize(name);
  return n;
}

/** Keep the newest `keep` finished traces; never remove a running job's. Returns how many went. */
function pruneJobs(ggDir: string, keep: number): number {
  const dir = jobsDir(ggDir);
  let names: string[];
  try {
    names = fs
      .readdirSync(dir)
      .filter((n) => n.endsWith('.jsonl'))
      .sort();
  } catch {
    return 0;
  }
  let removed = 0;
  for (const n of names.slice(0, Math.max(0, names.length - keep))) {
    const header = readHeader(path.join(dir, n));
    if (header && running(path.join(dir, n), header)) continue;
    fs.rmSync(path.join(dir, n), { force: true });
    removed++;
  }
  return removed;
}

/** Every ref a kept or running job forces. */
function jobTargets(ggDir: string): string[] {
  const dir = jobsDir(ggDir);
  let names: string[];
  try {
    names = fs.readdirSync(dir).filter((n) => n.endsWith('.jsonl'));
  } catch {
    return [];
  }
  return names.flatMap(
    (n) =>
      readHeader(path.join(dir, n))
        ?.targets.map((t) => t.ref)
        .filter((r) => isValidName(splitTag(r).name)) ?? [],
  );
}

function readHeader(file: string): JobHeader | undefined {
  try {
    const fd = fs.openSync(file, 'r');
    try {
      const buf = Buffer.alloc(1024 * 1024);
      const n = fs.readSync(fd, buf, 0, buf.length, 0);
      const line = buf.subarray(0, n).toString('utf8').split('\n', 1)[0] ?? '';
      const h = JSON.parse(line) as JobHeader;
      return h.type === 'job' && Array.isArray(h.targets) ? h : undefined;
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return undefined;
  }
}

function running(file: string, h: JobHeader): boolean {
  const text = fs.readFileSync(file, 'utf8');
  return !text.includes('"type":"end"') && processAlive(h.pid);
}
