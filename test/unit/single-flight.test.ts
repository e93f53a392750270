/** SingleFlightEngine: one run per thunk in flight, joined callers get its result and its start. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Engine, ExecuteOptions, ExecutionResult } from '../../src/engine/engine.js';
import { SingleFlightEngine } from '../../src/engine/single-flight.js';
import type { Thunk } from '../../src/ir/thunk.js';

const THUNK: Thunk = {
  function: { hash: 'x', args: ['x'], envars: [] },
  values: [],
  thunks: [],
  executables: [],
  outputs: ['out'],
  timeout: 0,
  links: {},
};

/** The engine underneath: counts runs; each run waits until the test lets it start, then finish. */
class GatedEngine implements Engine {
  readonly name = 'gated';
  runs: string[] = [];
  private gates: { start: () => void; finish: (r: ExecutionResult | Error) => void }[] = [];
  execute(name: string, _thunk: Thunk, opts?: ExecuteOptions): Promise<ExecutionResult> {
    this.runs.push(name);
    return new Promise((resolve, reject) =>
      this.gates.push({
        start: () => opts?.onStarted?.('w1'),
        finish: (r) => (r instanceof Error ? reject(r) : resolve(r)),
      }),
    );
  }
  gate(i: number): { start: () => void; finish: (r: ExecutionResult | Error) => void } {
    return this.gates[i]!;
  }
  async close(): Promise<void> {}
}

const result = (log: string): ExecutionResult => ({ outputs: [{ tag: 'out', name: 'V' }], wallMs: 1, log });

describe('SingleFlightEngine', () => {
  it('runs a thunk once while in flight; joined callers get the result and the start, later calls run again', async () => {
    const inner = new GatedEngine();
    const e = new SingleFlightEngine(inner);
    const started: string[] = [];
    const a = e.execute('T1', THUNK, { onStarted: (w) => started.push(`a:${w}`) });
    const b = e.execute('T1', THUNK, { onStarted: (w) => started.push(`b:${w}`) });
    const other = e.execute('T2', THUNK);
    assert.deepEqual(inner.runs, ['T1', 'T2'], 'T1 runs once, T2 on its own');
    inner.gate(0).start();
    const c = e.execute('T1', THUNK, { onStarted: (w) => started.push(`c:${w}`) });
    assert.deepEqual(started, ['a:w1', 'b:w1', 'c:w1'], 'a caller joining a started run hears of it at once');
    inner.gate(0).finish(result('warning'));
    assert.deepEqual(await Promise.all([a, b, c]), [result('warning'), result('warning'), result('warning')]);
    inner.gate(1).finish(new Error('T2 failed'));
    await assert.rejects(other, /T2 failed/);
    const again = e.execute('T1', THUNK);
    assert.deepEqual(inner.runs, ['T1', 'T2', 'T1'], 'a finished run is not reused: the memo answers that');
    inner.gate(2).finish(result(''));
    assert.equal((await again).log, '');
  });
});
