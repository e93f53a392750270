/**
 * What the job trace costs the scheduler: N independent trivial thunks forced cold, then memoized, with the
 * trace (the default) and with --no-trace, side by side in one run (each variant twice, interleaved, best
 * kept). Usage: node dist/bench/trace-overhead.js [--count N] [--sandbox none|bwrap]. Run with
 * TMPDIR=/var/tmp on the development VM (its /tmp creates files ~10x slower).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { GraphBuilder } from '../src/frontend/sdk.js';
import { LocalStore } from '../src/store/local-store.js';

const GG = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../src/cli/main.js');
const arg = (flag: string, dflt: string): string => {
  const i = process.argv.indexOf(flag);
  return i >= 0 ? process.argv[i + 1]! : dflt;
};
const COUNT = Number(arg('--count', '3000'));
const SANDBOX = arg('--sandbox', 'none');

function project(): { dir: string; targets: string[] } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gg-trace-bench-'));
  spawnSync('node', [GG, 'init'], { cwd: dir });
  const store = new LocalStore(path.join(dir, '.gg'));
  const g = new GraphBuilder(store);
  const sh = g.file('/bin/dash');
  const targets: string[] = [];
  for (let i = 0; i < COUNT; i++)
    targets.push(g.thunk({ function: sh, args: ['sh', '-c', `echo ${i} > out`], outputs: ['out'] }).name);
  store.hashCache.flush();
  fs.writeFileSync(path.join(dir, 'targets.txt'), targets.join('\n'));
  return { dir, targets };
}

function force(dir: string, trace: boolean): number {
  const t = performance.now();
  const r = spawnSync(
    'sh',
    ['-c', `node ${GG} force --sandbox=${SANDBOX} -j 2 --json ${trace ? '' : '--no-trace'} $(cat targets.txt)`],
    { cwd: dir, encoding: 'utf8', maxBuffer: 1 << 30 },
  );
  if (r.status !== 0) throw new Error(r.stderr);
  return performance.now() - t;
}

const results = { trace: { cold: Infinity, warm: Infinity }, none: { cold: Infinity, warm: Infinity } };
for (let round = 0; round < 2; round++) {
  for (const v of ['trace', 'none'] as const) {
    const p = project();
    results[v].cold = Math.min(results[v].cold, force(p.dir, v === 'trace'));
    results[v].warm = Math.min(results[v].warm, force(p.dir, v === 'trace'));
    fs.rmSync(p.dir, { recursive: true, force: true });
  }
}
const traceBytes = (() => {
  const p = project();
  force(p.dir, true);
  const jobs = path.join(p.dir, '.gg/jobs');
  const size = fs.readdirSync(jobs).reduce((n, f) => n + fs.statSync(path.join(jobs, f)).size, 0);
  fs.rmSync(p.dir, { recursive: true, force: true });
  return size;
})();
console.log(`${COUNT} trivial thunks, --jobs 2, sandbox ${SANDBOX}, ${os.cpus().length} cores (best of 2)`);
console.log(`${''.padEnd(22)}${'with trace'.padStart(12)}${'--no-trace'.padStart(12)}${'ratio'.padStart(8)}`);
for (const k of ['cold', 'warm'] as const) {
  const a = results.trace[k];
  const b = results.none[k];
  console.log(
    `${`${k} (${k === 'cold' ? 'all run' : 'all memoized'})`.padEnd(22)}${`${(a / 1000).toFixed(2)} s`.padStart(12)}${`${(b / 1000).toFixed(2)} s`.padStart(12)}${(a / b).toFixed(2).padStart(8)}`,
  );
}
console.log(
  `trace of the cold job: ${(traceBytes / 1024).toFixed(0)} KiB (${(traceBytes / COUNT).toFixed(0)} bytes per thunk)`,
);
