/**
 * Opening what a command needs: the local store (always: execution and caching happen in .gg/), the store
 * that holds objects and the memo (local, or a remote one behind a local cache), and the engine.
 */
import os from 'node:os';
import { GgError } from './errors.js';
import type { Engine } from './engine/engine.js';
import { LazyEngine } from './engine/lazy-engine.js';
import type { EngineSpec } from './engine/engine-spec.js';
import type { LambdaConfig } from './engine/lambda/defaults.js';
import type { SandboxKind } from './sandbox/sandbox-kind.js';
import type { LazySandbox } from './sandbox/lazy-sandbox.js';
import type { SandboxLimits } from './sandbox/sandbox.js';
import { findGgDir } from './store/gg-dir.js';
import { LocalStore } from './store/local-store.js';
import { openStore } from './store/open-store.js';
import type { Store } from './store/store.js';
import { TieredStore } from './store/tiered-store.js';

export interface RuntimeOptions {
  ggDir?: string;
  /** Remote store URI (redis://, rediss://, s3://, gs://); unset = the local .gg store alone. */
  storageUri?: string;
  sandbox?: SandboxKind;
  limits?: Partial<SandboxLimits>;
  keepFailed?: boolean;
  /** Signed memo entries on the shared store: this key signs what we write and must sign what we read. */
  memoKey?: Buffer;
  /** Never write to the shared store (--storage-read-only). */
  storageReadOnly?: boolean;
  /** Which engine runs thunks (default local). */
  engine?: EngineSpec;
  /** Remote engines: place thunks where their inputs are cached (default true; false to measure without). */
  placement?: boolean;
  /** The Lambda engine's settings (with engine kind 'lambda'; defaults otherwise). */
  lambda?: LambdaConfig;
  /** Where thunks that cannot run on the engine go (`--fallback-engine local`). */
  fallbackEngine?: 'local';
}

export interface Runtime {
  local: LocalStore;
  /** Where objects and the memo live: the local store, or a TieredStore (local cache + remote). */
  store: Store;
  remote?: TieredStore;
  engine: Engine;
  /** What the user should be told about this run's isolation (e.g. a limits fallback), once a thunk ran. */
  notices(): string[];
  close(): Promise<void>;
}

export function openLocalStore(ggDir?: string): LocalStore {
  return new LocalStore(ggDir ?? findGgDir());
}

export async function openRuntime(o: RuntimeOptions = {}): Promise<Runtime> {
  const local = openLocalStore(o.ggDir);
  // Bad storage configuration fails here, before any work.
  const store = await openStore(o.storageUri, local, {
    ...(o.memoKey ? { memoKey: o.memoKey } : {}),
    readOnly: o.storageReadOnly ?? false,
  });
  const remote = store instanceof TieredStore ? store : undefined;
  // The sandbox, made with the local engine when its first thunk runs (see LazyEngine).
  let sandbox: LazySandbox | undefined;
  const kind = o.sandbox ?? 'bwrap';
  const openSandbox = async (): Promise<LazySandbox> => {
    const { lazySandbox } = await import('./sandbox/create-sandbox.js');
    return (sandbox ??= lazySandbox(kind, local.hashCache, local.cacheDir));
  };
  // Engines opened for this run (the engine, and a local fallback behind a Lambda engine) close with it.
  const opened: Engine[] = [];
  let engine: Engine;
  try {
    engine = await openEngine(o, local, openSandbox, remote, opened);
  } catch (e) {
    for (const opening of opened.reverse()) await opening.close();
    await store.close();
    throw e;
  }
  return {
    local,
    store,
    ...(remote ? { remote } : {}),
    engine,
    notices: () => [
      ...(sandbox?.notice ? [sandbox.notice] : []),
      ...(remote && remote.signer.rejected > 0
        ? [
            `ignored ${remote.signer.rejected} memo entr${remote.signer.rejected === 1 ? 'y' : 'ies'} of ${remote.remote.description} not signed with the memo key`,
          ]
        : []),
    ],
    async close() {
      for (const e of opened.reverse()) await e.close();
      await sandbox?.close();
      await store.close(); // a TieredStore closes its local cache too
    },
  };
}

async function openEngine(
  o: RuntimeOptions,
  local: LocalStore,
  sandbox: () => Promise<LazySandbox>,
  remote: TieredStore | undefined,
  opened: Engine[],
): Promise<Engine> {
  const spec = o.engine ?? { kind: 'local' };
  const newLocal = (): Engine => {
    // Loaded when its first thunk runs (a memoized force runs none): engine/lazy-engine.ts.
    const e = new LazyEngine('local', async () => {
      const { LocalEngine } = await import('./engine/local-engine.js');
      return new LocalEngine(local, await sandbox(), {
        ...(o.limits ? { limits: o.limits } : {}),
        keepFailed: o.keepFailed ?? false,
        // Inputs another machine produced are in the shared store only: fetch them before a thunk runs here.
        ...(remote ? { fetch: (name: string) => remote.fetch(name) } : {}),
      });
    });
    opened.push(e);
    return e;
  };
  if (spec.kind === 'lambda') {
    // The Lambda SDK is loaded only when used.
    const { openLambdaEngine, LAMBDA_DEFAULTS, DEFAULT_PRICES } = await import('./engine/lambda/open-lambda-engine.js');
    const config = o.lambda ?? { ...LAMBDA_DEFAULTS, prices: DEFAULT_PRICES };
    const fallback = o.fallbackEngine === 'local' ? newLocal() : undefined;
    const lambda = await openLambdaEngine(
      { ...config, functionName: spec.functionName },
      { storageUri: o.storageUri, ...(fallback ? { fallback } : {}) },
    );
    opened.push(lambda);
    return lambda;
  }
  if (spec.kind === 'cluster') {
    const queueUri = spec.queueUri ?? o.storageUri;
    if (!remote || queueUri === undefined) {
      throw new GgError('GG_E_USAGE', 'the cluster engine needs a shared store that its workers can reach', {
        hint: 'add --storage redis://host:port (or s3://... with --engine cluster=redis://host:port for the queue)',
      });
    }
    if (!/^rediss?:\/\//.test(queueUri)) {
      throw new GgError(
        'GG_E_USAGE',
        'the cluster engine queues thunks in Redis, and the store is not a Redis server',
        {
          hint: 'name the queue: --engine cluster=redis://host:port',
        },
      );
    }
    const { ClusterEngine } = await import('./engine/cluster/cluster-engine.js');
    const cluster = await ClusterEngine.open({ queueUri, ...(o.placement === false ? { placement: false } : {}) });
    opened.push(cluster);
    return cluster;
  }
  return newLocal();
}

export function defaultJobs(): number {
  return Math.max(1, os.availableParallelism());
}
