/** Limits of the bubblewrap jail: a fork bomb, a 100 GB write, a memory hog and a hung tree are stopped fast. */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { BwrapSandbox } from '../../src/sandbox/bwrap-sandbox.js';
import { ended, force, jailSuite, JailProject, processesWith, waitUntil } from '../helpers/jail-thunks.js';
import type { Runtime } from '../../src/runtime.js';

const MiB = 1024 * 1024;

describe('bubblewrap jail: limits', () => {
  let p: JailProject;
  let rt: Runtime;
  before(async () => {
    p = new JailProject();
    rt = await p.runtime({ maxProcesses: 64, outputBytes: 8 * MiB, memoryBytes: 64 * MiB, timeoutMs: 20_000 });
  });
  after(async () => {
    await rt.close();
    assert.deepEqual(p.leftovers(), []);
    p.remove();
  });

  it('a fork bomb is stopped at the process limit, at once', async () => {
    const t = p.script('b() { b | b & }; while :; do b; done');
    const start = performance.now();
    const r = await force(rt, t.name);
    assert.equal(r.error?.code, 'GG_E_THUNK_LIMIT');
    assert.match(r.error.message, /broke its processes limit/);
    assert.ok(performance.now() - start < 5000, `took ${performance.now() - start} ms`);
  });

  it('a 100 GB write is stopped at the output limit, at once', async () => {
    const t = p.script('dd if=/dev/zero of=big bs=1M count=102400 2>/dev/null; echo survived > out', { tools: ['dd'] });
    const start = performance.now();
    const r = await force(rt, t.name);
    assert.equal(r.error?.code, 'GG_E_THUNK_LIMIT');
    assert.match(r.error.message, /broke its output limit/);
    assert.ok(performance.now() - start < 5000, `took ${performance.now() - start} ms`);
  });

  it('many files under the per-file cap still break the output limit on their total', async () => {
    const t = p.script('for i in 1 2 3 4; do head -c 3145728 /dev/zero > f$i; done; echo > out', { tools: ['head'] });
    const r = await force(rt, t.name);
    assert.equal(r.error?.code, 'GG_E_THUNK_LIMIT');
    assert.match(r.error.message, /broke its output limit/);
  });

  it('a tmpfs /tmp cannot grow past the output limit', async () => {
    const t = p.script('head -c 16777216 /dev/zero > /tmp/big 2> out; ls -l /tmp/big >> out', {
      tools: ['head', 'ls'],
    });
    const r = await force(rt, t.name);
    assert.equal(r.error, undefined, r.error?.message);
    assert.match(p.text(r.value!), /No space left on device|File size limit/);
  });

  it('a memory hog is killed at the memory limit', async () => {
    const t = p.script('dd if=/dev/zero of=/dev/null bs=256M count=1; echo > out', { tools: ['dd'] });
    const r = await force(rt, t.name);
    assert.equal(r.error?.code, 'GG_E_THUNK_LIMIT');
    assert.match(r.error.message, /broke its memory limit/);
  });

  it('work within the limits succeeds', async () => {
    const t = p.script('head -c 1048576 /dev/zero > out; sh -c "true" & wait', { tools: ['head'] });
    const r = await force(rt, t.name);
    assert.equal(r.error, undefined, r.error?.message);
    assert.equal(fs.statSync(p.store.blobPath(r.value!)).size, MiB);
  });
});

describe('bubblewrap jail: the hard time limit', () => {
  let p: JailProject;
  let rt: Runtime;
  before(async () => {
    p = new JailProject();
    rt = await p.runtime({ timeoutMs: 400 });
  });
  after(async () => {
    await rt.close();
    p.remove();
  });

  it('the hard time limit (gg force --timeout) kills the whole process tree, grandchildren included', async () => {
    const marker = `987.${process.pid}`;
    // a thunk's own timeout hint (here 100 ms) kills nothing: only the runtime's hard limit does
    const t = p.script(`sh -c 'sleep ${marker} & sleep ${marker}' & sleep ${marker}`, {
      tools: ['sleep'],
      timeoutMs: 100,
    });
    const start = performance.now();
    const r = await force(rt, t.name);
    assert.equal(r.error?.code, 'GG_E_THUNK_TIMEOUT');
    assert.match(r.error.message, /hard time limit of 400 ms \(gg force --timeout\)/);
    assert.ok(performance.now() - start < 3000);
    // Every sleep (child, grandchild, great-grandchild) is gone, and none became an unreaped zombie.
    for (let i = 0; i < 50 && processesWith(marker).length > 0; i++) await new Promise((res) => setTimeout(res, 20));
    assert.deepEqual(processesWith(marker), []);
  });
});

describe('bubblewrap jail: limits without cgroups (rlimit fallback)', () => {
  it('says so, and still holds a fork bomb and a memory hog', async () => {
    const p = new JailProject();
    const sandbox = await BwrapSandbox.create({ rootsDir: `${p.ggDir}/cache/roots`, cgroups: false });
    try {
      assert.match(sandbox.notice ?? '', /rlimits, not cgroups/);
      const { LocalEngine } = await import('../../src/engine/local-engine.js');
      const engine = new LocalEngine(p.store, sandbox, {
        limits: { maxProcesses: 32, memoryBytes: 64 * MiB, timeoutMs: 3000 },
      });
      const rt = {
        local: p.store,
        store: p.store,
        engine,
        notices: () => [],
        close: () => engine.close(),
      } satisfies Runtime;
      const bomb = p.script('b() { b | b & }; while :; do b; done');
      const start = performance.now();
      const r = await force(rt, bomb.name);
      assert.ok(r.error, 'the bomb does not succeed');
      assert.ok(performance.now() - start < 6000);
      const hog = p.script('dd if=/dev/zero of=/dev/null bs=256M count=1 && echo > out', { tools: ['dd'] });
      const h = await force(rt, hog.name);
      assert.equal(h.error?.code, 'GG_E_THUNK_FAILED');
      assert.match(h.error.message, /memory exhausted|Cannot allocate/);
      await engine.close();
    } finally {
      await sandbox.close();
      p.remove();
    }
  });
});

describe('bubblewrap jail: the process that starts it', () => {
  const jail = jailSuite();

  const parentOf = (pid: number): number => {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  };
  it('a jail dies with the spawner process that started it (killed outright), and the run is retried', async () => {
    const marker = `988.${process.pid}`;
    const t = jail.p.script(`sleep ${marker}; echo > out`, { tools: ['sleep'] });
    const run = force(jail.rt, t.name);
    try {
      await waitUntil('the jailed sleep to start', () => processesWith(marker).length > 0, 5000);
      const [first] = processesWith(marker);
      // sleep < the jail's PID 1 (exec helper) < bubblewrap < the spawner's helper process
      const chain = [first!];
      while (chain.at(-1)! > 1) chain.push(parentOf(chain.at(-1)!));
      const at = chain.findIndex((pid) =>
        fs
          .readFileSync(`/proc/${pid}/cmdline`, 'latin1')
          .split('\0')
          .some((a) => a.endsWith('spawner-child.js') || a.endsWith('/gg-spawner')),
      );
      assert.ok(at >= 2, `premise: a spawner helper started bubblewrap (chain ${chain.join(' < ')})`);
      assert.notEqual(chain[at], process.pid);
      const bwrap = chain[at - 1]!;
      process.kill(chain[at]!, 'SIGKILL');
      await waitUntil('the first jail and its bubblewrap to die', () => ended(first!) && ended(bwrap), 5000);
      // The run failed as the machine's fault, so it starts again (with a new helper): cut its sleep short.
      await waitUntil('the retry', () => processesWith(marker).some((pid) => pid !== first), 5000);
    } finally {
      for (const pid of processesWith(marker)) process.kill(pid, 'SIGKILL');
    }
    // (the script goes on after its sleep dies, so the retry completes)
    const r = await run;
    assert.equal(r.error, undefined, r.error?.message);
    assert.equal(jail.p.text(r.value!), '\n');
  });
});
