/**
 * The cluster engine against the local engine, side by side in one run (Redis and workers on 127.0.0.1):
 *  1. 10,000 independent trivial thunks: local engine -j2 vs 2 workers x 2 slots (thunks/s);
 *  2. a chain of 300 dependent trivial thunks: per-thunk dispatch overhead in ms (cluster - local, medians of
 *     --repeat alternating runs);
 *  3. bytes moved with and without placement: chains of thunks over large inputs, on 4 workers;
 *  4. time lost to one frozen worker (SIGSTOP) with and without straggler duplicates.
 * Usage: node dist/bench/cluster.js [--count N] [--chain N] [--repeat N] [--sandbox none|bwrap] [--only 1,2,3,4]
 *                                  [--base DIR]
 * --base DIR: another built checkout (a worktree of main): parts 1 and 2 also run its client and workers, in
 * the same rounds, for a before/after under the same load.
 * Work happens under $TMPDIR (use /var/tmp on the development VM).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { GraphBuilder, type InputSpec } from '../src/frontend/sdk.js';
import { LocalStore } from '../src/store/local-store.js';
import { startRedis, type RunningServer } from '../test/helpers/servers.js';

const GG = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../src/cli/main.js');
const arg = (flag: string, dflt: string): string => {
  const i = process.argv.indexOf(flag);
  return i >= 0 ? process.argv[i + 1]! : dflt;
};
const COUNT = Number(arg('--count', '10000'));
const CHAIN = Number(arg('--chain', '300'));
const REPEAT = Number(arg('--repeat', '5'));
const SANDBOX = arg('--sandbox', 'none');
const ONLY = new Set(arg('--only', '1,2,3,4').split(','));
const BASE_DIR = arg('--base', '');
const BASE_GG = BASE_DIR ? path.resolve(BASE_DIR, 'dist/src/cli/main.js') : '';
if (BASE_GG && !fs.existsSync(BASE_GG)) throw new Error(`--base: ${BASE_GG} is missing (build that checkout first)`);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Summary {
  executed: number;
  wall_ms: number;
  /** CPU seconds of the `gg force` process and its children (bash's `time`), added here. */
  cpu_s?: number;
  engine: Record<string, number>;
  speculation?: { duplicates: number; won: number; saved_ms: number };
}

interface Project {
  dir: string;
  g: GraphBuilder;
  store: LocalStore;
  thunk: (script: string, o?: { thunks?: InputSpec[]; values?: InputSpec[] }) => string;
}

function project(): Project {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gg-bench-cluster-'));
  spawnSync(process.execPath, [GG, 'init'], { cwd: dir });
  const store = new LocalStore(path.join(dir, '.gg'));
  const g = new GraphBuilder(store);
  const sh =
    SANDBOX === 'none' ? { name: g.file('/bin/dash'), inputs: [] as InputSpec[] } : g.executableFile('/bin/dash');
  const thunk = (script: string, o: { thunks?: InputSpec[]; values?: InputSpec[] } = {}): string =>
    g.thunk({
      function: sh.name,
      executables: sh.inputs,
      args: ['sh', '-c', script],
      outputs: ['out'],
      ...o,
      env: { PATH: '/usr/bin:/bin' },
    }).name;
  return { dir, g, store, thunk };
}

async function force(p: Project, targets: string[], args: string[], gg = GG): Promise<Summary> {
  p.store.hashCache.flush();
  const list = path.join(p.dir, 'targets.txt');
  fs.writeFileSync(list, targets.join('\n'));
  const r = spawnSync(
    'bash',
    [
      '-c',
      `TIMEFORMAT='cpu %3U %3S'; time node ${process.env['GG_BENCH_FORCE_NODE_FLAGS'] ?? ''} ${gg} force --sandbox=${SANDBOX} --json ${args.join(' ')} $(cat ${list})`,
    ],
    { cwd: p.dir, encoding: 'utf8', maxBuffer: 1 << 30 },
  );
  if (r.status !== 0) throw new Error(`gg force failed: ${r.stderr.slice(-3000)}`);
  const cpu = /cpu ([\d.]+) ([\d.]+)\s*$/.exec(r.stderr);
  return { ...(JSON.parse(r.stdout) as Summary), ...(cpu ? { cpu_s: Number(cpu[1]) + Number(cpu[2]) } : {}) };
}

/** Redis's own CPU seconds and commands served so far (INFO), to cost a job on the queue's server. */
function redisCounters(port: number): { cpuS: number; commands: number } {
  const r = spawnSync('redis-cli', ['-p', String(port), 'INFO'], { encoding: 'utf8' });
  const field = (k: string): number => Number(new RegExp(`^${k}:([\\d.]+)`, 'm').exec(r.stdout)?.[1] ?? NaN);
  return { cpuS: field('used_cpu_user') + field('used_cpu_sys'), commands: field('total_commands_processed') };
}

/** CPU seconds of a process itself (/proc/PID/stat utime+stime). */
function procCpu(pid: number): { self: number } {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const v = f
    .slice(f.lastIndexOf(')') + 2)
    .split(' ')
    .map(Number);
  const hz = 100; // USER_HZ on Linux
  return { self: (v[11]! + v[12]!) / hz };
}

class Cluster {
  readonly workers: ChildProcess[] = [];
  private constructor(
    readonly redis: RunningServer,
    readonly root: string,
  ) {}

  static async start(n: number, jobs: number, extra: string[] = [], gg = GG): Promise<Cluster> {
    const redis = await startRedis();
    const c = new Cluster(redis, fs.mkdtempSync(path.join(os.tmpdir(), 'gg-bench-workers-')));
    for (let i = 0; i < n; i++) {
      const w = spawn(
        process.execPath,
        [
          gg,
          'worker',
          '--storage',
          redis.uri,
          '--jobs',
          String(jobs),
          '--sandbox',
          SANDBOX,
          '--cache-dir',
          path.join(c.root, `w${i}`),
          '--id',
          `bench${i}`,
          ...extra,
        ],
        { stdio: ['ignore', 'ignore', 'pipe'] },
      );
      w.stderr?.resume();
      c.workers.push(w);
    }
    for (let t = 0; t < 200; t++) {
      const r = spawnSync(process.execPath, [GG, 'workers', '--storage', redis.uri, '--json'], { encoding: 'utf8' });
      if (r.status === 0 && (JSON.parse(r.stdout) as { live: unknown[] }).live.length === n) return c;
      await sleep(100);
    }
    throw new Error('workers did not register');
  }

  /** Thunks a worker has finished, from its heartbeat in `gg workers --json` (0 if it is not listed). */
  done(id: string): number {
    const r = spawnSync(process.execPath, [GG, 'workers', '--storage', this.redis.uri, '--json'], { encoding: 'utf8' });
    if (r.status !== 0) return 0;
    const live = (JSON.parse(r.stdout) as { live: { id: string; done: number }[] }).live;
    return live.find((w) => w.id === id)?.done ?? 0;
  }

  async stop(): Promise<void> {
    for (const w of this.workers) {
      w.kill('SIGCONT');
      w.kill('SIGKILL');
    }
    await this.redis.stop();
    fs.rmSync(this.root, { recursive: true, force: true });
  }
}

const fmt = (n: number, d = 2): string => n.toFixed(d);
/** The result message leaves with the memo claim (one Redis for store and queue): its time is not in the stats. */
const UPLOAD_NOTE =
  "  (*) upload+memo: until the memo claim is sent; the claim itself carries the result message when the store is the queue's Redis, so its round trip is not counted there";

interface ClusterRun {
  label: string;
  s: Summary;
  redis: { cpuS: number; commands: number };
  workerSelf: number;
}

/** One cluster force of `names` on a fresh Redis and 2 fresh workers x 2 slots, with Redis's and the workers' CPU. */
async function clusterRun(p: Project, names: string[], jobs: number, label: string, gg = GG): Promise<ClusterRun> {
  const c = await Cluster.start(2, 2, [], gg);
  try {
    const before = redisCounters(c.redis.port);
    const w0 = c.workers.map((w) => procCpu(w.pid!));
    const s = await force(p, names, ['--engine', 'cluster', '--storage', c.redis.uri, '-j', String(jobs)], gg);
    const after = redisCounters(c.redis.port);
    let workerSelf = 0;
    c.workers.forEach((w, i) => (workerSelf += procCpu(w.pid!).self - w0[i]!.self));
    return {
      label,
      s,
      redis: { cpuS: after.cpuS - before.cpuS, commands: after.commands - before.commands },
      workerSelf,
    };
  } finally {
    await c.stop();
  }
}

async function throughput(): Promise<void> {
  const p = project();
  const names = Array.from({ length: COUNT }, (_, i) => p.thunk(`echo ${i} > out`));
  const local = await force(p, names, ['--engine', 'local', '-j', '2']);
  // -j 64 keeps a deep backlog (jobs carry several thunks); -j 4 = the workers' slots (one thunk per job).
  const runs: ClusterRun[] = [];
  for (const [jobs, label] of [
    [64, 'cluster, 2 workers x 2 slots, -j 64'],
    [4, 'cluster, same, -j 4 (1 thunk per job)'],
  ] as const) {
    for (const gg of BASE_GG ? [GG, BASE_GG] : [GG]) {
      fs.rmSync(path.join(p.dir, '.gg/reductions'), { recursive: true });
      fs.mkdirSync(path.join(p.dir, '.gg/reductions'));
      runs.push(await clusterRun(p, names, jobs, gg === GG ? label : `BASE ${label}`, gg));
    }
  }
  const rate = (s: Summary): number => s.executed / (s.wall_ms / 1000);
  const ms = (s: number): string => fmt((s * 1000) / COUNT, 3);
  console.log(`\n1. ${COUNT} independent trivial thunks, sandbox=${SANDBOX}, ${os.cpus().length} cores`);
  console.log(`  ${'engine'.padEnd(40)}${'wall s'.padStart(8)}${'thunks/s'.padStart(10)}  ratio  CPU ms/thunk`);
  console.log(
    `  ${'local, -j2'.padEnd(40)}${fmt(local.wall_ms / 1000).padStart(8)}${fmt(rate(local), 0).padStart(10)}  1.00   ${ms(local.cpu_s ?? NaN)} (all of it: scheduler, spawn, the thunk)`,
  );
  for (const r of runs)
    console.log(
      `  ${r.label.padEnd(40)}${fmt(r.s.wall_ms / 1000).padStart(8)}${fmt(rate(r.s), 0).padStart(10)}  ${fmt(r.s.wall_ms / local.wall_ms)}   coordinator ${ms(r.s.cpu_s ?? NaN)}, Redis ${ms(r.redis.cpuS)}, worker processes ${ms(r.workerSelf)}`,
    );
  // What each thunk costs the parts that do not grow with the number of workers: these bound the throughput
  // of one coordinator and one Redis, whatever the workers (the simulation, bench/sim.ts, is calibrated here).
  for (const r of runs) {
    const e = r.s.engine;
    console.log(
      `  ${r.label}: ${e['jobs']} BullMQ jobs (${fmt(COUNT / e['jobs']!, 1)} thunks per job), ${fmt(r.redis.commands / COUNT, 1)} Redis commands per thunk; on the workers per thunk: fetch ${fmt(e['fetchMs']! / COUNT)} ms, run ${fmt(e['runMs']! / COUNT)} ms, upload+memo ${fmt(e['uploadMs']! / COUNT)} ms (*)`,
    );
    console.log(
      `    => one coordinator saturates at ~${fmt(COUNT / (r.s.cpu_s ?? NaN), 0)} thunks/s, one Redis at ~${fmt(COUNT / r.redis.cpuS, 0)} thunks/s (1 core each, CPU-bound)`,
    );
  }
  console.log(UPLOAD_NOTE);
  fs.rmSync(p.dir, { recursive: true, force: true });
}

async function chain(): Promise<void> {
  // Timings on a shared machine wander: local and cluster alternate, REPEAT times each (a new chain every
  // time, so nothing is memoized), and the medians are compared. One cluster serves every cluster run.
  const p = project();
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const local: number[] = [];
  const cluster: number[] = [];
  const base: number[] = [];
  const onWorkers: { fetch: number; run: number; upload: number }[] = [];
  // Per run, wall per thunk minus the workers' own time per thunk (fetch, run, upload): the hand-offs and the
  // scheduler, without the spawn time that a loaded machine varies most.
  const outside = { this: [] as number[], base: [] as number[] };
  const outsideOf = (s: Summary): number =>
    (s.wall_ms - s.engine['fetchMs']! - s.engine['runMs']! - s.engine['uploadMs']!) / CHAIN;
  // CPU per chained thunk of the three processes a hop goes through, and Redis commands (scripts' own count):
  // steadier than wall time on a loaded machine. The client's includes its start-up (the same for both).
  const costs = { this: [] as HopCost[], base: [] as HopCost[] };
  const c = await Cluster.start(2, 2);
  const cb = BASE_GG ? await Cluster.start(2, 2, [], BASE_GG) : undefined;
  try {
    for (let r = 0; r < REPEAT; r++) {
      let prev = p.thunk(`echo ${r}000000 > out`);
      for (let i = 1; i < CHAIN; i++)
        prev = p.thunk('read x < in; echo $((x+1)) > out', { thunks: [{ name: prev, filename: 'in' }] });
      const fresh = (): void => {
        fs.rmSync(path.join(p.dir, '.gg/reductions'), { recursive: true });
        fs.mkdirSync(path.join(p.dir, '.gg/reductions'));
      };
      local.push((await force(p, [prev], ['--engine', 'local', '-j', '2'])).wall_ms / CHAIN);
      fresh();
      const s = await costed(c, costs.this, () => force(p, [prev], ['--engine', 'cluster', '--storage', c.redis.uri]));
      cluster.push(s.wall_ms / CHAIN);
      outside.this.push(outsideOf(s));
      const e = s.engine;
      onWorkers.push({ fetch: e['fetchMs']! / CHAIN, run: e['runMs']! / CHAIN, upload: e['uploadMs']! / CHAIN });
      if (cb) {
        fresh();
        const sb = await costed(cb, costs.base, () =>
          force(p, [prev], ['--engine', 'cluster', '--storage', cb.redis.uri], BASE_GG),
        );
        base.push(sb.wall_ms / CHAIN);
        outside.base.push(outsideOf(sb));
      }
    }
  } finally {
    await c.stop();
    await cb?.stop();
  }
  const l = median(local);
  const k = median(cluster);
  const w = onWorkers[cluster.indexOf(k)]!;
  const list = (xs: number[]): string => xs.map((x) => fmt(x)).join(', ');
  console.log(
    `\n2. chain of ${CHAIN} dependent trivial thunks (one at a time: latency, not throughput), ${REPEAT} runs each`,
  );
  console.log(`  local engine:   ${fmt(l)} ms/thunk (median; runs: ${list(local)})`);
  console.log(`  cluster engine: ${fmt(k)} ms/thunk (median; runs: ${list(cluster)})`);
  // What each dependent step costs more through the cluster than on the local engine: the coordinator's hand-off
  // to BullMQ, the worker's wake-up, its fetch of the thunk, upload and memo, the result message.
  // Each pair ran back to back, so the machine's load changed least within a pair: the median of the pairs'
  // differences is the figure (the difference of the medians is printed beside it).
  const diffs = cluster.map((x, i) => x - local[i]!);
  console.log(
    `  dispatch overhead (cluster - local, per thunk): ${fmt(median(diffs))} ms (median of the pairs: ${list(diffs)}; difference of the medians ${fmt(k - l)} ms)`,
  );
  if (base.length > 0) {
    const bd = base.map((x, i) => x - local[i]!);
    const gain = base.map((x, i) => x - cluster[i]!);
    console.log(`  BASE cluster engine (${BASE_DIR}): ${fmt(median(base))} ms/thunk (median; runs: ${list(base)})`);
    console.log(
      `  BASE dispatch overhead: ${fmt(median(bd))} ms (pairs: ${list(bd)}); base - this, per round: ${list(gain)} (median ${fmt(median(gain))} ms)`,
    );
  }
  console.log(
    `  outside the workers (wall - the workers' fetch+run+upload, per thunk): ${fmt(median(outside.this))} ms (median; runs: ${list(outside.this)})`,
  );
  if (base.length > 0) {
    const gain = outside.base.map((x, i) => x - outside.this[i]!);
    console.log(
      `  BASE outside the workers: ${fmt(median(outside.base))} ms (runs: ${list(outside.base)}); base - this, per round: ${list(gain)} (median ${fmt(median(gain))} ms)`,
    );
  }
  // The median cluster run's own account: the workers' time per thunk; the rest of the wall is outside them
  // (the coordinator's scheduler, which the local engine runs too, and the hand-offs through Redis).
  console.log(
    `  that run on the workers ${fmt(w.fetch + w.run + w.upload)} ms/thunk (fetch ${fmt(w.fetch)}, run ${fmt(w.run)}, upload+memo ${fmt(w.upload)} (*)); outside the workers ${fmt(k - w.fetch - w.run - w.upload)} ms/thunk`,
  );
  const cost = (label: string, xs: HopCost[]): void => {
    if (xs.length === 0) return;
    const m = (f: (h: HopCost) => number): string => fmt(median(xs.map(f)));
    console.log(
      `  ${label} per chained thunk (medians): coordinator CPU ${m((h) => h.client)} ms (with its start-up), worker processes ${m((h) => h.workers)} ms, Redis ${m((h) => h.redis)} ms, ${m((h) => h.commands)} Redis commands`,
    );
  };
  cost('this:', costs.this);
  cost('BASE:', costs.base);
  console.log(UPLOAD_NOTE);
  fs.rmSync(p.dir, { recursive: true, force: true });
}

interface HopCost {
  client: number;
  workers: number;
  redis: number;
  commands: number;
}

/** Runs one cluster force and adds what it cost per chained thunk (CPU ms, Redis commands) to `into`. */
async function costed(c: Cluster, into: HopCost[], run: () => Promise<Summary>): Promise<Summary> {
  const r0 = redisCounters(c.redis.port);
  const w0 = c.workers.reduce((n, w) => n + procCpu(w.pid!).self, 0);
  const s = await run();
  const r1 = redisCounters(c.redis.port);
  const w1 = c.workers.reduce((n, w) => n + procCpu(w.pid!).self, 0);
  into.push({
    client: ((s.cpu_s ?? NaN) * 1000) / CHAIN,
    workers: ((w1 - w0) * 1000) / CHAIN,
    redis: ((r1.cpuS - r0.cpuS) * 1000) / CHAIN,
    commands: (r1.commands - r0.commands) / CHAIN,
  });
  return s;
}

async function placement(): Promise<void> {
  const DATASETS = 12;
  const STEPS = 6;
  const SIZE = 2 * 1024 * 1024;
  const run = async (withPlacement: boolean): Promise<Summary> => {
    const p = project();
    const targets: string[] = [];
    for (let d = 0; d < DATASETS; d++) {
      // A large input per chain; every step of the chain reads it (think: a big header set, a model, a video).
      const data = p.g.value(Buffer.alloc(SIZE, `dataset ${d} `));
      let prev = p.thunk(`wc -c < data > out`, { values: [{ name: data, filename: 'data' }] });
      for (let s = 1; s < STEPS; s++)
        prev = p.thunk(`cat in > out; wc -c < data >> out`, {
          values: [{ name: data, filename: 'data' }],
          thunks: [{ name: prev, filename: 'in' }],
        });
      targets.push(prev);
    }
    const c = await Cluster.start(4, 1);
    try {
      return await force(p, targets, [
        '--engine',
        'cluster',
        '--storage',
        c.redis.uri,
        '-j',
        '64',
        ...(withPlacement ? [] : ['--no-placement']),
      ]);
    } finally {
      await c.stop();
      fs.rmSync(p.dir, { recursive: true, force: true });
    }
  };
  const on = await run(true);
  const off = await run(false);
  const mib = (b: number): string => fmt(b / 1024 ** 2, 1);
  console.log(
    `\n3. bytes moved into worker caches: ${DATASETS} chains of ${STEPS} thunks, each step reading its chain's 2 MiB input, 4 workers x 1 slot`,
  );
  console.log(`  without placement: ${mib(off.engine['bytesFetched']!)} MiB fetched, ${fmt(off.wall_ms / 1000)} s`);
  console.log(
    `  with placement:    ${mib(on.engine['bytesFetched']!)} MiB fetched (${on.engine['placed']} of ${on.engine['runs']} runs placed), ${fmt(on.wall_ms / 1000)} s; ${fmt(off.engine['bytesFetched']! / Math.max(1, on.engine['bytesFetched']!))}x less`,
  );
}

async function frozen(): Promise<void> {
  const N = 120;
  const LIMIT_S = 120;
  /** A run that has not finished after LIMIT_S is stopped and reported as such (undefined). */
  const run = async (freeze: boolean, speculation: boolean): Promise<Summary | undefined> => {
    const p = project();
    const names = Array.from({ length: N }, (_, i) => p.thunk(`sleep 0.1; echo ${i} > out`));
    const c = await Cluster.start(2, 2);
    try {
      const child = spawn(
        'sh',
        [
          '-c',
          `node ${GG} force --sandbox=${SANDBOX} --json --engine cluster --storage ${c.redis.uri} -j 64 ${speculation ? '' : '--no-speculation'} ${names.join(' ')}`,
        ],
        { cwd: p.dir, stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let out = '';
      let err = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      const exited = new Promise<number | null>((r) => child.once('exit', r));
      if (freeze) {
        // Freeze worker 0 once it is surely at work (it has finished a few thunks: its heartbeat says so).
        for (let t = 0; t < 300 && c.done('bench0') < 4; t++) await sleep(100);
        c.workers[0]!.kill('SIGSTOP');
      }
      let timedOut = false;
      const limit = setTimeout(() => {
        timedOut = true;
        spawnSync('pkill', ['-KILL', '-P', String(child.pid)]); // the gg force under sh
        child.kill('SIGKILL');
      }, LIMIT_S * 1000);
      const status = await exited;
      clearTimeout(limit);
      if (timedOut) return undefined;
      if (status !== 0) throw new Error(`gg force failed: ${err.slice(-2000)}`);
      return JSON.parse(out) as Summary;
    } finally {
      await c.stop();
      fs.rmSync(p.dir, { recursive: true, force: true });
    }
  };
  const calm = (await run(false, true))!;
  const specOn = await run(true, true);
  const specOff = await run(true, false);
  const lost = (r: Summary | undefined): string =>
    r
      ? `${fmt(r.wall_ms / 1000)} s (lost ${fmt((r.wall_ms - calm.wall_ms) / 1000)} s`
      : `not finished after ${LIMIT_S} s (`;
  console.log(`\n4. one of 2 workers frozen (SIGSTOP) once it has finished 4 of ${N} thunks of 0.1 s; job lease 10 s`);
  console.log(`  no fault:                       ${fmt(calm.wall_ms / 1000)} s`);
  console.log(
    `  frozen, stragglers duplicated:  ${lost(specOn)}; ${specOn?.speculation?.duplicates ?? '?'} duplicates, ${specOn?.speculation?.won ?? '?'} won)`,
  );
  console.log(`  frozen, no speculation:         ${lost(specOff)}${specOff ? ')' : 'stopped)'}`);
}

console.log(
  `gg-ts cluster bench, ${new Date().toISOString()}, ${os.cpus().length} cores, load ${os
    .loadavg()
    .map((l) => l.toFixed(1))
    .join(' ')}`,
);
if (ONLY.has('1')) await throughput();
if (ONLY.has('2')) await chain();
if (ONLY.has('3')) await placement();
if (ONLY.has('4')) await frozen();
