/** `gg status` as a library call: what the local store holds, the memo, recent jobs and their hit rates. */
import fs from 'node:fs';
import { isValidName, nameSize, nameType } from '../ir/name.js';
import { gcLockPath } from '../store/gc-lock.js';
import type { LocalStore } from '../store/local-store.js';
import { listJobs } from './job-history.js';

export interface StoreStatus {
  ggDir: string;
  objects: { count: number; bytes: number };
  /** By kind: V = values (files, outputs), T = thunks. */
  byKind: { kind: 'value' | 'thunk'; count: number; bytes: number }[];
  memoEntries: number;
  jobs: {
    id: string;
    command: string;
    status: string;
    executed: number;
    cached: number;
    failed: number;
    hitRate?: number;
    wallMs?: number;
  }[];
  /** Cached / (cached + executed) over the recent jobs listed. */
  hitRate?: number;
  traces: { count: number; bytes: number };
  remote?: string;
  gcRunning: boolean;
}

export function storeStatus(store: LocalStore, o: { recentJobs?: number; remote?: string } = {}): StoreStatus {
  const kinds = {
    V: { kind: 'value' as const, count: 0, bytes: 0 },
    T: { kind: 'thunk' as const, count: 0, bytes: 0 },
  };
  for (const name of fs.readdirSync(store.blobsDir)) {
    if (!isValidName(name)) continue;
    const k = kinds[nameType(name)];
    k.count++;
    k.bytes += nameSize(name); // names carry their sizes: no stat per object
  }
  const memoEntries = fs.readdirSync(store.reductionsDir).length;
  const listed = listJobs(store.ggDir);
  let traceBytes = 0;
  for (const j of listed) traceBytes += fs.statSync(j.file, { throwIfNoEntry: false })?.size ?? 0;
  const recent = listed.slice(-(o.recentJobs ?? 10)).reverse();
  const jobs = recent.map((j) => {
    const e = j.end;
    const executed = e?.executed ?? 0;
    const cached = e?.cached ?? 0;
    return {
      id: j.id,
      command: ['gg', ...(j.header?.argv ?? [])].join(' '),
      status: e?.status ?? 'running or crashed',
      executed,
      cached,
      failed: e?.failed ?? 0,
      ...(executed + cached > 0 ? { hitRate: cached / (executed + cached) } : {}),
      ...(e ? { wallMs: e.t } : {}),
    };
  });
  const ex = jobs.reduce((n, j) => n + j.executed, 0);
  const ca = jobs.reduce((n, j) => n + j.cached, 0);
  return {
    ggDir: store.ggDir,
    objects: { count: kinds.V.count + kinds.T.count, bytes: kinds.V.bytes + kinds.T.bytes },
    byKind: [kinds.V, kinds.T],
    memoEntries,
    jobs,
    ...(ex + ca > 0 ? { hitRate: ca / (ex + ca) } : {}),
    traces: { count: listed.length, bytes: traceBytes },
    ...(o.remote ? { remote: o.remote } : {}),
    gcRunning: fs.existsSync(gcLockPath(store.ggDir)),
  };
}
