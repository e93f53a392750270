/**
 * What the Lambda invoker sends the function and what it answers: one thunk per invocation, as gg did.
 * The request carries the thunk's bytes (saving the function a round trip) and the shared store's URI; the
 * function fetches the inputs from that store, runs the thunk, uploads the outputs and answers their names.
 * It records no memo entry: the scheduler does, from the first answer it accepts, so a late answer from an
 * invocation that was given up on (a retry already won) changes nothing (its outputs are the same objects).
 *
 * Both sides treat the other's message as hostile: every field is checked before use.
 */
import { GgError, type GgErrorCode } from '../../errors.js';
import { computeName, isThunkName, isValidName } from '../../ir/name.js';
import { decodeThunk, encodeThunk, type Thunk } from '../../ir/thunk.js';

export const PROTOCOL_VERSION = 1;

export interface LambdaRequest {
  v: typeof PROTOCOL_VERSION;
  /** Store URI (s3://bucket/prefix?region=...; any URI openRemoteStore knows). */
  storage: string;
  name: string;
  /** The thunk's bytes, base64. */
  thunk: string;
  timeoutMs?: number;
  outputBytes?: number;
}

export interface LambdaTimings {
  fetchMs: number;
  runMs: number;
  uploadMs: number;
  totalMs: number;
}

export interface LambdaOutput {
  tag: string;
  name: string;
}

export type LambdaResponse =
  | {
      v: typeof PROTOCOL_VERSION;
      ok: true;
      outputs: LambdaOutput[];
      timings: LambdaTimings;
      bytesFetched: number;
      bytesUploaded: number;
      /** First invocation of this execution environment. */
      cold: boolean;
      log: string;
    }
  | { v: typeof PROTOCOL_VERSION; ok: false; error: { code: string; message: string; hint?: string } };

/** `gg lambda doctor` asks the function itself whether it can use the store and run thunks. */
export interface ProbeRequest {
  v: typeof PROTOCOL_VERSION;
  probe: true;
  storage: string;
}

export interface ProbeCheck {
  ok: boolean;
  detail: string;
  code?: string;
  hint?: string;
}

export interface ProbeResponse {
  v: typeof PROTOCOL_VERSION;
  probe: { storage: ProbeCheck; executor: ProbeCheck; tmpBytes: number };
}

export function isProbeRequest(event: unknown): event is ProbeRequest {
  const e = event as Partial<ProbeRequest> | null;
  return (
    typeof e === 'object' &&
    e !== null &&
    e.v === PROTOCOL_VERSION &&
    e.probe === true &&
    typeof e.storage === 'string' &&
    e.storage.length <= 2048
  );
}

export interface ParsedRequest {
  storage: string;
  name: string;
  thunk: Thunk;
  bytes: Buffer;
  timeoutMs?: number;
  outputBytes?: number;
}

const MAX_LIMIT = 15 * 60_000;

function bad(why: string): GgError {
  return new GgError('GG_E_LAMBDA', `bad request to the gg function: ${why}`, {
    hint: 'the invoker and the function must be the same gg-ts version (gg lambda deploy)',
  });
}

export function parseRequest(event: unknown): ParsedRequest {
  if (typeof event !== 'object' || event === null) throw bad('not a JSON object');
  const e = event as Record<string, unknown>;
  if (e['v'] !== PROTOCOL_VERSION) throw bad(`protocol version ${String(e['v'])}, expected ${PROTOCOL_VERSION}`);
  const { storage, name, thunk } = e;
  if (typeof storage !== 'string' || storage.length === 0 || storage.length > 2048)
    throw bad('storage must be a store URI');
  if (typeof name !== 'string' || !isValidName(name) || !isThunkName(name)) throw bad('name must be a thunk name');
  if (typeof thunk !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(thunk)) throw bad('thunk must be base64');
  const bytes = Buffer.from(thunk, 'base64');
  if (computeName(bytes) !== name) throw bad(`the thunk's bytes do not hash to ${name}`);
  const decoded = decodeThunk(bytes);
  if (decoded.thunks.length > 0) throw bad(`thunk ${name} still has thunk inputs`);
  const out: ParsedRequest = { storage, name, thunk: decoded, bytes };
  for (const key of ['timeoutMs', 'outputBytes'] as const) {
    const v = e[key];
    if (v === undefined) continue;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0 || (key === 'timeoutMs' && v > MAX_LIMIT))
      throw bad(`${key} out of range`);
    out[key] = v;
  }
  return out;
}

/** The response, checked: a malformed one is an infrastructure failure (retried), never trusted. */
export function parseResponse(payload: unknown, thunk: Thunk): LambdaResponse {
  const fail = (why: string): GgError =>
    new GgError('GG_E_LAMBDA', `the gg function answered something unexpected: ${why}`, {
      retryable: true,
      hint: 'redeploy the function (gg lambda deploy) so it matches this gg',
    });
  if (typeof payload !== 'object' || payload === null) throw fail('not a JSON object');
  const p = payload as Record<string, unknown>;
  if (p['v'] !== PROTOCOL_VERSION) throw fail(`protocol version ${String(p['v'])}`);
  if (p['ok'] === false) {
    const err = p['error'] as Record<string, unknown> | undefined;
    if (typeof err?.['code'] !== 'string' || typeof err['message'] !== 'string')
      throw fail('an error without code or message');
    return {
      v: PROTOCOL_VERSION,
      ok: false,
      error: {
        code: err['code'],
        message: err['message'],
        ...(typeof err['hint'] === 'string' ? { hint: err['hint'] } : {}),
      },
    };
  }
  if (p['ok'] !== true || !Array.isArray(p['outputs'])) throw fail('no outputs');
  const outputs = p['outputs'] as unknown[];
  if (outputs.length !== thunk.outputs.length)
    throw fail(`${outputs.length} outputs for ${thunk.outputs.length} declared`);
  const checked: LambdaOutput[] = outputs.map((o, i) => {
    const r = o as Record<string, unknown>;
    if (r?.['tag'] !== thunk.outputs[i] || typeof r['name'] !== 'string' || !isValidName(r['name']))
      throw fail(`output ${i} is not (${thunk.outputs[i]}, a name)`);
    return { tag: r['tag'] as string, name: r['name'] };
  });
  const t = (p['timings'] ?? {}) as Record<string, unknown>;
  const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : 0);
  return {
    v: PROTOCOL_VERSION,
    ok: true,
    outputs: checked,
    timings: {
      fetchMs: num(t['fetchMs']),
      runMs: num(t['runMs']),
      uploadMs: num(t['uploadMs']),
      totalMs: num(t['totalMs']),
    },
    bytesFetched: num(p['bytesFetched']),
    bytesUploaded: num(p['bytesUploaded']),
    cold: p['cold'] === true,
    log: typeof p['log'] === 'string' ? p['log'].slice(0, 64 * 1024) : '',
  };
}

/** Codes a function answers with ok:false: the thunk's own failure, final (the program would fail again). */
export const FINAL_CODES: ReadonlySet<string> = new Set<GgErrorCode>([
  'GG_E_THUNK_FAILED',
  'GG_E_THUNK_TIMEOUT',
  'GG_E_THUNK_OUTPUT_MISSING',
  'GG_E_THUNK_LIMIT',
  'GG_E_THUNK_INVALID',
  'GG_E_LAMBDA',
]);

export function makeRequest(
  storage: string,
  name: string,
  thunk: Thunk,
  limits: { timeoutMs?: number; outputBytes?: number } = {},
): LambdaRequest {
  return {
    v: PROTOCOL_VERSION,
    storage,
    name,
    thunk: encodeThunk(thunk).toString('base64'),
    ...(limits.timeoutMs ? { timeoutMs: limits.timeoutMs } : {}),
    ...(limits.outputBytes ? { outputBytes: limits.outputBytes } : {}),
  };
}

/** A function's ok:false answer as the error the scheduler sees (final: the thunk itself failed). */
export function responseError(name: string, error: { code: string; message: string; hint?: string }): GgError {
  const code = (FINAL_CODES.has(error.code) ? error.code : 'GG_E_LAMBDA') as GgErrorCode;
  return new GgError(
    code,
    FINAL_CODES.has(error.code)
      ? error.message
      : `the gg function failed thunk ${name}: ${error.code}: ${error.message}`,
    error.hint ? { hint: error.hint } : {},
  );
}
