/**
 * Invocation overhead per thunk of the Lambda engine, against the local Invoke API server the tests use
 * (serverless-offline running the real handler from the deployment zip; s3rver as S3), side by side with the
 * same thunks on the local engine through the same executor (--sandbox=fakechroot).
 *
 *   npm ci --prefix test/lambda-offline && npm run build && node dist/bench/lambda.js [THUNKS] [JOBS]
 *
 * What it measures is gg's own cost per invocation (request, handler start, S3 round trips for the thunk's
 * inputs and outputs, answer) on this machine; AWS's network and cold starts are not in it (docs/LAMBDA.md).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { GraphBuilder } from '../src/frontend/sdk.js';
import { writePlaceholder } from '../src/ir/placeholder.js';
import { LocalStore } from '../src/store/local-store.js';
import { GG } from '../test/helpers/cli.js';
import { startOfflineLambda } from '../test/helpers/lambda-offline.js';
import { s3Env, startS3 } from '../test/helpers/servers.js';

const N = Number(process.argv[2] ?? 40);
const JOBS = Number(process.argv[3] ?? 4);

const dirs: string[] = [];
function project(tag: string): string {
  const dir = fs.mkdtempSync(path.join(process.env['GG_BENCH_DIR'] ?? os.tmpdir(), `gg-bench-lambda-${tag}-`));
  dirs.push(dir);
  spawnSync(process.execPath, [GG, 'init'], { cwd: dir, env: { ...process.env, GG_DIR: '' } });
  const store = new LocalStore(path.join(dir, '.gg'));
  const g = new GraphBuilder(store);
  const dash = g.executableFile('/bin/dash');
  for (let i = 0; i < N; i++) {
    const t = g.thunk({
      function: dash.name,
      executables: dash.inputs,
      args: ['sh', '-c', `printf '%s\\n' ${i} > out`],
      outputs: ['out'],
    });
    writePlaceholder(path.join(dir, `t${i}`), t.name);
  }
  store.hashCache.flush();
  return dir;
}

interface Run {
  wallMs: number;
  engine?: Record<string, number>;
}

function force(dir: string, args: string[]): Run {
  const targets = Array.from({ length: N }, (_, i) => `t${i}`);
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [GG, 'force', '--json', `-j${JOBS}`, ...args, ...targets], {
    cwd: dir,
    env: { ...process.env, ...s3Env, GG_DIR: '' },
    encoding: 'utf8',
  });
  const wallMs = performance.now() - t0;
  if (r.status !== 0) throw new Error(`gg force failed: ${r.stderr}`);
  const j = JSON.parse(r.stdout) as { engine?: Record<string, number> };
  return { wallMs, ...(j.engine ? { engine: j.engine } : {}) };
}

const s3 = await startS3();
const offline = await startOfflineLambda(
  [{ name: 'gg', handler: 'dist/src/engine/lambda/handler.handler', timeoutS: 60 }],
  s3Env,
);
try {
  const storage = (p: string): string =>
    `s3://${s3.bucket}/${p}?region=us-east-1&endpoint=${encodeURIComponent(s3.endpoint)}`;
  const local = force(project('local'), ['--sandbox=fakechroot']);
  const lambdaCold = force(project('lambda1'), [
    '--engine',
    `lambda=${offline.functionName('gg')}`,
    '--lambda-endpoint',
    offline.endpoint,
    '--storage',
    storage('a'),
  ]);
  const lambdaWarm = force(project('lambda2'), [
    '--engine',
    `lambda=${offline.functionName('gg')}`,
    '--lambda-endpoint',
    offline.endpoint,
    '--storage',
    storage('b'),
  ]);
  const per = (r: Run): string => (r.wallMs / N).toFixed(1);
  console.log(`${N} trivial thunks (dash closure, 2.1 MB of inputs each), --jobs ${JOBS}, 2-core shared VM`);
  console.log('| engine | wall s | ms per thunk | overhead per thunk vs local (ms, x jobs) | cold starts |');
  console.log('|---|---:|---:|---:|---:|');
  console.log(`| local, fakechroot executor | ${(local.wallMs / 1000).toFixed(2)} | ${per(local)} | - | - |`);
  for (const [label, r] of [
    ['lambda (serverless-offline), first run', lambdaCold],
    ['lambda (serverless-offline), again (new thunks store)', lambdaWarm],
  ] as const) {
    console.log(
      `| ${label} | ${(r.wallMs / 1000).toFixed(2)} | ${per(r)} | ${(((r.wallMs - local.wallMs) / N) * JOBS).toFixed(0)} | ${r.engine?.['coldStarts'] ?? '?'} |`,
    );
  }
} finally {
  await offline.stop();
  await s3.stop();
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
}
