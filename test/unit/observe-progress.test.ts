/** The live status block of gg force: bar, counts, rate, ETA, bytes, cost, the slowest running thunks. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ProgressReporter, formatBytes } from '../../src/cli/progress.js';
import { monotonicMs } from '../../src/force/clock.js';

function fakeStream(): { stream: NodeJS.WriteStream; text: () => string } {
  let out = '';
  const stream = { write: (s: string) => ((out += s), true), columns: 100 } as unknown as NodeJS.WriteStream;
  return { stream, text: () => out };
}

const where = { engine: 'lambda', host: 'worker-1', slot: 0 };

describe('live status', () => {
  it('shows a bar, counts, rate and ETA, bytes moved, cost, and the longest-running thunks first', () => {
    const { stream } = fakeStream();
    const p = new ProgressReporter({ tty: true, quiet: true, verbose: false, stream });
    for (const n of ['Ta', 'Tb', 'Tc', 'Td']) p.onEvent({ type: 'discovered', name: n, argv0: 'cc', deps: [] });
    p.onEvent({ type: 'started', name: 'Ta', argv0: 'cc', output: 'gg.o', bytesIn: 2048, ...where });
    p.onEvent({ type: 'started', name: 'Tb', argv0: 'ld', output: 'a.out', bytesIn: 1024, ...where });
    p.onEvent({ type: 'started', name: 'Tc', argv0: 'ar', output: 'lib.a', bytesIn: 0, ...where });
    p.onEvent({
      type: 'finished',
      name: 'Tc',
      argv0: 'ar',
      output: 'lib.a',
      wallMs: 5,
      bytesOut: 3 * 1024 * 1024,
      log: '',
      costUsd: 0.00125,
      ...where,
    } as never);
    const lines = p.statusLines(monotonicMs() + 10_000);
    assert.match(lines[0]!, /^\[#{6}\.{18}\] 1\/4 {2}running 2, executed 1, cached 0, failed 0 {2}0\.1\/s ETA /);
    assert.equal(lines[1], 'moved 3.0 KiB in, 3.0 MiB out, cost $0.0013');
    assert.equal(lines.length, 4);
    assert.match(lines[2]!, /^ +10\.0s {2}cc Ta/, 'the one that started first is listed first');
    assert.match(lines[3]!, /ld Tb/);
    p.finish();
  });

  it('redraws in place on a terminal and keeps messages above the block', () => {
    const { stream, text } = fakeStream();
    const p = new ProgressReporter({ tty: true, quiet: false, verbose: false, stream });
    p.onEvent({ type: 'discovered', name: 'Ta', argv0: 'cc', deps: [] });
    (p as unknown as { render(): void }).render();
    p.line('a warning');
    p.finish();
    const t = text();
    assert.match(t, /\x1b\[1A\x1b\[2K/, 'the previous block is cleared line by line');
    assert.match(t, /a warning\n/);
    assert.match(t, /gg: \[0\/1\] executed 0, cached 0, failed 0 in /);
    assert.equal(formatBytes(1536), '1.5 KiB');
  });
});
