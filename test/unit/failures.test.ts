/** Infrastructure failures are retried with backoff; a full disk is a clear error that leaves nothing behind. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { it } from 'node:test';
import { GgError } from '../../src/errors.js';
import type { Engine } from '../../src/engine/engine.js';
import { forceAll, type ForceEvent } from '../../src/force/force.js';
import type { Thunk } from '../../src/ir/thunk.js';
import { openRuntime } from '../../src/runtime.js';
import { project, run, tempDir } from '../helpers/cli.js';
import { ShellThunks } from '../helpers/shell-thunks.js';

/** b reads a's output: a two-thunk chain on a fresh project's local runtime, no jail. */
async function twoStepChain() {
  const dir = project();
  const s = new ShellThunks(dir);
  const a = s.script('echo a > out');
  const b = s.script('cat in > out; echo b >> out', { thunks: [{ name: a.name, filename: 'in' }] });
  s.close();
  return { a, b, rt: await openRuntime({ ggDir: path.join(dir, '.gg'), sandbox: 'none' }) };
}

/** The real local engine, with the first `n` calls failing the way a machine out of processes does. */
function flaky(engine: Engine, n: number, retryable: boolean): Engine & { calls: number } {
  const e = {
    name: 'flaky',
    calls: 0,
    async execute(name: string, thunk: Thunk) {
      e.calls++;
      if (e.calls <= n) throw new GgError('GG_E_INFRA', 'could not start sh: spawn EAGAIN', { retryable });
      return engine.execute(name, thunk);
    },
    close: () => engine.close(),
  };
  return e;
}

it('retries infrastructure failures with backoff, and never a program failure', async () => {
  const dir = project();
  const s = new ShellThunks(dir);
  const ok = s.script('echo ok > out');
  const bad = s.script('exit 4');
  s.close();
  const rt = await openRuntime({ ggDir: path.join(dir, '.gg'), sandbox: 'none' });
  const events: ForceEvent[] = [];
  const engine = flaky(rt.engine, 2, true);
  const r = await forceAll([ok.name], { store: rt.store, engine, jobs: 1, onEvent: (e) => events.push(e) });
  assert.equal(r.errors.size, 0);
  assert.equal(engine.calls, 3);
  assert.equal(events.filter((e) => e.type === 'retry').length, 2);
  const programFailure = flaky(rt.engine, 0, true);
  const r2 = await forceAll([bad.name], { store: rt.store, engine: programFailure, jobs: 1 });
  assert.equal(r2.errors.get(bad.name)?.code, 'GG_E_THUNK_FAILED');
  assert.equal(programFailure.calls, 1);
  const exhausted = flaky(rt.engine, 5, true);
  const r3 = await forceAll([s.script('echo other > out').name], {
    store: rt.store,
    engine: exhausted,
    jobs: 1,
    attempts: 3,
  });
  assert.equal([...r3.errors.values()][0]?.code, 'GG_E_INFRA');
  assert.equal(exhausted.calls, 3);
  await rt.close();
});

it('reports a full disk as GG_E_DISK_FULL and leaves no partial object', (t) => {
  if (process.getuid?.() !== 0) return t.skip('needs root to mount a small tmpfs');
  const mnt = tempDir('gg-full-');
  if (spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', mnt]).status !== 0)
    return t.skip('cannot mount tmpfs here');
  try {
    const ggDir = path.join(mnt, '.gg');
    const big = path.join(tempDir(), 'big');
    fs.writeFileSync(big, Buffer.alloc(3 * 1024 * 1024, 1));
    assert.equal(run(mnt, ['init']).status, 0);
    const r = run(mnt, ['collect', big], { env: { GG_DIR: ggDir } });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /error\[GG_E_DISK_FULL\]/);
    assert.deepEqual(fs.readdirSync(path.join(ggDir, 'tmp')), []);
    assert.deepEqual(fs.readdirSync(path.join(ggDir, 'blobs')), []);
  } finally {
    spawnSync('umount', [mnt]);
  }
});

it("writes the memo while dependants run, and a memo write that fails is still forceAll's error", async () => {
  const { b, rt } = await twoStepChain();
  // The real local store, whose memo writes fail the way a full disk makes them fail.
  const store = Object.create(rt.store) as typeof rt.store;
  store.putReductions = () => Promise.reject(new GgError('GG_E_DISK_FULL', 'no space left writing the memo'));
  await assert.rejects(forceAll([b.name], { store, engine: rt.engine, jobs: 1 }), /GG_E_DISK_FULL|no space left/);
  // Nothing was recorded, so a second force runs both again and records them.
  const r = await forceAll([b.name], { store: rt.store, engine: rt.engine, jobs: 1 });
  assert.equal(r.errors.size, 0);
  assert.equal(r.executed, 2);
  assert.ok((await rt.store.getReduction(b.name)) !== undefined);
  await rt.close();
});

it('does not look up again a ref the caller found unreduced (the upload plan), and still forces it', async () => {
  const { a, b, rt } = await twoStepChain();
  const asked: string[] = [];
  // Every memo lookup the scheduler makes; the store's own calls to itself go to the real store and are not
  // counted.
  const real = rt.store;
  const store = new Proxy(real, {
    get(target, key) {
      if (key === 'getReduction')
        return (ref: string) => {
          asked.push(ref);
          return real.getReduction(ref);
        };
      const v: unknown = Reflect.get(target, key, target);
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
  const r = await forceAll([b.name], { store, engine: rt.engine, jobs: 1, unreduced: new Set([b.name]) });
  assert.equal(r.errors.size, 0);
  assert.equal(r.executed, 2);
  assert.deepEqual(asked, [a.name]);
  assert.ok((await rt.store.getReduction(b.name)) !== undefined);
  await rt.close();
});
