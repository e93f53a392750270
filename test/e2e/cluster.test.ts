/**
 * The cluster engine on real hosts: network namespaces on a bridge, made by this test (Redis on its own host,
 * the client on another, workers on three more, a fourth worker whose store uploads are refused), with faults
 * injected while real graphs run: a worker SIGKILLed mid-thunk, one frozen (SIGSTOP, later SIGCONT), one cut
 * off the network, Redis restarted. Results must equal a local force; the memo must hold one answer per
 * thunk, never a late one from the frozen worker. Every namespace is removed at the end, also on failure.
 */
import assert from 'node:assert/strict';
import { spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { GraphBuilder, type InputSpec } from '../../src/frontend/sdk.js';
import { computeName, joinTag } from '../../src/ir/name.js';
import { LocalStore } from '../../src/store/local-store.js';
import { GG, tempDir } from '../helpers/cli.js';
import { NetnsLab, leftovers, netnsAvailable } from '../helpers/netns-lab.js';

const missing = netnsAvailable();
if (missing && process.env['CI']) throw new Error(`the cluster tests need network namespaces: ${missing}`);

const ADMIN_PW = 'adm1n-pw';
const WORKER_PW = 'w0rker-pw';
const EMPTY_OBJECT = computeName(Buffer.alloc(0));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Exited {
  status: number | null;
  stdout: string;
  stderr: string;
}

function collect(child: ChildProcess): Promise<Exited> {
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => child.once('exit', (status) => resolve({ status, stdout, stderr })));
}

describe('cluster engine across network namespaces', { skip: missing }, () => {
  let lab: NetnsLab;
  let scratch: string;
  let redisArgs: string[];
  let redis: ChildProcess;
  let uriClient: string;
  let uriWorker: string;
  const workers = new Map<string, { child: ChildProcess; out: Promise<Exited>; log: () => string }>();

  const startRedis = async (): Promise<void> => {
    redis = lab.spawn('redis', 'redis-server', redisArgs);
    const addr = lab.host('redis').addr;
    for (let i = 0; i < 100; i++) {
      const r = lab.run('client', 'redis-cli', ['-h', addr, '--pass', ADMIN_PW, '--no-auth-warning', 'ping']);
      if (r.stdout.trim() === 'PONG') return;
      await sleep(100);
    }
    throw new Error('redis did not come up');
  };

  const startWorker = (host: string, id: string, extra: string[] = [], storage = uriWorker): void => {
    const child = lab.spawn(host, process.execPath, [
      GG,
      'worker',
      '--storage',
      storage,
      '--jobs',
      '2',
      '--cache-dir',
      path.join(scratch, `cache-${host}`),
      '--cache-size',
      '1G',
      '--lock-duration',
      '3000',
      '--id',
      id,
      ...extra,
    ]);
    let log = '';
    const file = path.join(scratch, `${id}.log`);
    child.stderr?.on('data', (d: Buffer) => {
      log += d.toString();
      fs.appendFileSync(file, d);
    });
    workers.set(id, { child, out: collect(child), log: () => log });
  };

  const liveWorkers = (): {
    live: { id: string; busy: number; rejected: number; failed: number; done: number }[];
    silent: { id: string }[];
  } => {
    const r = lab.run('client', process.execPath, [GG, 'workers', '--storage', uriClient, '--json']);
    assert.equal(r.status, 0, r.stderr);
    return JSON.parse(r.stdout) as ReturnType<typeof liveWorkers>;
  };

  const waitForWorkers = async (ids: string[]): Promise<void> => {
    for (let i = 0; i < 300; i++) {
      const live = new Set(liveWorkers().live.map((w) => w.id));
      if (ids.every((id) => live.has(id))) return;
      await sleep(200);
    }
    throw new Error(
      `workers ${ids.join(', ')} did not register: ${[...workers.values()].map((w) => w.log()).join('\n')}`,
    );
  };

  before(async () => {
    lab = new NetnsLab();
    for (const h of ['redis', 'client', 'w1', 'w2', 'w3', 'w4']) lab.addHost(h);
    // The jail's per-slot users must reach the caches: not under a private (0700) temp directory.
    scratch = fs.mkdtempSync(path.join(fs.existsSync('/var/tmp') ? '/var/tmp' : os.tmpdir(), 'gg-i11-cluster-'));
    fs.chmodSync(scratch, 0o755);
    process.stderr.write(`# cluster test logs in ${scratch}\n`);
    const redisDir = path.join(scratch, 'redis');
    fs.mkdirSync(redisDir);
    const addr = lab.host('redis').addr;
    // Persistence on: a restarted Redis must come back with the queue and the store (fsync on every write).
    // Authentication: no default user; the client and the workers each log in as their own ACL user, and
    // one worker's user may read the store but not write objects (its uploads fail).
    redisArgs = [
      '--bind',
      addr,
      '--port',
      '6379',
      '--dir',
      redisDir,
      '--save',
      '',
      '--appendonly',
      'yes',
      '--appendfsync',
      'always',
      '--loglevel',
      'warning',
      ...['--user', 'default', 'on', `>${ADMIN_PW}`, '~*', '&*', '+@all'],
      ...[
        '--user',
        'noupload',
        'on',
        `>${WORKER_PW}`,
        '%R~*',
        '~gg:*',
        '~reduction:*',
        `~${EMPTY_OBJECT}`,
        '&*',
        '+@all',
      ],
    ];
    await startRedis();
    uriClient = `redis://:${ADMIN_PW}@${addr}:6379/0`;
    uriWorker = uriClient;
    startWorker('w1', 'w1');
    startWorker('w2', 'w2');
    startWorker('w3', 'w3');
    // Reads the store, runs thunks, and has every upload refused by the server (NOPERM).
    startWorker('w4', 'w4', ['--queue', uriWorker], `redis://noupload:${WORKER_PW}@${addr}:6379/0`);
    await waitForWorkers(['w1', 'w2', 'w3', 'w4']);
  });

  after(async () => {
    for (const w of workers.values()) w.child.kill('SIGKILL');
    redis?.kill('SIGKILL');
    lab?.destroy();
    // The kernel removes a deleted namespace's links asynchronously.
    for (let i = 0; i < 50 && leftovers().length > 0; i++) await sleep(100);
    assert.deepEqual(leftovers(), [], 'every namespace and link is removed');
    if (process.env['GG_KEEP_LOGS'] === undefined) fs.rmSync(scratch, { recursive: true, force: true });
  });

  /** redis-cli on the client host, as admin. */
  const cli = (...args: string[]): string => {
    const r = lab.run('client', 'redis-cli', [
      '-h',
      lab.host('redis').addr,
      '--pass',
      ADMIN_PW,
      '--no-auth-warning',
      ...args,
    ]);
    assert.equal(r.status, 0, r.stderr);
    return r.stdout.trim();
  };

  it(
    'forces a graph through worker kill, freeze, link cut, Redis restart and refused uploads; results equal a local force',
    { timeout: 240_000 },
    async () => {
      const dir = tempDir('gg-i11-proj-');
      spawnSync(process.execPath, [GG, 'init'], { cwd: dir });
      const store = new LocalStore(path.join(dir, '.gg'));
      const g = new GraphBuilder(store);
      const sh = g.executableFile('/bin/dash');
      const thunk = (script: string, thunks: InputSpec[] = []): string =>
        g.thunk({
          function: sh.name,
          executables: sh.inputs,
          args: ['sh', '-c', script],
          outputs: ['out'],
          thunks,
          env: { PATH: '/usr/bin:/bin' },
        }).name;
      const LEAVES = 100;
      const leaves = Array.from({ length: LEAVES }, (_, i) => thunk(`sleep 0.2; echo ${i} > out`));
      // Nondeterministic on purpose: a second run (a duplicate, a frozen worker waking up) would differ.
      const nondet = Array.from({ length: 6 }, (_, i) =>
        thunk(`sleep 1; echo ${i} $(cat /proc/sys/kernel/random/uuid) > out`),
      );
      store.hashCache.flush();

      const force = lab.spawn(
        'client',
        process.execPath,
        [GG, 'force', '--engine', 'cluster', '--storage', uriClient, '--json', '-v', '-j', '64', ...leaves, ...nondet],
        { cwd: dir },
      );
      force.stderr?.on('data', (d: Buffer) => fs.appendFileSync(path.join(scratch, 'force.log'), d));
      const done = collect(force);
      await sleep(2500); // every worker is busy by now
      workers.get('w1')!.child.kill('SIGKILL'); // mid-thunk
      await sleep(1000);
      workers.get('w2')!.child.kill('SIGSTOP');
      startWorker('w1', 'w1b'); // a replacement joins while the job runs
      await sleep(1000);
      lab.setLink('w3', false);
      await sleep(2000);
      redis.kill('SIGTERM');
      await new Promise((r) => redis.once('exit', r));
      redis = lab.spawn('redis', 'redis-server', redisArgs);
      await sleep(3000);
      lab.setLink('w3', true);
      await sleep(2000);
      workers.get('w2')!.child.kill('SIGCONT');
      const r = await done;
      assert.equal(
        r.status,
        0,
        `gg force failed:\n${r.stderr.slice(-4000)}\n${[...workers.entries()].map(([id, w]) => `--- ${id}\n${w.log().slice(-2000)}`).join('\n')}`,
      );
      const summary = JSON.parse(r.stdout) as {
        targets: { ref: string; result?: string }[];
        executed: number;
        speculation: { duplicates: number };
      };
      // A local force computes exactly these (each leaf prints its number).
      for (const [i] of leaves.entries()) assert.equal(summary.targets[i]!.result, computeName(Buffer.from(`${i}\n`)));
      for (const [i, leaf] of leaves.entries())
        assert.equal(cli('GET', `reduction:${leaf}`), computeName(Buffer.from(`${i}\n`)));
      // The frozen worker woke up with stale jobs: give it time to finish them, then the memo must be unchanged.
      await sleep(5000);
      for (const [i, t] of nondet.entries()) {
        const result = summary.targets[LEAVES + i]!.result!;
        assert.equal(cli('GET', `reduction:${t}`), result, 'the first recorded result stands');
        assert.equal(cli('GET', `reduction:${joinTag(t, 'out')}`), result);
      }
      const list = liveWorkers();
      assert.deepEqual(new Set(list.live.map((w) => w.id)), new Set(['w1b', 'w2', 'w3', 'w4']));
      assert.ok(
        list.live.find((w) => w.id === 'w4')!.done === 0,
        'the worker whose uploads are refused finished nothing',
      );
      assert.match(workers.get('w4')!.log(), /NOPERM|infrastructure failures/);
      store.hashCache.flush();
    },
  );
});
