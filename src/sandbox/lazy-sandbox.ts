/**
 * A sandbox set up on the first thunk that actually runs: a fully memoized force never pays for bubblewrap's
 * trial jail and cgroup set-up (~0.2 s), which would otherwise dominate a warm build's wall time.
 */
import type { Sandbox, SandboxRequest, SandboxResult } from './sandbox.js';

export class LazySandbox implements Sandbox {
  private inner: Promise<Sandbox> | undefined;
  private ready: Sandbox | undefined;

  constructor(
    readonly kind: string,
    private readonly open: () => Promise<Sandbox>,
    private readonly scratch?: () => string | undefined,
  ) {}

  /** Asked before the first run (the run directory is made first): chosen without setting the sandbox up. */
  get scratchDir(): string | undefined {
    return this.scratch?.();
  }

  get notice(): string | undefined {
    return this.ready?.notice;
  }

  /**
   * Start setting the sandbox up now, for a caller that knows a run will come (a cold `gg infer --force`):
   * its trial jail then overlaps other work. A failure is reported by the first run.
   */
  prepare(): void {
    this.opening().catch(() => {});
  }

  private opening(): Promise<Sandbox> {
    return (this.inner ??= this.open().then((s) => (this.ready = s)));
  }

  async run(req: SandboxRequest): Promise<SandboxResult> {
    return (await this.opening()).run(req);
  }

  async close(): Promise<void> {
    if (!this.inner) return;
    const s = await this.inner.catch(() => undefined);
    await s?.close?.();
  }
}
