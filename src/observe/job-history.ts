/**
 * Reading job traces (.gg/jobs/*.jsonl, written by src/force/job-trace.ts) back into thunk spans: one span per
 * run of a thunk, with where it ran, when, how long and what it moved; plus the job's header, its end (absent
 * when the job crashed) and what was cached. Traces are input from disk: lines that do not parse are skipped.
 */
import fs from 'node:fs';
import path from 'node:path';
import { GgError } from '../errors.js';
import { splitTag } from '../ir/name.js';
import { jobsDir, type EventRecord, type JobEnd, type JobHeader, type TraceRecord } from '../force/job-trace.js';

export type SpanStatus = 'executed' | 'failed' | 'cancelled' | 'unfinished';

export interface ThunkSpan {
  /** The name that ran (updated name). */
  name: string;
  /** The name it was discovered under, when different. */
  orig?: string;
  argv0: string;
  /** argv0's last path component: what a user calls the program ("gcc", "ar"). */
  program: string;
  /** The kind of step: the program and its main output's tag ("cc → gg.o"); bars are coloured by it. */
  kind: string;
  engine: string;
  host: string;
  slot: number;
  /** A row of the timeline: "host/slot". */
  lane: string;
  queued?: number;
  start: number;
  /** Unset for a thunk that was still running when the trace ends (a crashed job). */
  end?: number;
  wallMs?: number;
  cpuMs?: number;
  bytesIn: number;
  bytesOut: number;
  costUsd?: number;
  status: SpanStatus;
  error?: { code: string; message: string };
  /** Thunk names (original) this one waited for. */
  deps: string[];
  /** A straggler duplicate was launched for it (remote engines): it ran twice, the first result won. */
  duplicated?: boolean;
}

export interface JobData {
  file: string;
  header: JobHeader;
  end?: JobEnd;
  spans: ThunkSpan[];
  cached: { ref: string; how: string; t: number; orig?: string }[];
  /** Discovered thunk -> what it depends on (names, tags dropped). */
  deps: Map<string, string[]>;
  truncated: boolean;
  /** Milliseconds from the job's start to its last record. */
  durationMs: number;
}

function parseLine(line: string): TraceRecord | undefined {
  if (!line) return undefined;
  try {
    const r = JSON.parse(line) as unknown;
    return r !== null && typeof r === 'object' && typeof (r as { type?: unknown }).type === 'string'
      ? (r as TraceRecord)
      : undefined;
  } catch {
    return undefined; // the last line of a crashed job may be cut short
  }
}

const num = (v: unknown, d = 0): number => (typeof v === 'number' && Number.isFinite(v) ? v : d);
const str = (v: unknown, d = ''): string => (typeof v === 'string' ? v : d);

export function programOf(argv0: string): string {
  return path.posix.basename(argv0) || argv0;
}

export function readJob(file: string): JobData {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    throw new GgError('GG_E_JOB_NOT_FOUND', `cannot read the job trace ${file}`, { hint: 'list jobs with: gg status' });
  }
  const lines = text.split('\n');
  const header = parseLine(lines[0] ?? '');
  if (!header || header.type !== 'job')
    throw new GgError('GG_E_JOB_NOT_FOUND', `${file} is not a gg job trace`, {
      hint: 'job traces are .gg/jobs/*.jsonl',
    });
  const job: JobData = { file, header, spans: [], cached: [], deps: new Map(), truncated: false, durationMs: 0 };
  const open = new Map<string, ThunkSpan>();
  const queuedAt = new Map<string, number>();
  for (const line of lines.slice(1)) {
    const r = parseLine(line);
    if (!r || r.type === 'job') continue;
    const t = num((r as { t?: unknown }).t);
    job.durationMs = Math.max(job.durationMs, t);
    switch (r.type) {
      case 'end':
        job.end = r;
        break;
      case 'truncated':
        job.truncated = true;
        break;
      default:
        apply(job, r, t, open, queuedAt);
    }
  }
  for (const s of open.values()) job.spans.push(s); // still running when the trace ends
  job.spans.sort((a, b) => a.start - b.start);
  return job;
}

function apply(
  job: JobData,
  r: EventRecord,
  t: number,
  open: Map<string, ThunkSpan>,
  queuedAt: Map<string, number>,
): void {
  const name = str((r as { name?: unknown }).name);
  switch (r.type) {
    case 'discovered':
      job.deps.set(
        name,
        Array.isArray(r.deps)
          ? r.deps.filter((d): d is string => typeof d === 'string').map((d) => splitTag(d).name)
          : [],
      );
      return;
    case 'cached':
      job.cached.push({
        ref: str(r.ref),
        how: str(r.how, 'memo'),
        t,
        ...(typeof r.orig === 'string' ? { orig: r.orig } : {}),
      });
      return;
    case 'queued':
      queuedAt.set(name, t);
      return;
    case 'speculated': {
      const s = open.get(name);
      if (s) s.duplicated = true;
      return;
    }
    case 'started': {
      const orig = typeof r.orig === 'string' ? r.orig : undefined;
      const engine = str(r.engine, 'local');
      const host = str(r.host, 'local');
      const slot = num(r.slot);
      const q = queuedAt.get(name);
      open.set(name, {
        name,
        ...(orig ? { orig } : {}),
        argv0: str(r.argv0),
        program: programOf(str(r.argv0)),
        kind: str(r.output) ? `${programOf(str(r.argv0))} → ${str(r.output)}` : programOf(str(r.argv0)),
        engine,
        host,
        slot,
        lane: `${host}/${slot}`,
        ...(q === undefined ? {} : { queued: q }),
        start: t,
        bytesIn: num(r.bytesIn),
        bytesOut: 0,
        status: 'unfinished',
        deps: job.deps.get(orig ?? name) ?? [],
      });
      return;
    }
    case 'finished':
    case 'failed':
    case 'cancelled': {
      const s = open.get(name);
      if (!s) return;
      open.delete(name);
      s.end = t;
      if (r.type === 'finished') {
        s.status = 'executed';
        s.wallMs = num(r.wallMs, t - s.start);
        if (typeof r.cpuMs === 'number') s.cpuMs = r.cpuMs;
        if (typeof r.costUsd === 'number') s.costUsd = r.costUsd;
        s.bytesOut = num(r.bytesOut);
        // A remote engine says where it really ran.
        s.engine = str(r.engine, s.engine);
        s.host = str(r.host, s.host);
        s.slot = num(r.slot, s.slot);
        s.lane = `${s.host}/${s.slot}`;
      } else if (r.type === 'failed') {
        s.status = 'failed';
        s.error = { code: str(r.error?.code), message: str(r.error?.message) };
      } else {
        s.status = 'cancelled';
      }
      job.spans.push(s);
      return;
    }
    case 'retry': {
      const s = open.get(name);
      if (!s) return;
      open.delete(name);
      job.spans.push({
        ...s,
        end: t,
        status: 'failed',
        error: { code: str(r.error?.code), message: `retried: ${str(r.error?.message)}` },
      });
      return;
    }
  }
}

export interface JobListing {
  id: string;
  file: string;
  header?: JobHeader;
  end?: JobEnd;
}

/** Jobs in .gg/jobs, oldest first, with header and end record (read from the file's two ends only). */
export function listJobs(ggDir: string): JobListing[] {
  const dir = jobsDir(ggDir);
  let names: string[];
  try {
    names = fs
      .readdirSync(dir)
      .filter((n) => n.endsWith('.jsonl'))
      .sort();
  } catch {
    return [];
  }
  return names.map((n) => {
    const file = path.join(dir, n);
    const { first, last } = ends(file);
    const header = parseLine(first);
    const end = parseLine(last);
    return {
      id: n.slice(0, -'.jsonl'.length),
      file,
      ...(header?.type === 'job' ? { header } : {}),
      ...(end?.type === 'end' ? { end } : {}),
    };
  });
}

function ends(file: string): { first: string; last: string } {
  let fd: number | undefined;
  try {
    fd = fs.openSync(file, 'r');
    const size = fs.fstatSync(fd).size;
    const head = Buffer.alloc(Math.min(size, 256 * 1024));
    fs.readSync(fd, head, 0, head.length, 0);
    const first = head.toString('utf8').split('\n', 1)[0] ?? '';
    const tailLen = Math.min(size, 4096);
    const tail = Buffer.alloc(tailLen);
    fs.readSync(fd, tail, 0, tailLen, size - tailLen);
    const lines = tail.toString('utf8').split('\n').filter(Boolean);
    return { first, last: lines[lines.length - 1] ?? '' };
  } catch {
    return { first: '', last: '' };
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/** A job by id, unique id prefix, or a trace file path; the newest job when `spec` is unset. */
export function findJob(ggDir: string, spec?: string): string {
  if (spec && (spec.includes('/') || spec.endsWith('.jsonl')) && fs.existsSync(spec)) return spec;
  const jobs = listJobs(ggDir);
  if (jobs.length === 0)
    throw new GgError('GG_E_JOB_NOT_FOUND', 'no job traces yet', {
      hint: 'every gg force records one in .gg/jobs; run gg force first',
    });
  if (spec === undefined || spec === 'last') return jobs[jobs.length - 1]!.file;
  const matches = jobs.filter((j) => j.id.startsWith(spec));
  if (matches.length === 1) return matches[0]!.file;
  throw new GgError(
    'GG_E_JOB_NOT_FOUND',
    matches.length === 0 ? `no job '${spec}'` : `'${spec}' names ${matches.length} jobs`,
    {
      hint: `give a job id from gg status (the newest is ${jobs[jobs.length - 1]!.id})`,
    },
  );
}

/**
 * The critical path: from the span that ended last, back through the dependency that finished last, until a
 * thunk that waited for nothing executed in this job. Its length bounds the job's time at any parallelism.
 */
export function criticalPath(job: JobData): ThunkSpan[] {
  const byOrig = new Map<string, ThunkSpan>();
  for (const s of job.spans) if (s.status === 'executed' || s.status === 'failed') byOrig.set(s.orig ?? s.name, s);
  let cur = job.spans.filter((s) => s.end !== undefined && s.status !== 'cancelled').sort((a, b) => b.end! - a.end!)[0];
  const path: ThunkSpan[] = [];
  const seen = new Set<ThunkSpan>();
  while (cur && !seen.has(cur)) {
    seen.add(cur);
    path.push(cur);
    const deps = cur.deps.map((d) => byOrig.get(d)).filter((s): s is ThunkSpan => s?.end !== undefined);
    cur = deps.sort((a, b) => b.end! - a.end!)[0];
  }
  return path.reverse();
}

export interface JobSummary {
  executed: number;
  cached: number;
  failed: number;
  /** Runs that got a straggler duplicate. */
  duplicated: number;
  cancelled: number;
  unfinished: number;
  wallMs: number;
  /** Sum of the thunks' own run times. */
  busyMs: number;
  cpuMs?: number;
  bytesIn: number;
  bytesOut: number;
  costUsd?: number;
  byProgram: { program: string; count: number; wallMs: number; cpuMs?: number }[];
  slowest: ThunkSpan[];
  /** Thunks running at each of ~100 instants: [t ms, count]. */
  parallelism: [number, number][];
  criticalMs: number;
}

export function summarize(job: JobData, critical = criticalPath(job)): JobSummary {
  const durationOf = (s: ThunkSpan): number => (s.end ?? job.durationMs) - s.start;
  const byProgram = new Map<string, { program: string; count: number; wallMs: number; cpuMs?: number }>();
  let cpu: number | undefined;
  let cost: number | undefined;
  for (const s of job.spans) {
    const p = byProgram.get(s.program) ?? { program: s.program, count: 0, wallMs: 0 };
    p.count++;
    p.wallMs += durationOf(s);
    if (s.cpuMs !== undefined) {
      p.cpuMs = (p.cpuMs ?? 0) + s.cpuMs;
      cpu = (cpu ?? 0) + s.cpuMs;
    }
    if (s.costUsd !== undefined) cost = (cost ?? 0) + s.costUsd;
    byProgram.set(s.program, p);
  }
  const wallMs = job.end?.t ?? job.durationMs;
  const steps = 100;
  const parallelism: [number, number][] = [];
  for (let i = 0; i <= steps; i++) {
    const t = (wallMs * i) / steps;
    parallelism.push([Math.round(t), job.spans.filter((s) => s.start <= t && (s.end ?? job.durationMs) > t).length]);
  }
  const count = (st: SpanStatus): number => job.spans.filter((s) => s.status === st).length;
  return {
    executed: count('executed'),
    cached: job.cached.length,
    failed: count('failed'),
    duplicated: job.spans.filter((s) => s.duplicated).length,
    cancelled: count('cancelled'),
    unfinished: count('unfinished'),
    wallMs,
    busyMs: job.spans.reduce((n, s) => n + durationOf(s), 0),
    ...(cpu === undefined ? {} : { cpuMs: cpu }),
    bytesIn: job.spans.reduce((n, s) => n + s.bytesIn, 0),
    bytesOut: job.spans.reduce((n, s) => n + s.bytesOut, 0),
    ...(cost === undefined ? {} : { costUsd: cost }),
    byProgram: [...byProgram.values()].sort((a, b) => b.wallMs - a.wallMs),
    slowest: [...job.spans].sort((a, b) => durationOf(b) - durationOf(a)).slice(0, 10),
    parallelism,
    criticalMs: critical.reduce((n, s) => n + durationOf(s), 0),
  };
}
