/**
 * An engine opened when the first thunk runs: its modules (the local engine's worker runtime and sandbox, with
 * child_process among them) are loaded then, so a memoized force, which runs nothing, never pays for them.
 */
import type { Thunk } from '../ir/thunk.js';
import type { Engine, ExecuteOptions, ExecutionResult } from './engine.js';

export class LazyEngine implements Engine {
  private inner: Promise<Engine> | undefined;

  constructor(
    readonly name: string,
    private readonly open: () => Promise<Engine>,
  ) {}

  /** The engine itself, opened now unless it was (for what only it offers, e.g. LocalEngine.viewRunner). */
  opened(): Promise<Engine> {
    return (this.inner ??= this.open());
  }

  async execute(name: string, thunk: Thunk, opts?: ExecuteOptions): Promise<ExecutionResult> {
    return (await this.opened()).execute(name, thunk, opts);
  }

  async close(): Promise<void> {
    const e = await this.inner?.catch(() => undefined);
    await e?.close();
  }
}
