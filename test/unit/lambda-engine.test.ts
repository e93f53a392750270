/**
 * The Lambda engine against a real local server of the Lambda Invoke API (serverless-offline, see
 * test/helpers/lambda-offline.ts) running the real handler from the deployment zip, with a real S3 API server
 * (s3rver). Faults are injected there: 429s from a throttling proxy in front, function errors and invocations
 * that answer too late from the fault wrapper (test/fixtures/lambda/faults.mjs). Not tested: AWS itself.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { GraphBuilder } from '../../src/frontend/sdk.js';
import { writePlaceholder } from '../../src/ir/placeholder.js';
import { LocalStore } from '../../src/store/local-store.js';
import { project, run, tempDir } from '../helpers/cli.js';
import {
  startOfflineLambda,
  startThrottlingProxy,
  type OfflineLambda,
  type ThrottlingProxy,
} from '../helpers/lambda-offline.js';
import { s3Env, startS3, type RunningS3 } from '../helpers/servers.js';

const LEAVES = 3;

interface Json {
  executed: number;
  cached: number;
  failed: number;
  targets: { result?: string; error?: string }[];
  engine?: {
    invocations: number;
    throttled: number;
    functionErrors: number;
    timeouts: number;
    fallbacks: number;
    cost_usd: number;
  };
}

/** LEAVES shell thunks and one that joins their outputs; dash and its closure are declared, so any executor runs it. */
function machine(failing = false): { dir: string; expected: string } {
  const dir = project();
  const store = new LocalStore(path.join(dir, '.gg'));
  const g = new GraphBuilder(store);
  const dash = g.executableFile('/bin/dash');
  const sh = (script: string, thunks: { name: string; filename: string }[] = []): string =>
    g.thunk({
      function: dash.name,
      executables: dash.inputs,
      args: ['sh', '-c', script],
      outputs: ['out'],
      thunks,
      env: { PATH: '/nonexistent' },
    }).name;
  const leaves = Array.from({ length: LEAVES }, (_, i) =>
    sh(failing && i === 1 ? 'exit 3' : `printf 'leaf %s\\n' ${i} > out`),
  );
  const names = leaves.map((_, i) => `l${i}`);
  const top = sh(
    `for f in ${names.join(' ')}; do while IFS= read -r x; do printf '%s\\n' "$x"; done < $f; done > out`,
    leaves.map((name, i) => ({ name, filename: names[i]! })),
  );
  store.hashCache.flush();
  writePlaceholder(path.join(dir, 'result.txt'), top);
  return { dir, expected: Array.from({ length: LEAVES }, (_, i) => `leaf ${i}\n`).join('') };
}

describe('gg force --engine lambda (serverless-offline + s3rver)', () => {
  let s3: RunningS3;
  let offline: OfflineLambda;
  let proxy: ThrottlingProxy;
  const faultDir = tempDir('gg-lambda-faults-');
  let prefix = 0;
  const storage = (): string =>
    `s3://${s3.bucket}/run${prefix++}?region=us-east-1&endpoint=${encodeURIComponent(s3.endpoint)}`;
  const force = (dir: string, fn: string, storageUri: string, extra: string[] = [], endpoint = offline.endpoint) =>
    run(
      dir,
      [
        'force',
        '--json',
        '-j4',
        '--engine',
        `lambda=${offline.functionName(fn)}`,
        '--lambda-endpoint',
        endpoint,
        '--storage',
        storageUri,
        ...extra,
        'result.txt',
      ],
      { env: s3Env, timeoutMs: 300_000 },
    );

  before(async () => {
    s3 = await startS3();
    const env = { ...s3Env, GG_TEST_FAULT_DIR: faultDir, GG_TEST_FAULT_SLEEP_MS: '10000' };
    offline = await startOfflineLambda(
      [
        { name: 'gg', handler: 'dist/src/engine/lambda/handler.handler', timeoutS: 60 },
        { name: 'errors', handler: 'faults.handler', timeoutS: 60, env: { GG_TEST_FAULT: 'error' } },
        { name: 'slow', handler: 'faults.handler', timeoutS: 60, env: { GG_TEST_FAULT: 'slow' } },
      ],
      env,
    );
    proxy = await startThrottlingProxy(offline.endpoint, 3);
  });
  after(async () => {
    await proxy?.stop();
    await offline?.stop();
    await s3?.stop();
    fs.rmSync(faultDir, { recursive: true, force: true });
  });

  it('forces a graph through the Invoke API, backing off on 429 and counting the cost', async () => {
    const m = machine();
    const r = force(m.dir, 'gg', storage(), [], proxy.endpoint);
    assert.equal(r.status, 0, r.stderr);
    const j = JSON.parse(r.stdout) as Json;
    assert.equal(fs.readFileSync(path.join(m.dir, 'result.txt'), 'utf8'), m.expected);
    assert.equal(j.executed, LEAVES + 1);
    const refused = await proxy.throttled();
    assert.ok(refused > 0 && j.engine!.throttled === refused, `throttled ${j.engine?.throttled} of ${refused}`);
    assert.equal(j.engine!.invocations, LEAVES + 1 + j.engine!.throttled);
    assert.ok(j.engine!.cost_usd > 0);
  });

  it('retries a function error on a fresh invocation', async () => {
    const m = machine();
    const r = force(m.dir, 'errors', storage());
    assert.equal(r.status, 0, r.stderr);
    const j = JSON.parse(r.stdout) as Json;
    assert.equal(fs.readFileSync(path.join(m.dir, 'result.txt'), 'utf8'), m.expected);
    assert.equal(
      j.engine!.functionErrors,
      LEAVES + 1,
      `every first invocation failed: ${r.stdout} ${fs.readdirSync(faultDir).join(' ')}`,
    );
    assert.equal(j.engine!.invocations, 2 * (LEAVES + 1));
  });

  it('gives up on an invocation past its deadline, retries it, and takes no harm from its late result', async () => {
    const m = machine();
    const uri = storage();
    // No speculation: a duplicate launched for the straggler would win and cancel it before its deadline.
    const r = force(m.dir, 'slow', uri, ['--lambda-timeout', '4', '--no-speculation']);
    assert.equal(r.status, 0, r.stderr);
    const j = JSON.parse(r.stdout) as Json;
    // Every first invocation sleeps past the deadline (a retry on a loaded machine may too).
    assert.ok(j.engine!.timeouts >= LEAVES + 1, `${j.engine!.timeouts} timeouts`);
    assert.equal(fs.readFileSync(path.join(m.dir, 'result.txt'), 'utf8'), m.expected);
    // The abandoned invocations finish later and upload their (identical) outputs.
    const deadline = Date.now() + 60_000;
    while (
      fs.readdirSync(faultDir).filter((f) => f.startsWith('slow-') && f.endsWith('.late-done')).length < LEAVES + 1 &&
      Date.now() < deadline
    )
      await new Promise((res) => setTimeout(res, 200));
    assert.equal(
      fs.readdirSync(faultDir).filter((f) => f.startsWith('slow-') && f.endsWith('.late-done')).length,
      LEAVES + 1,
    );
    const other = machine();
    const again = force(other.dir, 'gg', uri);
    assert.equal(again.status, 0, again.stderr);
    const j2 = JSON.parse(again.stdout) as Json;
    assert.equal(j2.executed, 0, 'the store and memo are whole: nothing to redo');
    assert.equal(fs.readFileSync(path.join(other.dir, 'result.txt'), 'utf8'), m.expected);
  });

  it('fails a thunk whose program fails once, without retrying it', async () => {
    const m = machine(true);
    const r = force(m.dir, 'gg', storage());
    assert.equal(r.status, 1);
    const j = JSON.parse(r.stdout) as Json;
    assert.equal(j.failed, 1);
    assert.equal(j.engine!.invocations, LEAVES, 'each leaf once; the top is never run');
    assert.match(r.stderr, /GG_E_THUNK_FAILED/);
  });

  it('stops launching at --max-cost, and a second force resumes', async () => {
    const m = machine();
    const uri = storage();
    const prices = ['--price-gb-second', '0', '--price-request', '1'];
    const r = force(m.dir, 'gg', uri, [...prices, '--max-cost', '3.5', '-j1']);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /error\[GG_E_COST_LIMIT\]: stopped launching thunks on Lambda/);
    assert.equal((r.stderr.match(/GG_E_COST_LIMIT/g) ?? []).length, 1, 'said once');
    const j = JSON.parse(r.stdout) as Json;
    assert.equal(j.engine!.invocations, 3);
    const again = force(m.dir, 'gg', uri, [...prices, '--max-cost', '100']);
    assert.equal(again.status, 0, again.stderr);
    assert.equal((JSON.parse(again.stdout) as Json).executed, LEAVES + 1 - 3);
    assert.equal(fs.readFileSync(path.join(m.dir, 'result.txt'), 'utf8'), m.expected);
  });

  it("sends thunks too big for the function's /tmp to --fallback-engine local, or fails them with GG_E_TOO_BIG", async () => {
    const m = machine();
    const refused = force(m.dir, 'gg', storage(), ['--lambda-tmp', '1']);
    assert.equal(refused.status, 1);
    assert.match(refused.stderr, /GG_E_TOO_BIG/);
    const r = force(m.dir, 'gg', storage(), ['--lambda-tmp', '1', '--fallback-engine', 'local']);
    assert.equal(r.status, 0, r.stderr);
    const j = JSON.parse(r.stdout) as Json;
    assert.equal(j.engine!.fallbacks, LEAVES + 1);
    assert.equal(j.engine!.invocations, 0);
    assert.equal(fs.readFileSync(path.join(m.dir, 'result.txt'), 'utf8'), m.expected);
  });

  it('gg lambda doctor checks the bucket from the function and says what is missing', async () => {
    const dir = project();
    const ok = run(
      dir,
      [
        'lambda',
        'doctor',
        '--json',
        '--function',
        offline.functionName('gg'),
        '--endpoint',
        offline.endpoint,
        '--region',
        'us-east-1',
        '--storage',
        storage(),
      ],
      { env: s3Env },
    );
    const checks = (JSON.parse(ok.stdout) as { checks: { what: string; ok: boolean; detail: string }[] }).checks;
    const byWhat = new Map(checks.map((c) => [c.what, c]));
    assert.equal(byWhat.get('credentials')?.ok, true);
    assert.equal(byWhat.get('bucket (from here)')?.ok, true);
    assert.equal(byWhat.get('bucket (from the function, as its role)')?.ok, true, JSON.stringify(checks));
    assert.equal(byWhat.get('executor (in the function)')?.ok, true);
    const badBucket = `s3://no-such-bucket?region=us-east-1&endpoint=${encodeURIComponent(s3.endpoint)}`;
    const missing = run(
      dir,
      [
        'lambda',
        'doctor',
        '--function',
        'gg-ts-test-dev-nope',
        '--endpoint',
        offline.endpoint,
        '--region',
        'us-east-1',
        '--storage',
        badBucket,
      ],
      { env: s3Env },
    );
    assert.equal(missing.status, 1);
    assert.match(missing.stdout, /MISSING function: .*does not exist/);
    assert.match(missing.stdout, /MISSING bucket \(from here\): GG_E_STORAGE_BUCKET/);
    assert.match(missing.stderr, /error\[GG_E_LAMBDA_CONFIG\]/);
  });
});
