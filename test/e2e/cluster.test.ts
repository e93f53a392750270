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
import { GG, REPO, tempDir } from '../helpers/cli.js';
import { HELLO, cProject, isElf, isPlaceholder, shOk } from '../helpers/c-project.js';
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

  const startWorker = (
    host: string,
    id: string,
    extra: string[] = [],
    storage = uriWorker,
    env: NodeJS.ProcessEnv = process.env,
  ): void => {
    const child = lab.spawn(
      host,
      process.execPath,
      [
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
      ],
      { env },
    );
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

  /** Shell thunks (dash, sleep and cat in the jail) written into the project at `dir`. */
  const jailShell = (
    dir: string,
  ): {
    g: GraphBuilder;
    sh: string;
    tools: InputSpec[];
    thunk: (script: string, thunks?: InputSpec[]) => string;
    close: () => void;
  } => {
    const store = new LocalStore(path.join(dir, '.gg'));
    const g = new GraphBuilder(store);
    const sh = g.executableFile('/bin/dash');
    // The jail holds only declared programs: sleep and cat come along.
    const tools = [...sh.inputs, ...['sleep', 'cat'].flatMap((t) => g.executableFile(`/usr/bin/${t}`).inputs)];
    const thunk = (script: string, thunks: InputSpec[] = []): string =>
      g.thunk({
        function: sh.name,
        executables: tools,
        args: ['sh', '-c', script],
        outputs: ['out'],
        thunks,
        env: { PATH: '/usr/bin:/bin' },
      }).name;
    return { g, sh: sh.name, tools, thunk, close: () => store.hashCache.flush() };
  };

  /** A new project on the client with shell thunks. */
  const shellProject = (): {
    dir: string;
    thunk: (script: string, thunks?: InputSpec[]) => string;
    close: () => void;
  } => {
    const dir = tempDir('gg-i11-proj-');
    spawnSync(process.execPath, [GG, 'init'], { cwd: dir });
    const { thunk, close } = jailShell(dir);
    return { dir, thunk, close };
  };

  const forceOn = (dir: string, targets: string[], extra: string[] = []): ChildProcess =>
    lab.spawn(
      'client',
      process.execPath,
      [GG, 'force', '--engine', 'cluster', '--storage', uriClient, '--json', '-j', '64', ...extra, ...targets],
      { cwd: dir },
    );

  /** A counter summed over every registered worker (as `gg workers` shows them), read with one redis-cli call. */
  const sum = (key: 'done' | 'failed' | 'rejected'): number =>
    Number(
      cli(
        'EVAL',
        "local n = 0 for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do n = n + tonumber(redis.call('HGET', 'gg:worker:' .. id, ARGV[1]) or '0') end return n",
        '1',
        'gg:workers',
        key,
      ),
    );

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
      // A small C project through gg infer (compiles, an archive, a link: gcc's toolchain goes to the store and
      // to every worker), forced together with a few hundred trivial thunks.
      const dir = cProject(HELLO);
      shOk(dir, 'gg infer make -j2 >/dev/null');
      assert.ok(isPlaceholder(path.join(dir, 'hello')));
      const { g, sh, tools, thunk, close } = jailShell(dir);
      const LEAVES = Number(process.env['GG_CLUSTER_LEAVES'] ?? 200);
      const leaves = Array.from({ length: LEAVES }, (_, i) => thunk(`sleep 0.2; echo ${i} > out`));
      // Fan-in: runs only after every leaf, so a leaf lost to a fault would hang it.
      const parts = leaves.map((l, i) => ({ ref: l, filename: `p${String(i).padStart(4, '0')}` }));
      const fanIn = g.fanIn(parts, {
        function: sh,
        executables: tools,
        args: ['sh', '-c', 'for f in p*; do read -r l < $f; echo "$l"; done > out'],
        outputs: ['out'],
        env: { PATH: '/usr/bin:/bin' },
      }).name;
      // Nondeterministic on purpose: a second run (a duplicate, a frozen worker waking up) would differ.
      const nondet = Array.from({ length: 6 }, (_, i) =>
        thunk(`sleep 1; echo ${i} $(cat /proc/sys/kernel/random/uuid) > out`),
      );
      close();
      const localCopy = path.join(tempDir('gg-i11-local-'), 'proj');
      shOk(dir, `cp -a . '${localCopy}'`);

      const force = lab.spawn(
        'client',
        process.execPath,
        [
          GG,
          'force',
          '--engine',
          'cluster',
          '--storage',
          uriClient,
          '--json',
          '-v',
          '-j',
          '64',
          ...leaves,
          ...nondet,
          fanIn,
          'hello',
        ],
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
      assert.equal(
        summary.targets[LEAVES + nondet.length]!.result,
        computeName(Buffer.from(leaves.map((_, i) => `${i}\n`).join(''))),
      );
      // The frozen worker woke up with stale jobs: give it time to finish them, then the memo must be unchanged.
      await sleep(5000);
      for (const [i, t] of nondet.entries()) {
        const result = summary.targets[LEAVES + i]!.result!;
        assert.equal(cli('GET', `reduction:${t}`), result, 'the first recorded result stands');
        assert.equal(cli('GET', `reduction:${joinTag(t, 'out')}`), result);
      }
      // The program built on the cluster is bit-identical to one built by a local force of the same project.
      assert.ok(
        isElf(path.join(dir, 'hello')),
        `hello was not built: ${JSON.stringify(summary.targets.at(-1))} ${fs.readFileSync(path.join(dir, 'hello'), 'latin1').slice(0, 200)}`,
      );
      shOk(localCopy, 'gg force -s -j2 hello');
      assert.deepEqual(fs.readFileSync(path.join(dir, 'hello')), fs.readFileSync(path.join(localCopy, 'hello')));
      assert.equal(shOk(dir, './hello'), 'hello, world HELLO, WORLD main.c\n');
      const list = liveWorkers();
      assert.deepEqual(new Set(list.live.map((w) => w.id)), new Set(['w1b', 'w2', 'w3', 'w4']));
      assert.ok(
        list.live.find((w) => w.id === 'w4')!.done === 0,
        'the worker whose uploads are refused finished nothing',
      );
      assert.match(workers.get('w4')!.log(), /NOPERM|infrastructure failures/);
      close();
    },
  );
  it(
    'moves a job placed on a worker that is killed while running it to another worker',
    { timeout: 120_000 },
    async () => {
      const p = shellProject();
      // The chain makes placement certain: the second thunk is queued only after the first one's result taught
      // the client which worker holds the shell (> 64 KiB of inputs), and it is placed on that worker.
      const first = p.thunk(`echo placed-${process.pid} > out`);
      const second = p.thunk('read -r l < in; sleep 4; echo "$l" > out', [{ name: first, filename: 'in' }]);
      p.close();
      const done = collect(forceOn(p.dir, [second]));
      let victim: string | undefined;
      for (let i = 0; i < 200 && victim === undefined; i++) {
        for (const id of ['w1b', 'w2', 'w3'])
          if (Number(cli('LLEN', `gg:w-${id}:active`)) > 0 && cli('LRANGE', `gg:w-${id}:active`, '0', '-1') !== '')
            victim = id;
        await sleep(100);
      }
      assert.ok(victim, 'the second thunk was placed on a worker');
      workers.get(victim)!.child.kill('SIGKILL');
      const r = await done;
      assert.equal(r.status, 0, r.stderr.slice(-3000));
      const summary = JSON.parse(r.stdout) as { targets: { result?: string }[] };
      assert.equal(summary.targets[0]!.result, computeName(Buffer.from(`placed-${process.pid}\n`)));
      startWorker(victim === 'w1b' ? 'w1' : victim, `${victim}r`);
      await waitForWorkers([`${victim}r`]);
    },
  );

  it(
    'rejects and logs hostile job payloads, keeps serving, and fails a failing thunk once (no retry)',
    { timeout: 120_000 },
    async () => {
      const rejectedBefore = sum('rejected');
      // Written straight into the shared queue, as anyone who can reach the Redis server could.
      const hostile = [
        'null',
        '"a string"',
        '{"v":1,"thunk":"../../../etc/passwd","client":"x"}',
        '{"v":1,"thunk":"T' + 'A'.repeat(60) + '","client":"x"}',
        '{"v":2,"thunk":"x","client":"x"}',
        '{"v":1,"thunk":"x","client":"x","cmd":"rm -rf /"}',
        '{"v":1,"client":"$(reboot)"}',
        '{"v":2,"thunks":["../../../etc/passwd"],"client":"x"}',
        '{"v":2,"thunks":[],"client":"x"}',
        '{"v":2,"thunks":' + JSON.stringify(Array(9).fill('T' + 'A'.repeat(43))) + ',"client":"x"}',
      ];
      const script = `import { Queue } from 'bullmq';
const q = new Queue('thunks', { connection: { host: '${lab.host('redis').addr}', port: 6379, password: '${ADMIN_PW}' }, prefix: 'gg' });
for (const [i, d] of [${hostile.join(',')}].entries()) await q.add('thunk', d, { jobId: 'hostile-' + i });
await q.close();`;
      const added = lab.run('client', process.execPath, ['--input-type=module', '-e', script], { cwd: REPO });
      assert.equal(added.status, 0, added.stderr);
      for (let i = 0; i < 100 && sum('rejected') - rejectedBefore < hostile.length; i++) await sleep(200);
      assert.equal(sum('rejected') - rejectedBefore, hostile.length, 'every hostile job was rejected');
      const logged = (): number =>
        [...workers.values()]
          .map((w) => w.log())
          .join('\n')
          .match(/job hostile-\d+: rejected a malformed job/g)?.length ?? 0;
      for (let i = 0; i < 50 && logged() < hostile.length; i++) await sleep(100);
      assert.equal(logged(), hostile.length, 'every hostile job is logged');

      // A program's own failure is final: one run, one failure, no retry on another worker.
      const p = shellProject();
      const failing = p.thunk(`echo failing-${process.pid}; exit 3`);
      const fine = p.thunk(`echo fine-${process.pid} > out`);
      p.close();
      const failedBefore = sum('failed');
      const r = await collect(forceOn(p.dir, [failing, fine]));
      assert.notEqual(r.status, 0);
      assert.match(r.stderr, /error\[GG_E_THUNK_FAILED\].*exited with status 3/);
      const summary = JSON.parse(r.stdout) as { targets: { result?: string }[] };
      assert.equal(
        summary.targets[1]!.result,
        computeName(Buffer.from(`fine-${process.pid}\n`)),
        'the workers kept serving',
      );
      await sleep(2 * 1000); // counters are published with the heartbeat
      assert.equal(sum('failed') - failedBefore, 1, 'the failing thunk ran exactly once');
    },
  );

  it(
    'refuses a wrong Redis password with a clear GG_E_ error (client, worker, gg workers)',
    { timeout: 60_000 },
    () => {
      const addr = lab.host('redis').addr;
      const wrong = `redis://:not-the-password@${addr}:6379/0`;
      const p = shellProject();
      const t = p.thunk('echo x > out');
      p.close();
      const force = lab.run('client', process.execPath, [GG, 'force', '--engine', 'cluster', '--storage', wrong, t], {
        cwd: p.dir,
        timeoutMs: 30_000,
      });
      assert.equal(force.status, 1, force.stderr);
      assert.match(force.stderr, /^error\[GG_E_STORAGE_AUTH\]: .*(WRONGPASS|invalid username-password)/m);
      assert.doesNotMatch(force.stderr, /not-the-password/, 'the password is not echoed');
      const queueWrong = lab.run(
        'client',
        process.execPath,
        [GG, 'force', '--engine', `cluster=${wrong}`, '--storage', uriClient, t],
        { cwd: p.dir, timeoutMs: 30_000 },
      );
      assert.notEqual(queueWrong.status, 0, queueWrong.stderr);
      assert.match(queueWrong.stderr, /^error\[GG_E_STORAGE_AUTH\]: /m);
      const worker = lab.run(
        'w3',
        process.execPath,
        [GG, 'worker', '--storage', wrong, '--cache-dir', path.join(scratch, 'cache-wrong'), '--id', 'wrong'],
        { timeoutMs: 30_000 },
      );
      assert.notEqual(worker.status, 0, worker.stderr);
      assert.match(worker.stderr, /^error\[GG_E_STORAGE_AUTH\]: /m);
      const list = lab.run('client', process.execPath, [GG, 'workers', '--storage', wrong], { timeoutMs: 30_000 });
      assert.notEqual(list.status, 0, list.stderr);
      assert.match(list.stderr, /^error\[GG_E_STORAGE_AUTH\]: /m);
    },
  );

  it(
    'Ctrl-C on gg force cancels its queued and running thunks; a second force completes',
    { timeout: 120_000 },
    async () => {
      const p = shellProject();
      const slow = Array.from({ length: 12 }, (_, i) => p.thunk(`sleep 2; echo slow-${process.pid}-${i} > out`));
      p.close();
      const force = lab.spawn(
        'client',
        process.execPath,
        [GG, 'force', '--engine', 'cluster', '--storage', uriClient, '--json-events', '-j', '64', ...slow],
        { cwd: p.dir },
      );
      let events = '';
      force.stdout?.on('data', (d: Buffer) => (events += d.toString()));
      const done = collect(force);
      // Interrupted once its thunks are queued and some run on workers.
      for (let i = 0; i < 300 && (events.match(/"type":"started"/g)?.length ?? 0) < 6; i++) await sleep(100);
      await sleep(1500);
      assert.ok(
        liveWorkers().live.some((w) => w.busy > 0),
        'thunks are running on the workers',
      );
      force.kill('SIGINT');
      const r = await done;
      assert.equal(r.status, 130, r.stderr.slice(-2000));
      assert.match(r.stderr, /interrupted/);
      // Nothing of it is left queued, and the running ones stop.
      for (let i = 0; i < 100 && liveWorkers().live.some((w) => w.busy > 0); i++) await sleep(200);
      const waiting = cli(
        'EVAL',
        "local n = 0 for _, k in ipairs(redis.call('KEYS', 'gg:*:wait')) do n = n + redis.call('LLEN', k) end return n",
        '0',
      );
      assert.equal(Number(waiting), 0, "no job left waiting, on the shared queue or a worker's own");
      assert.deepEqual(
        liveWorkers()
          .live.filter((w) => w.busy > 0)
          .map((w) => w.id),
        [],
        'no worker still runs a cancelled thunk',
      );
      const again = await collect(forceOn(p.dir, slow));
      assert.equal(again.status, 0, again.stderr.slice(-2000));
      const summary = JSON.parse(again.stdout) as { targets: { result?: string }[] };
      for (const [i] of slow.entries())
        assert.equal(summary.targets[i]!.result, computeName(Buffer.from(`slow-${process.pid}-${i}\n`)));
    },
  );
  it(
    'runs over TLS (rediss://) with a CA the test made; without the CA the client refuses the server',
    { timeout: 120_000 },
    async () => {
      const addr = lab.host('redis').addr;
      const dir = path.join(scratch, 'tls');
      fs.mkdirSync(dir);
      const openssl = (...args: string[]): void => {
        const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
        assert.equal(r.status, 0, r.stderr);
      };
      const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
      openssl(
        'req',
        '-x509',
        ...ec,
        '-keyout',
        'ca.key',
        '-out',
        'ca.crt',
        '-days',
        '1',
        '-subj',
        '/CN=gg-i11-test-ca',
      );
      openssl('req', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=gg-i11-redis');
      fs.writeFileSync(path.join(dir, 'san.ext'), `subjectAltName=IP:${addr}\n`);
      openssl(
        ...['x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial'],
        ...['-out', 'server.crt', '-days', '1', '-extfile', 'san.ext'],
      );
      fs.chmodSync(path.join(dir, 'server.key'), 0o644);
      const tlsRedis = lab.spawn('redis', 'redis-server', [
        ...['--bind', addr, '--port', '0', '--tls-port', '6380', '--save', '', '--appendonly', 'no'],
        ...['--tls-cert-file', path.join(dir, 'server.crt'), '--tls-key-file', path.join(dir, 'server.key')],
        ...['--tls-ca-cert-file', path.join(dir, 'ca.crt'), '--tls-auth-clients', 'no'],
        ...['--requirepass', ADMIN_PW, '--dir', dir, '--loglevel', 'warning'],
      ]);
      try {
        const uri = `rediss://:${ADMIN_PW}@${addr}:6380/0`;
        // Node's own setting for an extra trusted CA: the client and the worker trust the test's CA with it.
        const env = { ...process.env, NODE_EXTRA_CA_CERTS: path.join(dir, 'ca.crt') };
        for (let i = 0; i < 100; i++) {
          const r = lab.run('client', 'redis-cli', [
            ...['--tls', '--cacert', path.join(dir, 'ca.crt'), '-h', addr, '-p', '6380'],
            ...['--pass', ADMIN_PW, '--no-auth-warning', 'ping'],
          ]);
          if (r.stdout.trim() === 'PONG') break;
          await sleep(100);
        }
        startWorker('w3', 'tls1', ['--cache-dir', path.join(scratch, 'cache-tls')], uri, env);
        const p = shellProject();
        const targets = Array.from({ length: 5 }, (_, i) => p.thunk(`echo tls-${i} > out`));
        p.close();
        const untrusted = lab.run(
          'client',
          process.execPath,
          [GG, 'force', '--engine', 'cluster', '--storage', uri, ...targets],
          {
            cwd: p.dir,
            timeoutMs: 30_000,
          },
        );
        assert.notEqual(untrusted.status, 0);
        assert.match(untrusted.stderr, /^error\[GG_E_STORAGE_\w+\]: .*certificate/m);
        for (let i = 0; i < 100 && !workers.get('tls1')!.log().includes('slots'); i++) await sleep(200);
        assert.match(workers.get('tls1')!.log(), /gg worker tls1: 2 slots/);
        const r = lab.run(
          'client',
          process.execPath,
          [GG, 'force', '--engine', 'cluster', '--storage', uri, '--json', ...targets],
          { cwd: p.dir, env, timeoutMs: 90_000 },
        );
        assert.equal(r.status, 0, r.stderr);
        const summary = JSON.parse(r.stdout) as { targets: { result?: string }[]; executed: number };
        for (const [i] of targets.entries())
          assert.equal(summary.targets[i]!.result, computeName(Buffer.from(`tls-${i}\n`)));
        assert.equal(summary.executed, 5);
        // The worker reached the store through TLS too: the results are there, read back over TLS.
        const got = lab.run('client', 'redis-cli', [
          ...['--tls', '--cacert', path.join(dir, 'ca.crt'), '-h', addr, '-p', '6380'],
          ...['--pass', ADMIN_PW, '--no-auth-warning', 'GET', `reduction:${targets[0]!}`],
        ]);
        assert.equal(got.stdout.trim(), computeName(Buffer.from('tls-0\n')));
      } finally {
        workers.get('tls1')?.child.kill('SIGKILL');
        workers.delete('tls1');
        tlsRedis.kill('SIGKILL');
      }
    },
  );
});
