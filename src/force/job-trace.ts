/**
 * The job trace: every `gg force` appends what its scheduler reports to `.gg/jobs/<job id>.jsonl`, one JSON
 * record per line, as the job runs. A job that crashes leaves every line written up to ~0.2 s before (the
 * buffer is flushed on a timer, at exit, and on Ctrl-C); a reader treats a missing `end` record as a job that
 * did not finish. Bounded: one trace stops growing at `maxBytes` (an `truncated` record says so), and only the
 * newest `keep` traces are kept. The format is the same as `gg force --json-events` (docs/OBSERVE.md).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fromSystemError } from '../errors.js';
import type { ForceEvent } from './force.js';

export const TRACE_VERSION = 1;
export const DEFAULT_TRACE_MAX_BYTES = 32 * 1024 * 1024;
export const DEFAULT_TRACES_KEPT = 50;
const FLUSH_MS = 200;
const FLUSH_BYTES = 64 * 1024;

export interface TraceTarget {
  /** What the user named: a placeholder file, a thunk name or a thunk file. */
  target: string;
  /** The placeholder's absolute path, when the target was one. */
  file?: string;
  ref: string;
}

export interface JobHeader {
  type: 'job';
  v: number;
  id: string;
  /** Epoch milliseconds; every other record's `t` is milliseconds since then. */
  start: number;
  pid: number;
  host: string;
  cwd: string;
  argv: string[];
  targets: TraceTarget[];
  jobs: number;
  engine: string;
  store: string;
}

export type JobStatus = 'ok' | 'failed' | 'interrupted' | 'error';

export interface JobEnd {
  type: 'end';
  t: number;
  status: JobStatus;
  executed: number;
  cached: number;
  failed: number;
  message?: string;
}

/** One scheduler event as written to the trace and to --json-events: no logs, errors as code + first line. */
export type EventRecord = { t: number } & (
  | Extract<ForceEvent, { type: 'discovered' | 'cached' | 'queued' | 'started' | 'cancelled' | 'speculated' }>
  | Without<Extract<ForceEvent, { type: 'finished' }>, 'log'>
  | (Without<Extract<ForceEvent, { type: 'failed' | 'retry' }>, 'error'> & { error: { code: string; message: string } })
);

/** Omit, distributed over a union (each member keeps its own fields). */
type Without<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

export type TraceRecord = JobHeader | EventRecord | JobEnd | { type: 'truncated'; t: number };

export function jobsDir(ggDir: string): string {
  return path.join(ggDir, 'jobs');
}

/** Sortable, unique per machine: 20261202-031522-123-4711 (UTC time, milliseconds, pid). */
export function newJobId(now = new Date(), pid = process.pid): string {
  const iso = now.toISOString(); // 2026-12-02T03:15:22.123Z
  return `${iso.slice(0, 10).replaceAll('-', '')}-${iso.slice(11, 19).replaceAll(':', '')}-${iso.slice(20, 23)}-${pid}`;
}

export function eventRecord(e: ForceEvent, t: number): EventRecord {
  const rounded = Math.round(t * 10) / 10;
  switch (e.type) {
    case 'finished': {
      const { log: _log, ...rest } = e;
      return { t: rounded, ...rest };
    }
    case 'failed':
    case 'retry': {
      const { error, ...rest } = e;
      return { t: rounded, ...rest, error: { code: error.code, message: firstLine(error.message) } };
    }
    default:
      return { t: rounded, ...e };
  }
}

function firstLine(s: string): string {
  const line = s.split('\n', 1)[0] ?? '';
  return line.length > 500 ? `${line.slice(0, 500)}…` : line;
}

export interface JobTraceOptions {
  maxBytes?: number;
  keep?: number;
}

export class JobTrace {
  readonly file: string;
  readonly id: string;
  private readonly fd: number;
  private readonly start: number;
  private buffer: string[] = [];
  private bufferedBytes = 0;
  private written = 0;
  private truncated = false;
  private closed = false;
  private closedFd = false;
  private readonly timer: NodeJS.Timeout;
  private readonly maxBytes: number;

  private constructor(file: string, header: JobHeader, maxBytes: number) {
    this.file = file;
    this.id = header.id;
    this.start = header.start;
    this.maxBytes = maxBytes;
    try {
      this.fd = fs.openSync(file, 'wx', 0o644);
    } catch (e) {
      throw fromSystemError(e, `creating the job trace ${file}`);
    }
    // The header goes out at once: `gg gc` reads it to know what a running job needs.
    this.write(JSON.stringify(header) + '\n');
    this.timer = setInterval(() => this.flush(), FLUSH_MS);
    this.timer.unref();
    process.on('exit', this.flushAtExit);
  }

  /** An uncaught error or process.exit() still leaves the events so far (no end record: the job crashed). */
  private readonly flushAtExit = (): void => this.flush();

  /** Start the trace of a new job (and drop the oldest traces beyond `keep`). */
  static open(
    ggDir: string,
    h: Omit<JobHeader, 'type' | 'v' | 'id' | 'start' | 'pid' | 'host'>,
    o: JobTraceOptions = {},
  ): JobTrace {
    const dir = jobsDir(ggDir);
    fs.mkdirSync(dir, { recursive: true });
    pruneTraces(dir, (o.keep ?? DEFAULT_TRACES_KEPT) - 1);
    const now = new Date();
    // Two jobs of one process in the same millisecond (library use) get -1, -2...: ids stay unique and sorted.
    let id = newJobId(now);
    for (let n = 1; fs.existsSync(path.join(dir, `${id}.jsonl`)); n++) id = `${newJobId(now)}-${n}`;
    const header: JobHeader = {
      type: 'job',
      v: TRACE_VERSION,
      id,
      start: now.getTime(),
      pid: process.pid,
      host: os.hostname(),
      ...h,
    };
    return new JobTrace(path.join(dir, `${header.id}.jsonl`), header, o.maxBytes ?? DEFAULT_TRACE_MAX_BYTES);
  }

  /** Milliseconds since the job started, the clock of every record. */
  now(): number {
    return Date.now() - this.start;
  }

  private counts = { executed: 0, cached: 0, failed: 0 };

  readonly onEvent = (e: ForceEvent): void => {
    if (e.type === 'finished') this.counts.executed++;
    else if (e.type === 'cached') this.counts.cached++;
    else if (e.type === 'failed') this.counts.failed++;
    if (this.closed || this.truncated) return;
    const line = JSON.stringify(eventRecord(e, this.now())) + '\n';
    if (this.written + this.bufferedBytes + line.length > this.maxBytes) {
      this.truncated = true;
      this.push(JSON.stringify({ type: 'truncated', t: this.now() }) + '\n');
      return;
    }
    this.push(line);
  };

  private push(line: string): void {
    this.buffer.push(line);
    this.bufferedBytes += line.length;
    if (this.bufferedBytes >= FLUSH_BYTES) this.flush();
  }

  /** Write what is buffered (synchronous: also safe from a signal handler or on the way out). */
  flush(): void {
    if (this.buffer.length === 0 || this.closedFd) return;
    const text = this.buffer.join('');
    this.buffer = [];
    this.bufferedBytes = 0;
    this.write(text);
  }

  private write(text: string): void {
    try {
      fs.writeSync(this.fd, text);
      this.written += Buffer.byteLength(text);
    } catch {
      // A full disk must not fail the job over its trace; the reader copes with a short file.
    }
  }

  /** The last record, then close. Idempotent. */
  close(status: JobStatus, message?: string): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    process.off('exit', this.flushAtExit);
    const end: JobEnd = {
      type: 'end',
      t: this.now(),
      status,
      ...this.counts,
      ...(message === undefined ? {} : { message: firstLine(message) }),
    };
    this.buffer.push(JSON.stringify(end) + '\n');
    this.flush();
    this.closedFd = true;
    fs.closeSync(this.fd);
  }
}

/** Keep the newest `keep` traces in `dir`; returns how many were removed. */
export function pruneTraces(dir: string, keep: number): number {
  let names: string[];
  try {
    names = fs
      .readdirSync(dir)
      .filter((n) => n.endsWith('.jsonl'))
      .sort();
  } catch {
    return 0;
  }
  const old = names.slice(0, Math.max(0, names.length - Math.max(0, keep)));
  // unlinkSync, not rmSync: a trace is one file, and rmSync's first call costs ~1 ms in every `gg force`.
  for (const n of old) {
    try {
      fs.unlinkSync(path.join(dir, n));
    } catch {
      // gone already (another job pruned it), or not a file: neither is this job's to fix
    }
  }
  return old.length;
}
