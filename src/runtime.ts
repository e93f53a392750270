/**
 * Opening what a command needs: the local store (always: execution and caching happen in .gg/), the store
 * that holds objects and the memo (local, or a remote one behind a local cache), and the engine.
 */
import os from 'node:os';
import path from 'node:path';
import { LocalEngine } from './engine/local-engine.js';
import type { Engine } from './engine/engine.js';
import { createSandbox, type SandboxKind } from './sandbox/create-sandbox.js';
import type { SandboxLimits } from './sandbox/sandbox.js';
import { findGgDir } from './store/gg-dir.js';
import { LocalStore } from './store/local-store.js';
import type { Store } from './store/store.js';

export interface RuntimeOptions {
  ggDir?: string;
  sandbox?: SandboxKind;
  limits?: Partial<SandboxLimits>;
  keepFailed?: boolean;
}

export interface Runtime {
  local: LocalStore;
  store: Store;
  engine: Engine;
  /** What the user should be told about this run's isolation (e.g. a limits fallback); empty when nothing. */
  notices: string[];
  close(): Promise<void>;
}

export function openLocalStore(ggDir?: string): LocalStore {
  return new LocalStore(ggDir ?? findGgDir());
}

export async function openRuntime(o: RuntimeOptions = {}): Promise<Runtime> {
  const local = openLocalStore(o.ggDir);
  const sandbox = await createSandbox(o.sandbox ?? 'bwrap', local.hashCache, { rootsDir: path.join(local.cacheDir, 'roots') });
  const engine = new LocalEngine(local, sandbox, { ...(o.limits ? { limits: o.limits } : {}), keepFailed: o.keepFailed ?? false });
  return {
    local,
    store: local,
    engine,
    notices: sandbox.notice ? [sandbox.notice] : [],
    async close() {
      await engine.close();
      await sandbox.close?.();
      await local.close();
    },
  };
}

export function defaultJobs(): number {
  return Math.max(1, os.availableParallelism());
}
