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
import { LocalStore } from '../../store/local-store.js';
import { openRemoteStore } from '../../store/open-store.js';
import type { RemoteStore } from '../../store/remote-store.js';
import { LocalEngine } from '../local-engine.js';
import { FINAL_CODES, PROTOCOL_VERSION, isProbeRequest, parseRequest, type LambdaResponse, type ProbeCheck, type ProbeResponse } from './protocol.js';

export interface FunctionEnvironment {
  /** Writable scratch (Lambda: /tmp). */
  tmpDir: string;
  /** Cache budget in bytes; the cache is emptied before a run when it holds more. */
  cacheBytes: number;
  /** libfakechroot.so (the deployment zip carries one). */
  fakechrootLib?: string;
}

export function functionEnvironment(env: NodeJS.ProcessEnv = process.env): FunctionEnvironment {
  const here = path.dirname(new URL(import.meta.url).pathname);
  // In the deployment zip the library sits at the zip's root (see package.ts); this file is dist/src/engine/lambda/.
  const bundled = path.resolve(here, '../../../../lib/libfakechroot.so');
  const lib = env['GG_FAKECHROOT_LIB'] ?? (fs.existsSync(bundled) ? bundled : undefined);
  return {
    tmpDir: env['GG_LAMBDA_TMP'] ?? '/tmp',
    cacheBytes: Number(env['GG_LAMBDA_CACHE_BYTES'] ?? 256 * 1024 ** 2),
    ...(lib ? { fakechrootLib: lib } : {}),
  };
}

interface Warm {
  local: LocalStore;
  engine: LocalEngine;
  sandbox: FakechrootSandbox;
  stores: Map<string, RemoteStore>;
}

let warm: Warm | undefined;

function setUp(fe: FunctionEnvironment): Warm {
  // One execution environment runs one invocation at a time; local emulators run several as worker threads of one
  // process sharing /tmp: each gets its own directory, so one never scrubs another's run.
  const local = new LocalStore(path.join(fe.tmpDir, threadId ? `gg-cache-${threadId}` : 'gg-cache'));
  const sandbox = FakechrootSandbox.create(fe.fakechrootLib ? { library: fe.fakechrootLib } : {});
  return { local, sandbox, engine: new LocalEngine(local, sandbox), stores: new Map() };
}

async function remoteFor(w: Warm, uri: string): Promise<RemoteStore> {
  let s = w.stores.get(uri);
  if (!s) {
    s = await openRemoteStore(uri);
    w.stores.set(uri, s);
  }
  return s;
}

function cacheBytes(local: LocalStore): number {
  let total = 0;
  for (const n of fs.readdirSync(local.blobsDir)) total += fs.lstatSync(path.join(local.blobsDir, n)).size;
  return total;
}

/** Everything left in the scratch area but the cache: runs never leave anything, this is the guard. */
function scrub(w: Warm, fe: FunctionEnvironment): void {
  for (const n of fs.readdirSync(w.local.tmpDir)) fs.rmSync(path.join(w.local.tmpDir, n), { recursive: true, force: true });
  if (cacheBytes(w.local) > fe.cacheBytes) {
    for (const n of fs.readdirSync(w.local.blobsDir)) fs.rmSync(path.join(w.local.blobsDir, n), { force: true });
  }
}

export async function runRequest(event: unknown, fe: FunctionEnvironment = functionEnvironment()): Promise<LambdaResponse> {
  const start = performance.now();
  const cold = warm === undefined;
  let request;
  try {
    request = parseRequest(event);
  } catch (e) {
    return failure(e);
  }
  const w = (warm ??= setUp(fe));
  scrub(w, fe);
  const remote = await remoteFor(w, request.storage);
  let bytesFetched = 0;
  let fetchMs = 0;
  const fetch = async (name: string): Promise<void> => {
    if (w.local.hasSync(name)) return;
    const t = performance.now();
    if (nameSize(name) <= 4 * 1024 * 1024) w.local.putSync(await remote.get(name));
    else {
      const tmp = w.local.tempPath('dl');
      await remote.getToFile(name, tmp);
      w.local.adoptFile(tmp, name);
    }
    markIfProgram(w.local.blobPath(name));
    bytesFetched += nameSize(name);
    fetchMs += performance.now() - t;
  };
  const inputs = [...request.thunk.values, ...request.thunk.executables].map((i) => i.name);
  // Fetch in parallel (S3 latency dominates small objects), a few at a time.
  const queue = [...new Set(inputs)];
  await Promise.all(Array.from({ length: 16 }, async () => {
    for (let n = queue.shift(); n !== undefined; n = queue.shift()) await fetch(n);
  }));
  const limits = { ...(request.timeoutMs ? { timeoutMs: request.timeoutMs } : {}), ...(request.outputBytes ? { outputBytes: request.outputBytes } : {}) };
  const engine = Object.keys(limits).length > 0 ? new LocalEngine(w.local, w.sandbox, { limits }) : w.engine;
  const runStart = performance.now();
  let result;
  try {
    result = await engine.execute(request.name, request.thunk);
  } catch (e) {
    if (isGgError(e) && FINAL_CODES.has(e.code)) return failure(e);
    throw e;
  }
  const runMs = performance.now() - runStart;
  const upStart = performance.now();
  let bytesUploaded = 0;
  for (const o of result.outputs) {
    const put = await remote.putFile(w.local.blobPath(o.name), o.name);
    if (put.written) bytesUploaded += nameSize(o.name);
  }
  // Outputs are not kept: the next thunk that needs one fetches it, verified, like any input.
  for (const o of result.outputs) if (!inputs.includes(o.name)) fs.rmSync(w.local.blobPath(o.name), { force: true });
  return {
    v: PROTOCOL_VERSION,
    ok: true,
    outputs: result.outputs,
    timings: { fetchMs, runMs, uploadMs: performance.now() - upStart, totalMs: performance.now() - start },
    bytesFetched,
    bytesUploaded,
    cold,
    log: result.log,
  };
}

/**
 * A store keeps content, not modes: a toolchain declared as values (gcc's cc1, as, ld at their paths) arrives
 * from S3 without execute bits. Blobs that are programs (ELF or #!) get them, as they had on the host.
 */
function markIfProgram(blob: string): void {
  const fd = fs.openSync(blob, 'r');
  const head = Buffer.alloc(4);
  try {
    fs.readSync(fd, head, 0, 4, 0);
  } finally {
    fs.closeSync(fd);
  }
  if (head.toString('latin1') === '\x7fELF' || head.subarray(0, 2).toString('latin1') === '#!') fs.chmodSync(blob, 0o555);
}

function failure(e: unknown): LambdaResponse {
  const err = isGgError(e) ? e : new GgError('GG_E_INTERNAL', String((e as Error)?.message ?? e));
  return { v: PROTOCOL_VERSION, ok: false, error: { code: err.code, message: err.message, ...(err.hint ? { hint: err.hint } : {}) } };
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
