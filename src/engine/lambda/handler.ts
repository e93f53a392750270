/**
 * The gg function: AWS Lambda's Node.js runtime calls `handler(event)` with one LambdaRequest (protocol.ts).
 *
 * Per invocation: the thunk's inputs come from the shared store into a verified local cache under /tmp (the
 * only writable place), the thunk runs through the fakechroot executor (no user namespaces on Lambda, see
 * fakechroot-sandbox.ts) in a fresh directory that is deleted afterwards, and its outputs go up to the store.
 * Across warm invocations only the content-addressed cache stays (verified on every use, emptied when it
 * passes its budget); nothing of a run does.
 *
 * A failure of the thunk itself is an answer (ok:false, final); a failure of the machinery (store, disk) is
 * thrown, which Lambda reports as a function error and the invoker retries on a fresh invocation.
 */
import fs from 'node:fs';
import path from 'node:path';
import { threadId } from 'node:worker_threads';
import { GgError, isGgError } from '../../errors.js';
import { nameSize } from '../../ir/name.js';
import { FakechrootSandbox } from '../../sandbox/fakechroot-sandbox.js';
import { openRemoteStore } from '../../store/open-store.js';
import type { RemoteStore } from '../../store/remote-store.js';
import { WorkerCache } from '../../store/worker-cache.js';
import { WorkerRuntime } from '../worker-runtime.js';
import {
  FINAL_CODES,
  PROTOCOL_VERSION,
  isProbeRequest,
  parseRequest,
  type LambdaResponse,
  type ProbeCheck,
  type ProbeResponse,
} from './protocol.js';

export interface FunctionEnvironment {
  /** Writable scratch (Lambda: /tmp). */
  tmpDir: string;
  /** Cache budget in bytes (least-recently-used objects are evicted past it). */
  cacheBytes: number;
  /** libfakechroot.so (the deployment zip carries one). */
  fakechrootLib?: string;
}

export function functionEnvironment(env: NodeJS.ProcessEnv = process.env): FunctionEnvironment {
  const here = path.dirname(new URL(import.meta.url).pathname);
  // In the deployment zip the library sits at the zip's root (see package.ts); this file is dist/src/engine/lambda/.
  const bundled = path.resolve(here, '../../../../lib/libfakechroot.so');
  const lib = env['GG_FAKECHROOT_LIB'] ?? (fs.existsSync(bundled) ? bundled : undefined);
  let tmpBytes = 512 * 1024 ** 2;
  const tmpDir = env['GG_LAMBDA_TMP'] ?? '/tmp';
  try {
    const st = fs.statfsSync(tmpDir);
    tmpBytes = st.bsize * st.blocks;
  } catch {
    // keep the default
  }
  return {
    tmpDir,
    // Half of /tmp for the cache: the other half is for a run's inputs beyond it, its outputs and temporaries.
    cacheBytes: Number(env['GG_LAMBDA_CACHE_BYTES'] ?? Math.floor(tmpBytes / 2)),
    ...(lib ? { fakechrootLib: lib } : {}),
  };
}

/** What a warm execution environment keeps between invocations: the verified object cache, nothing of a run. */
interface Warm {
  cache: WorkerCache;
  sandbox: FakechrootSandbox;
  runtimes: Map<string, { remote: RemoteStore; runtime: WorkerRuntime }>;
}

let warm: Warm | undefined;

function setUp(fe: FunctionEnvironment): Warm {
  // One execution environment runs one invocation at a time; local emulators run several as worker threads of one
  // process sharing /tmp: each gets its own directory, so one never scrubs another's run.
  const cache = new WorkerCache(path.join(fe.tmpDir, threadId ? `gg-cache-${threadId}` : 'gg-cache'), {
    maxBytes: fe.cacheBytes,
  });
  const sandbox = FakechrootSandbox.create(fe.fakechrootLib ? { library: fe.fakechrootLib } : {});
  return { cache, sandbox, runtimes: new Map() };
}

async function runtimeFor(w: Warm, uri: string): Promise<{ remote: RemoteStore; runtime: WorkerRuntime }> {
  let r = w.runtimes.get(uri);
  if (!r) {
    const remote = await openRemoteStore(uri);
    // No `publish`: the function uploads outputs but records no memo entry (the scheduler does; see protocol.ts).
    r = { remote, runtime: new WorkerRuntime({ cache: w.cache, sandbox: w.sandbox, source: remote }) };
    w.runtimes.set(uri, r);
  }
  return r;
}

/** Anything an earlier invocation left in the scratch area (a run removes its directory; this is the guard). */
function scrub(w: Warm): void {
  const tmp = w.cache.store.tmpDir;
  for (const n of fs.readdirSync(tmp)) fs.rmSync(path.join(tmp, n), { recursive: true, force: true });
}

export async function runRequest(
  event: unknown,
  fe: FunctionEnvironment = functionEnvironment(),
): Promise<LambdaResponse> {
  const start = performance.now();
  const cold = warm === undefined;
  let request;
  try {
    request = parseRequest(event);
  } catch (e) {
    return failure(e);
  }
  const w = (warm ??= setUp(fe));
  scrub(w);
  const { remote, runtime } = await runtimeFor(w, request.storage);
  const limits = {
    ...(request.timeoutMs ? { timeoutMs: request.timeoutMs } : {}),
    ...(request.outputBytes ? { outputBytes: request.outputBytes } : {}),
  };
  const run =
    Object.keys(limits).length > 0
      ? new WorkerRuntime({ cache: w.cache, sandbox: w.sandbox, source: remote, limits })
      : runtime;
  let result;
  try {
    result = await run.run(request.name, request.thunk);
  } catch (e) {
    if (isGgError(e) && FINAL_CODES.has(e.code)) return failure(e);
    throw e;
  } finally {
    if (run !== runtime) await run.close();
  }
  const upStart = performance.now();
  let bytesUploaded = 0;
  for (const name of new Set(result.outputs.map((o) => o.name))) {
    const put = await remote.putFile(w.cache.blobPath(name), name);
    if (put.written) bytesUploaded += nameSize(name);
  }
  return {
    v: PROTOCOL_VERSION,
    ok: true,
    outputs: result.outputs,
    timings: {
      fetchMs: result.stats.fetchMs,
      runMs: result.stats.runMs,
      uploadMs: performance.now() - upStart,
      totalMs: performance.now() - start,
    },
    bytesFetched: result.stats.bytesFetched,
    bytesUploaded,
    cold,
    log: result.log,
  };
}

function failure(e: unknown): LambdaResponse {
  const err = isGgError(e) ? e : new GgError('GG_E_INTERNAL', String((e as Error)?.message ?? e));
  return {
    v: PROTOCOL_VERSION,
    ok: false,
    error: { code: err.code, message: err.message, ...(err.hint ? { hint: err.hint } : {}) },
  };
}

function check(e: unknown): ProbeCheck {
  const err = isGgError(e) ? e : new GgError('GG_E_INTERNAL', String((e as Error)?.message ?? e));
  return { ok: false, detail: err.message, code: err.code, ...(err.hint ? { hint: err.hint } : {}) };
}

/** The function's own view: can it write, list and read the store (its role's permissions), and run thunks? */
export async function probe(storage: string, fe: FunctionEnvironment = functionEnvironment()): Promise<ProbeResponse> {
  let storageCheck: ProbeCheck;
  try {
    const remote = await openRemoteStore(storage);
    try {
      await remote.check();
      storageCheck = { ok: true, detail: `${remote.description}: write, list and read work` };
    } finally {
      await remote.close();
    }
  } catch (e) {
    storageCheck = check(e);
  }
  let executor: ProbeCheck;
  try {
    const s = FakechrootSandbox.create(fe.fakechrootLib ? { library: fe.fakechrootLib } : {});
    await s.close();
    executor = { ok: true, detail: 'libfakechroot found' };
  } catch (e) {
    executor = check(e);
  }
  let tmpBytes = 0;
  try {
    const st = fs.statfsSync(fe.tmpDir);
    tmpBytes = st.bsize * st.blocks;
  } catch {
    // unknown
  }
  return { v: PROTOCOL_VERSION, probe: { storage: storageCheck, executor, tmpBytes } };
}

/** Lambda's entry point (handler setting: dist/src/engine/lambda/handler.handler). */
export async function handler(event: unknown): Promise<LambdaResponse | ProbeResponse> {
  if (isProbeRequest(event)) return probe(event.storage);
  return runRequest(event);
}
