/**
 * Scheduler throughput on the local engine, side by side with the baseline in one run:
 *  - 10,000 independent trivial thunks at --jobs 2: cold and memoized thunks/s, vs a minimal Node script
 *    that spawns the same 10,000 processes two at a time;
 *  - a chain of 1,000 dependent thunks: overhead per thunk in ms over spawning the same programs in sequence.
 * Usage: node dist/bench/force.js [--count N] [--chain N] [--sandbox none|bwrap]
 *        node dist/bench/force.js --write DIR [--count N] [--chain N] [--sandbox none|bwrap]
 *          only writes the two workloads (DIR/independent, DIR/chain, each with its .gg and a targets.txt), for
 *          scripts that force them with other builds of gg (bench/security-ab.sh).
 * Runs under $TMPDIR: on this VM /tmp creates files ~10x slower than /var/tmp, so use TMPDIR=/var/tmp.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { GraphBuilder, type InputSpec } from '../src/frontend/sdk.js';
import { LocalStore } from '../src/store/local-store.js';

const GG = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../bin/gg.js'); // the bundle users run
const arg = (flag: string, dflt: string): string => {
  const i = process.argv.indexOf(flag);
  return i >= 0 ? process.argv[i + 1]! : dflt;
};
const COUNT = Number(arg('--count', '10000'));
const CHAIN = Number(arg('--chain', '1000'));
const SANDBOX = arg('--sandbox', 'none');
const SH = '/bin/dash';

function ggForce(dir: string, targets: string[]): { ms: number; executed: number; cached: number } {
  const listFile = path.join(dir, 'targets.txt');
  fs.writeFileSync(listFile, targets.join('\n'));
  const start = performance.now();
  const r = spawnSync('sh', ['-c', `node ${GG} force --sandbox=${SANDBOX} -j 2 --json $(cat ${listFile})`], {
    cwd: dir,
    encoding: 'utf8',
    maxBuffer: 1 << 30,
  });
  const ms = performance.now() - start;
  if (r.status !== 0) throw new Error(`gg force failed: ${r.stderr.slice(-2000)}`);
  const j = JSON.parse(r.stdout) as { executed: number; cached: number };
  return { ms, executed: j.executed, cached: j.cached };
}

async function bareSpawn(scripts: string[], jobs: number, cwd: string): Promise<number> {
  const start = performance.now();
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < scripts.length) {
      const s = scripts[next++]!;
      await new Promise<void>((resolve, reject) => {
        const c = spawn(SH, ['-c', s], { cwd, stdio: 'ignore', env: {} });
        c.once('error', reject);
        c.once('exit', () => resolve());
      });
    }
  };
  await Promise.all(Array.from({ length: jobs }, worker));
  return performance.now() - start;
}

interface BenchProject {
  dir: string;
  g: GraphBuilder;
  store: LocalStore;
  sh: string;
  /** What a thunk running sh declares: sh and, for the jail, its ELF interpreter and libraries. */
  executables: InputSpec[];
}

const WRITE = arg('--write', '');

function project(named?: string): BenchProject {
  const dir = named ? path.join(WRITE, named) : fs.mkdtempSync(path.join(os.tmpdir(), 'gg-bench-'));
  fs.mkdirSync(dir, { recursive: true });
  spawnSync('node', [GG, 'init'], { cwd: dir });
  const store = new LocalStore(path.join(dir, '.gg'));
  const g = new GraphBuilder(store);
  if (SANDBOX === 'none') return { dir, g, store, sh: g.file(SH), executables: [] };
  const sh = g.executableFile(SH);
  return { dir, g, store, sh: sh.name, executables: sh.inputs };
}

async function independent(): Promise<void> {
  const p = project(WRITE ? 'independent' : undefined);
  const scripts = Array.from({ length: COUNT }, (_, i) => `echo ${i} > out`);
  const names = scripts.map(
    (s) => p.g.thunk({ function: p.sh, executables: p.executables, args: ['sh', '-c', s], outputs: ['out'] }).name,
  );
  p.store.hashCache.flush();
  if (WRITE) return fs.writeFileSync(path.join(p.dir, 'targets.txt'), names.join('\n'));
  const bareDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gg-bare-'));
  const bare = await bareSpawn(scripts, 2, bareDir);
  const cold = ggForce(p.dir, names);
  const warm = ggForce(p.dir, names);
  const rate = (ms: number): string => (COUNT / (ms / 1000)).toFixed(0).padStart(8);
  console.log(`\n${COUNT} independent trivial thunks, --jobs 2, sandbox=${SANDBOX} (${os.cpus().length} cores)`);
  console.log(`  ${'run'.padEnd(34)}${'wall s'.padStart(9)}${'thunks/s'.padStart(10)}  ratio`);
  console.log(`  ${'bare spawn, 2 at a time'.padEnd(34)}${(bare / 1000).toFixed(2).padStart(9)}${rate(bare)}  1.00`);
  console.log(
    `  ${`gg force cold (executed ${cold.executed})`.padEnd(34)}${(cold.ms / 1000).toFixed(2).padStart(9)}${rate(cold.ms)}  ${(cold.ms / bare).toFixed(2)}x bare`,
  );
  console.log(
    `  ${`gg force memoized (cached ${warm.cached})`.padEnd(34)}${(warm.ms / 1000).toFixed(2).padStart(9)}${rate(warm.ms)}  ${(warm.ms / bare).toFixed(2)}x bare`,
  );
  fs.rmSync(p.dir, { recursive: true, force: true });
  fs.rmSync(bareDir, { recursive: true, force: true });
}

async function chain(): Promise<void> {
  const p = project(WRITE ? 'chain' : undefined);
  let prev = p.g.thunk({
    function: p.sh,
    executables: p.executables,
    args: ['sh', '-c', 'echo 0 > out'],
    outputs: ['out'],
  });
  const scripts = ['echo 0 > out'];
  for (let i = 1; i < CHAIN; i++) {
    const s = `read x < in; echo $((x+1)) > out`;
    scripts.push(s);
    prev = p.g.thunk({
      function: p.sh,
      executables: p.executables,
      args: ['sh', '-c', s],
      thunks: [{ name: prev.name, filename: 'in' }],
      outputs: ['out'],
    });
  }
  p.store.hashCache.flush();
  if (WRITE) return fs.writeFileSync(path.join(p.dir, 'targets.txt'), prev.name);
  const bareDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gg-bare-'));
  fs.writeFileSync(path.join(bareDir, 'in'), '0\n');
  const bare = await bareSpawn(scripts, 1, bareDir);
  const cold = ggForce(p.dir, [prev.name]);
  const warm = ggForce(p.dir, [prev.name]);
  console.log(`\nchain of ${CHAIN} dependent thunks, sandbox=${SANDBOX}`);
  console.log(`  bare spawn in sequence: ${(bare / 1000).toFixed(2)} s (${(bare / CHAIN).toFixed(2)} ms/process)`);
  console.log(
    `  gg force cold:          ${(cold.ms / 1000).toFixed(2)} s (${(cold.ms / CHAIN).toFixed(2)} ms/thunk; overhead ${((cold.ms - bare) / CHAIN).toFixed(2)} ms/thunk)`,
  );
  console.log(`  gg force memoized:      ${(warm.ms / 1000).toFixed(3)} s (one lookup: cached ${warm.cached})`);
  fs.rmSync(p.dir, { recursive: true, force: true });
  fs.rmSync(bareDir, { recursive: true, force: true });
}

await independent();
await chain();
