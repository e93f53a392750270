/**
 * The local engine: runs each thunk on this machine through the shared worker runtime, with the local .gg
 * store as its object cache (same file system as the run directories, so outputs are renamed into the store,
 * never copied). The scheduler records the memo; nothing is uploaded from here.
 */
import type { Thunk } from '../ir/thunk.js';
import {
  DEFAULT_LIMITS,
  type Sandbox,
  type SandboxLimits,
  type SandboxRequest,
  type SandboxResult,
  type SandboxView,
} from '../sandbox/sandbox.js';
import type { ObjectCache } from '../store/object-cache.js';
import type { Engine, ExecuteOptions, ExecutionResult } from './engine.js';
import { WorkerRuntime } from './worker-runtime.js';

export interface LocalEngineOptions {
  limits?: Partial<SandboxLimits>;
  /** Bring an object missing from the local store into it (from a shared remote store). */
  fetch?: (name: string) => Promise<void>;
  /** Keep the working directory of failed thunks for inspection. */
  keepFailed?: boolean;
}

/** A run with a wider view than a thunk's (SandboxRequest.view), under the engine's limits. */
export type ViewRequest = Omit<SandboxRequest, 'limits' | 'view'> & { view: SandboxView };

export interface ViewRunner {
  readonly scratchDir: string | undefined;
  run(req: ViewRequest): Promise<SandboxResult>;
  /** Set the sandbox up ahead of the first run (Sandbox.prepare). */
  prepare(): void;
}

export class LocalEngine implements Engine {
  readonly name = 'local';
  private readonly runtime: WorkerRuntime;

  private readonly limits: SandboxLimits;

  constructor(
    cache: ObjectCache,
    readonly sandbox: Sandbox,
    options: LocalEngineOptions = {},
  ) {
    this.limits = { ...DEFAULT_LIMITS, ...options.limits };
    this.runtime = new WorkerRuntime({
      cache,
      sandbox,
      ...(options.limits ? { limits: options.limits } : {}),
      ...(options.fetch ? { fetch: options.fetch } : {}),
      keepFailed: options.keepFailed ?? false,
    });
  }

  /**
   * The jail for runs with a wider view than a thunk's (`gg infer --force` runs compiles once this way to
   * learn what they read: gcc-depend.ts); only the bubblewrap sandbox has one.
   */
  get viewRunner(): ViewRunner | undefined {
    if (this.sandbox.kind !== 'bwrap') return undefined;
    const sandbox = this.sandbox;
    return {
      scratchDir: sandbox.scratchDir,
      run: (req) => sandbox.run({ ...req, limits: this.limits }),
      prepare: () => sandbox.prepare?.(),
    };
  }

  execute(name: string, thunk: Thunk, opts: ExecuteOptions = {}): Promise<ExecutionResult> {
    return this.runtime.run(name, thunk, opts.abort);
  }

  async close(): Promise<void> {
    await this.runtime.close();
  }
}
