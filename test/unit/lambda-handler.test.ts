/**
 * The gg function's handler, for real, in a jail with Lambda's constraints (test/helpers/lambda-jail.ts: no user
 * namespaces, uid 1000, only Node and the deployment package, writable /tmp only) against a real S3 API server
 * (s3rver): a small C project inferred on the host is built there, object by object, and every object and the
 * program are bit-identical to a local force in the bubblewrap jail.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { GgError } from '../../src/errors.js';
import { forceTargets } from '../../src/force/force-command.js';
import type { Engine, ExecutionResult } from '../../src/engine/engine.js';
import { makeRequest, parseResponse, responseError } from '../../src/engine/lambda/protocol.js';
import type { Thunk } from '../../src/ir/thunk.js';
import { openRuntime } from '../../src/runtime.js';
import { cProject, HELLO, shOk } from '../helpers/c-project.js';
import { tempDir } from '../helpers/cli.js';
import { LambdaJail, type JailReply } from '../helpers/lambda-jail.js';
import { s3Env, startS3, useS3Credentials, type RunningS3 } from '../helpers/servers.js';

/** An engine that sends each thunk to the jailed function, as the Lambda invoker sends it to AWS. */
class JailEngine implements Engine {
  readonly name = 'lambda-jail';
  readonly replies: JailReply[] = [];
  constructor(
    private readonly jail: LambdaJail,
    private readonly storage: string,
  ) {}
  async execute(name: string, thunk: Thunk): Promise<ExecutionResult> {
    const reply = await this.jail.invoke(makeRequest(this.storage, name, thunk));
    this.replies.push(reply);
    if (reply.functionError !== undefined) throw new GgError('GG_E_LAMBDA', `function error: ${reply.functionError}`);
    const r = parseResponse(reply.response, thunk);
    if (!r.ok) throw responseError(name, r.error);
    return { outputs: r.outputs, wallMs: r.timings.totalMs, log: r.log };
  }
  async close(): Promise<void> {}
}

const TARGETS = ['greet.o', 'shout.o', 'main.o', 'libgreet.a', 'hello'];

describe('the gg function in a Lambda-like jail (no user namespaces, no toolchain)', () => {
  let s3: RunningS3;
  let jail: LambdaJail;
  before(async () => {
    s3 = await startS3();
    useS3Credentials();
    jail = new LambdaJail(s3Env);
  });
  after(async () => {
    await jail?.stop();
    await s3?.stop();
  });

  it('builds the objects and the program of an inferred C project, bit-identical to a local force', async () => {
    const dir = cProject(HELLO);
    shOk(dir, 'gg infer make >/dev/null 2>&1');
    const ref = tempDir('gg-lambda-ref-');
    fs.cpSync(dir, ref, { recursive: true });
    const local = JSON.parse(shOk(ref, `gg force --sandbox=$GG_SANDBOX --json -j2 ${TARGETS.join(' ')}`)) as {
      targets: { target: string; result: string }[];
    };
    const expected = new Map(local.targets.map((t) => [t.target, t.result]));

    const rt = await openRuntime({ ggDir: path.join(dir, '.gg'), storageUri: s3.uri });
    const engine = new JailEngine(jail, s3.uri);
    try {
      const report = await forceTargets(
        { ...rt, engine },
        TARGETS.map((t) => path.join(dir, t)),
        { jobs: 1 },
      );
      for (const t of report.targets) assert.equal(t.error, undefined, `${t.target}: ${t.error?.message}`);
      assert.ok(
        report.executed >= TARGETS.length,
        `every object, the archive and the link ran in the jail (${report.executed})`,
      );
      for (const t of report.targets)
        assert.equal(t.result, expected.get(path.relative(dir, t.target)), `${t.target} is bit-identical`);
    } finally {
      await rt.close();
    }
    assert.equal(
      spawnSync(path.join(dir, 'hello'), { encoding: 'utf8' }).stdout,
      spawnSync(path.join(ref, 'hello'), { encoding: 'utf8' }).stdout,
    );
    assert.ok(engine.replies.length >= TARGETS.length);
    for (const r of engine.replies) {
      assert.equal(r.uid, 1000, 'not root');
      assert.deepEqual(r.hostToolchain, [], 'no compiler, binutils or headers in the function');
      assert.deepEqual(r.writable, [], 'nothing writable but /tmp');
      assert.deepEqual(r.leftovers, [], 'a warm function keeps nothing of a run but its verified input cache');
    }
    assert.equal(
      engine.replies.filter((r) => (r.response as { cold?: boolean }).cold).length,
      1,
      'one cold start, then warm invocations',
    );
  });

  it('answers a hostile or failing request with an error instead of running it', async () => {
    const bad = await jail.invoke({
      v: 1,
      storage: s3.uri,
      name: 'T' + 'A'.repeat(43) + '00000010',
      thunk: Buffer.from('##GGTHUNK##junk').toString('base64'),
    });
    assert.deepEqual((bad.response as { ok: boolean }).ok, false);
    assert.match(JSON.stringify(bad.response), /GG_E_LAMBDA/);
    const nonsense = await jail.invoke({ v: 1, storage: 'file:///etc', name: 42 });
    assert.match(JSON.stringify(nonsense.response), /bad request/);
  });
});
