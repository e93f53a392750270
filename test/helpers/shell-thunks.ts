/** Small shell-script thunks for tests, built with the SDK against a project's local store. */
import path from 'node:path';
import { GraphBuilder, type WrittenThunk, type InputSpec } from '../../src/frontend/sdk.js';
import { LocalStore } from '../../src/store/local-store.js';

export class ShellThunks {
  readonly store: LocalStore;
  readonly g: GraphBuilder;
  readonly sh: string;

  constructor(readonly dir: string) {
    this.store = new LocalStore(path.join(dir, '.gg'));
    this.g = new GraphBuilder(this.store);
    this.sh = this.g.file('/bin/dash');
  }

  /** `sh -c script` with the given inputs; outputs default to ['out']. */
  script(
    script: string,
    o: {
      values?: InputSpec[];
      thunks?: InputSpec[];
      outputs?: string[];
      timeoutMs?: number;
      env?: Record<string, string>;
    } = {},
  ): WrittenThunk {
    return this.g.thunk({
      function: this.sh,
      args: ['sh', '-c', script],
      outputs: o.outputs ?? ['out'],
      ...(o.values ? { values: o.values } : {}),
      ...(o.thunks ? { thunks: o.thunks } : {}),
      ...(o.timeoutMs ? { timeoutMs: o.timeoutMs } : {}),
      env: { PATH: '/usr/bin:/bin', ...(o.env ?? {}) },
    });
  }

  close(): void {
    this.store.hashCache.flush();
  }
}
