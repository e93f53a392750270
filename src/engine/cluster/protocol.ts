/**
 * What the cluster's client (`gg force --engine cluster`) and its workers (`gg worker`) say to each other
 * through Redis. The queue itself is BullMQ (leases, stalled-job recovery, refusal of a late completion);
 * around it: a registry of live workers, per-client result channels (pub/sub), and a cancel channel.
 *
 * Everything read from Redis is hostile input: payloads and results are validated field by field.
 */
import { GgError, isGgError, type GgErrorCode } from '../../errors.js';
import { computeName, isThunkName, isValidName, isSafeTag } from '../../ir/name.js';
import type { ExecutedOutput, ExecutionStats } from '../engine.js';

/** BullMQ key prefix: every key of the cluster starts with it. */
export const PREFIX = 'gg';
/** The queue every worker takes from. */
export const SHARED_QUEUE = 'thunks';
/** A worker's own queue: thunks placed on it because it holds their inputs. */
export const workerQueue = (id: string): string => `w-${id}`;
/** Sorted set: worker id -> last heartbeat (ms since the epoch). */
export const WORKERS_KEY = `${PREFIX}:workers`;
export const workerKey = (id: string): string => `${PREFIX}:worker:${id}`;
/**
 * Set: the largest objects a worker's cache held when it started (a restarted worker's cache is advertised
 * at once; after that, the client learns from results). Capped, and only objects worth placing for.
 */
export const workerCacheKey = (id: string): string => `${PREFIX}:worker:${id}:cache`;
export const ADVERT_MAX_OBJECTS = 10_000;
export const ADVERT_MIN_BYTES = 4096;
/**
 * Pub/sub: a client's results. Workers publish took/started/finished/failed messages, several at once as one
 * JSON array (packMessages); the client is subscribed from before its first job. A message lost (the client's
 * connection dropped meanwhile) is made up for by the client's safety poll of BullMQ's job state.
 */
export const resultsChannel = (client: string): string => `${PREFIX}:results:${client}`;

/** Messages (each a JSON text) as one payload: a JSON array. */
export const packMessages = (jsons: readonly string[]): string => `[${jsons.join(',')}]`;

/** The messages of a payload on a results channel: each still to be checked (isMessage); [] if it is not ours. */
export function unpackMessages(payload: string): unknown[] {
  try {
    const got = JSON.parse(payload) as unknown;
    return Array.isArray(got) ? got : [];
  } catch {
    return [];
  }
}
/**
 * Pub/sub: a job placed on a worker with a free slot is also announced to it here, beside BullMQ's add, so the
 * worker starts it without waiting for BullMQ's wake-up and move-to-active (a chain's every step waits for
 * those). BullMQ still delivers the job; the worker then joins the run already going (the lease, completion and
 * retries stay BullMQ's). Only a worker's own queue is announced: nobody else takes from it.
 */
export const earlyChannel = (worker: string): string => `${PREFIX}:early:${worker}`;

export interface EarlyNotice {
  job: string;
  data: JobData;
}

/** An early notice read from Redis: hostile input, checked as a job's payload is; throws GG_E_JOB_INVALID. */
export function parseEarlyNotice(payload: string): EarlyNotice {
  let o: unknown;
  try {
    o = JSON.parse(payload);
  } catch {
    throw hostile('the early notice is not JSON');
  }
  if (typeof o !== 'object' || o === null || Array.isArray(o) || Object.keys(o).sort().join(',') !== 'data,job')
    throw hostile('the early notice is not {job, data}');
  const { job, data } = o as Record<string, unknown>;
  if (!isSafeId(job)) throw hostile('the early notice names no job');
  return { job, data: parseJobData(data) };
}

/** Pub/sub: job ids to cancel wherever they run. */
export const CANCEL_CHANNEL = `${PREFIX}:cancel`;

export const HEARTBEAT_MS = 1000;
/** A worker silent this long is presumed dead (its placed jobs are re-queued). */
export const DEAD_AFTER_MS = 5000;

const ID = /^[A-Za-z0-9_.-]{1,64}$/;
const MAX_LOG = 64 * 1024;

/** The most thunks one job carries (the client sends fewer unless the backlog is deep). */
export const MAX_BATCH = 8;

/** A thunk this small travels in the job itself (base64), saving the worker a round trip to the store. */
export const INLINE_THUNK_BYTES = 4096;

export interface JobData {
  v: 2;
  /** The thunks to run (no thunk inputs left). */
  thunks: string[];
  /** Where to report: resultsChannel(client). */
  client: string;
  /** Per thunk, its bytes (base64) when small, else null: the worker fetches it from the store. */
  data?: (string | null)[];
}

export function isSafeId(s: unknown): s is string {
  return typeof s === 'string' && ID.test(s);
}

/** A job payload from the queue: exactly the fields we write, each well-formed; anything else is refused. */
export function parseJobData(data: unknown): JobData {
  if (typeof data !== 'object' || data === null || Array.isArray(data)) throw hostile('the payload is not an object');
  const keys = Object.keys(data).sort().join(',');
  if (keys !== 'client,thunks,v' && keys !== 'client,data,thunks,v')
    throw hostile(`unexpected fields (${keys.slice(0, 80)})`);
  const d = data as Record<string, unknown>;
  if (d['v'] !== 2) throw hostile('unknown payload version');
  const thunks = d['thunks'];
  if (!Array.isArray(thunks) || thunks.length < 1 || thunks.length > MAX_BATCH)
    throw hostile(`the thunks are not a list of 1 to ${MAX_BATCH}`);
  for (const t of thunks)
    if (typeof t !== 'string' || !isValidName(t) || !isThunkName(t)) throw hostile('a thunk is not a thunk name');
  if (new Set(thunks).size !== thunks.length) throw hostile('a thunk is listed twice');
  if (!isSafeId(d['client'])) throw hostile('the client id is malformed');
  const inline = d['data'];
  if (inline === undefined) return { v: 2, thunks: thunks as string[], client: d['client'] };
  // Checked against the thunk's name where it is decoded (thunkBytes): here, only the shape.
  if (
    !Array.isArray(inline) ||
    inline.length !== thunks.length ||
    !inline.every(
      (x) => x === null || (typeof x === 'string' && x.length <= (INLINE_THUNK_BYTES * 4) / 3 + 4 && BASE64.test(x)),
    )
  )
    throw hostile('the inline thunks are malformed');
  return { v: 2, thunks: thunks as string[], client: d['client'], data: inline as (string | null)[] };
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** The bytes of the job's i-th thunk, if it came inline and they are what its name says; else undefined. */
export function thunkBytes(job: JobData, i: number): Buffer | undefined {
  const b64 = job.data?.[i];
  if (typeof b64 !== 'string') return undefined;
  const bytes = Buffer.from(b64, 'base64');
  if (computeName(bytes) !== job.thunks[i]) throw hostile(`the inline bytes of ${job.thunks[i]} are not that thunk`);
  return bytes;
}

function hostile(why: string): GgError {
  return new GgError('GG_E_JOB_INVALID', `rejected a malformed job: ${why}`, {
    hint: 'only gg force --engine cluster should write to this queue; check who else can reach the Redis server',
  });
}

export interface WireError {
  code: GgErrorCode;
  message: string;
  hint?: string;
  retryable: boolean;
}

export interface WireResult {
  outputs: ExecutedOutput[];
  wallMs: number;
  log: string;
  worker: string;
  stats: ExecutionStats;
  /** The memo entries the worker recorded carry its signature (it holds the memo key). */
  signed: boolean;
}

/**
 * Messages on a client's results channel, about a job or (with `i`) the job's i-th thunk. 'took': a worker took
 * the job (its thunks may still wait for a slot there); a 'failed' without `i` fails every thunk of the job.
 */
export type ClientMessage =
  | { t: 'took'; job: string; worker: string }
  | { t: 'started'; job: string; i: number; worker: string }
  | { t: 'done'; job: string; i: number; result: WireResult }
  | { t: 'failed'; job: string; i?: number; error: WireError };

/** The shape of a message (its payload is checked where it is used: parseWireResult, fromWireError). */
export function isMessage(m: unknown): m is ClientMessage {
  if (typeof m !== 'object' || m === null) return false;
  const o = m as Record<string, unknown>;
  if (typeof o['job'] !== 'string') return false;
  if (o['i'] !== undefined && !(Number.isInteger(o['i']) && (o['i'] as number) >= 0 && (o['i'] as number) < MAX_BATCH))
    return false;
  switch (o['t']) {
    case 'took':
      return isSafeId(o['worker']);
    case 'started':
      return o['i'] !== undefined && isSafeId(o['worker']);
    case 'done':
      return o['i'] !== undefined;
    case 'failed':
      return true;
    default:
      return false;
  }
}

/** What a job returns (its value in BullMQ, read by the client's safety poll): one outcome per thunk. */
export type JobOutcome = { result: WireResult } | { error: WireError };

export function toWireError(e: unknown): WireError {
  if (isGgError(e))
    return { code: e.code, message: e.message, ...(e.hint ? { hint: e.hint } : {}), retryable: e.retryable };
  return { code: 'GG_E_INFRA', message: (e as Error)?.message ?? String(e), retryable: true };
}

const CODES = new Set<string>([
  'GG_E_THUNK_FAILED',
  'GG_E_THUNK_TIMEOUT',
  'GG_E_THUNK_OUTPUT_MISSING',
  'GG_E_THUNK_LIMIT',
  'GG_E_THUNK_INVALID',
  'GG_E_OBJECT_MISSING',
  'GG_E_OBJECT_CORRUPT',
  'GG_E_CANCELLED',
  'GG_E_INFRA',
  'GG_E_SANDBOX_UNAVAILABLE',
  'GG_E_STORAGE_UNREACHABLE',
  'GG_E_STORAGE_IO',
  'GG_E_STORAGE_AUTH',
  'GG_E_DISK_FULL',
  'GG_E_JOB_INVALID',
  'GG_E_INTERNAL',
  'GG_E_NAME_INVALID',
]);

export function fromWireError(w: unknown, where: string): GgError {
  const o = (typeof w === 'object' && w !== null ? w : {}) as Record<string, unknown>;
  const code = typeof o['code'] === 'string' && CODES.has(o['code']) ? (o['code'] as GgErrorCode) : 'GG_E_INFRA';
  const message = typeof o['message'] === 'string' ? o['message'].slice(0, MAX_LOG) : 'unknown failure';
  const hint = typeof o['hint'] === 'string' ? o['hint'].slice(0, 1024) : undefined;
  return new GgError(code, `${message} (on ${where})`, {
    ...(hint ? { hint } : {}),
    retryable: o['retryable'] === true,
  });
}

/** A worker's result, checked: names well-formed, tags exactly the thunk's outputs in order. */
export function parseWireResult(r: unknown, tags: readonly string[]): WireResult {
  const bad = (why: string): GgError =>
    new GgError('GG_E_INFRA', `a worker sent a malformed result: ${why}`, { retryable: true });
  if (typeof r !== 'object' || r === null) throw bad('not an object');
  const o = r as Record<string, unknown>;
  const outs = o['outputs'];
  if (!Array.isArray(outs) || outs.length !== tags.length) throw bad('wrong number of outputs');
  const outputs: ExecutedOutput[] = outs.map((x: unknown, i) => {
    const e = (typeof x === 'object' && x !== null ? x : {}) as Record<string, unknown>;
    if (e['tag'] !== tags[i] || typeof e['tag'] !== 'string' || !isSafeTag(e['tag']))
      throw bad('output tags differ from the thunk');
    if (typeof e['name'] !== 'string' || !isValidName(e['name'])) throw bad('an output name is malformed');
    return { tag: e['tag'], name: e['name'] };
  });
  const s = (typeof o['stats'] === 'object' && o['stats'] !== null ? o['stats'] : {}) as Record<string, unknown>;
  const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : 0);
  const fetched = Array.isArray(s['fetched'])
    ? s['fetched'].filter((n): n is string => typeof n === 'string' && isValidName(n))
    : [];
  return {
    outputs,
    wallMs: num(o['wallMs']),
    log: typeof o['log'] === 'string' ? o['log'].slice(0, MAX_LOG) : '',
    worker: isSafeId(o['worker']) ? o['worker'] : 'unknown',
    signed: o['signed'] === true,
    stats: {
      fetchMs: num(s['fetchMs']),
      runMs: num(s['runMs']),
      uploadMs: num(s['uploadMs']),
      bytesFetched: num(s['bytesFetched']),
      bytesUploaded: num(s['bytesUploaded']),
      fetched,
    },
  };
}

/** What a worker says about itself in the registry (`gg workers`). */
export interface WorkerInfo {
  id: string;
  host: string;
  slots: number;
  busy: number;
  cacheBytes: number;
  cacheMax: number;
  done: number;
  failed: number;
  rejected: number;
  heartbeat: number;
  startedAt: number;
}

export function parseWorkerInfo(id: string, fields: Record<string, string>, heartbeat: number): WorkerInfo | undefined {
  const n = (k: string): number => {
    const v = Number(fields[k]);
    return Number.isFinite(v) && v >= 0 ? v : 0;
  };
  if (!isSafeId(id)) return undefined;
  return {
    id,
    host: (fields['host'] ?? '?').slice(0, 128),
    slots: n('slots'),
    busy: n('busy'),
    cacheBytes: n('cacheBytes'),
    cacheMax: n('cacheMax'),
    done: n('done'),
    failed: n('failed'),
    rejected: n('rejected'),
    heartbeat,
    startedAt: n('startedAt'),
  };
}
