/**
 * Early dispatch (an engine that carries small thunks in its jobs, like the cluster's): a thunk whose dependency
 * ran in this force goes to the engine while the scheduler stores it and asks the memo for an early cutoff; a
 * cutoff withdraws it, unreported. After memo hits the lookup goes first. The engine here is the real local
 * engine behind a wrapper that says it carries thunks and holds each run back 100 ms (a queue's latency).
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { it } from 'node:test';
import { GgError } from '../../src/errors.js';
import type { Engine, ExecuteOptions } from '../../src/engine/engine.js';
import { forceAll, type ForceEvent } from '../../src/force/force.js';
import type { Thunk } from '../../src/ir/thunk.js';
import { openRuntime } from '../../src/runtime.js';
import { project } from '../helpers/cli.js';
import { ShellThunks } from '../helpers/shell-thunks.js';

function carrying(engine: Engine, log: string[]): Engine {
  return {
    name: 'carrying',
    carriesThunkBytes: 4096,
    async execute(name: string, thunk: Thunk, opts: ExecuteOptions = {}) {
      log.push(`execute ${name}`);
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(resolve, 100);
        opts.abort?.addEventListener('abort', () => {
          clearTimeout(t);
          log.push(`withdrawn ${name}`);
          reject(new GgError('GG_E_CANCELLED', `thunk ${name} was cancelled`));
        });
      });
      return engine.execute(name, thunk);
    },
    close: () => engine.close(),
  };
}

it('dispatches the dependant of a thunk that just ran at once, withdraws it on an early cutoff, and looks up first after memo hits', async () => {
  const dir = project();
  const s = new ShellThunks(dir);
  const a = s.script('echo a > out');
  const b = s.script('cat in > out; echo b >> out', { thunks: [{ name: a.name, filename: 'in' }] });
  // a2 is another thunk with a's output: b2's rewritten thunk is b's, already known (an early cutoff).
  const a2 = s.script('echo a >out');
  const b2 = s.script('cat in > out; echo b >> out', { thunks: [{ name: a2.name, filename: 'in' }] });
  // c reads a, which is memoized by then: its lookup goes first.
  const c = s.script('cat in > out; echo c >> out', { thunks: [{ name: a.name, filename: 'in' }] });
  s.close();
  const rt = await openRuntime({ ggDir: path.join(dir, '.gg'), sandbox: 'none' });
  const log: string[] = [];
  const engine = carrying(rt.engine, log);
  const onEvent = (e: ForceEvent): void => {
    if (e.type === 'queued' || e.type === 'started' || e.type === 'cancelled' || e.type === 'finished')
      log.push(`${e.type} ${e.name}`);
    if (e.type === 'cached') log.push(`cached ${e.ref} ${e.how}`);
  };
  const names = (t: { name: string }): string => t.name;

  // b's rewritten thunk is dispatched before it is reported queued (the lookup answered after the dispatch).
  const first = await forceAll([b.name], { store: rt.store, engine, jobs: 2, onEvent });
  assert.equal(first.errors.size, 0);
  assert.equal(first.executed, 2);
  const bRan = log.find((l) => l.startsWith('execute ') && l !== `execute ${names(a)}`)!.slice('execute '.length);
  assert.deepEqual(
    log.filter((l) => l.endsWith(bRan)),
    [`execute ${bRan}`, `queued ${bRan}`, `started ${bRan}`, `finished ${bRan}`],
  );
  const bOut = first.results.get(b.name)!;

  // b2: a2 runs (new), b2 is dispatched early and withdrawn by the cutoff; nothing about it is reported but
  // the cutoff, and its result is b's.
  log.length = 0;
  const second = await forceAll([b2.name], { store: rt.store, engine, jobs: 2, onEvent });
  assert.equal(second.errors.size, 0);
  assert.equal(second.results.get(b2.name), bOut);
  assert.equal(second.executed, 1);
  // (Withdrawn before it reached the engine, if the lookup answered before a slot was taken.)
  const aboutB = log.filter((l) => l.includes(bRan));
  assert.ok(
    [[`execute ${bRan}`, `withdrawn ${bRan}`, `cached ${bRan} cutoff`], [`cached ${bRan} cutoff`]].some(
      (x) => JSON.stringify(x) === JSON.stringify(aboutB),
    ),
    aboutB.join(', '),
  );
  assert.ok(!log.some((l) => l.startsWith('cancelled')));

  // c: its input a is a memo hit, so it is reported queued before the engine sees it.
  log.length = 0;
  const third = await forceAll([c.name], { store: rt.store, engine, jobs: 2, onEvent });
  assert.equal(third.errors.size, 0);
  assert.equal(third.executed, 1);
  const cRan = log.find((l) => l.startsWith('execute '))!.slice('execute '.length);
  assert.deepEqual(
    log.filter((l) => l.endsWith(cRan)),
    [`queued ${cRan}`, `started ${cRan}`, `execute ${cRan}`, `finished ${cRan}`],
  );
  assert.ok(log[0]!.startsWith('cached ') && log[0]!.endsWith(' memo'));

  // Warm: one lookup, nothing queued.
  log.length = 0;
  const warm = await forceAll([b.name, b2.name, c.name], { store: rt.store, engine, jobs: 2, onEvent });
  assert.equal(warm.executed, 0);
  assert.ok(!log.some((l) => l.startsWith('execute')));
  await rt.close();
});
