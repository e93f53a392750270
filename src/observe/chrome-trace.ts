/**
 * A job as Chrome/Perfetto trace-event JSON (the "JSON Object Format" of the Trace Event Format): one complete
 * event ("X") per thunk run, a process per host and a thread per slot (named by metadata events), an instant
 * event per memo hit, and a counter of running thunks. Opens in ui.perfetto.dev or chrome://tracing.
 */
import { criticalPath, summarize, type JobData } from './job-history.js';

interface TraceEvent {
  name: string;
  ph: 'X' | 'i' | 'M' | 'C';
  ts: number;
  pid: number;
  tid: number;
  dur?: number;
  cat?: string;
  s?: 't' | 'p' | 'g';
  args?: Record<string, unknown>;
}

export interface ChromeTrace {
  traceEvents: TraceEvent[];
  displayTimeUnit: 'ms';
  metadata: Record<string, unknown>;
}

export function chromeTrace(job: JobData): ChromeTrace {
  const hosts = [...new Set(job.spans.map((s) => s.host))];
  const pidOf = (host: string): number => hosts.indexOf(host) + 1;
  const critical = new Set(criticalPath(job));
  const events: TraceEvent[] = [];
  const threads = new Set<string>();
  for (const h of hosts)
    events.push({
      name: 'process_name',
      ph: 'M',
      ts: 0,
      pid: pidOf(h),
      tid: 0,
      args: { name: h === 'local' ? `${job.header.host} (local)` : h },
    });
  for (const s of job.spans) {
    const pid = pidOf(s.host);
    if (!threads.has(s.lane)) {
      threads.add(s.lane);
      events.push({ name: 'thread_name', ph: 'M', ts: 0, pid, tid: s.slot, args: { name: `slot ${s.slot}` } });
    }
    const end = s.end ?? job.durationMs;
    events.push({
      name: s.kind,
      cat: critical.has(s) ? `${s.status},critical` : s.status,
      ph: 'X',
      ts: Math.round(s.start * 1000),
      dur: Math.max(1, Math.round((end - s.start) * 1000)),
      pid,
      tid: s.slot,
      args: {
        thunk: s.name,
        ...(s.orig ? { discovered_as: s.orig } : {}),
        argv0: s.argv0,
        engine: s.engine,
        ...(s.cpuMs === undefined ? {} : { cpu_ms: s.cpuMs }),
        bytes_in: s.bytesIn,
        bytes_out: s.bytesOut,
        ...(s.queued === undefined ? {} : { queued_ms: Math.round(s.start - s.queued) }),
        ...(s.error ? { error: `${s.error.code}: ${s.error.message}` } : {}),
        ...(critical.has(s) ? { critical_path: true } : {}),
        ...(s.duplicated ? { duplicated: true } : {}),
      },
    });
  }
  for (const c of job.cached)
    events.push({
      name: `cached (${c.how})`,
      cat: 'cached',
      ph: 'i',
      s: 'g',
      ts: Math.round(c.t * 1000),
      pid: 1,
      tid: 0,
      args: { ref: c.ref },
    });
  for (const [t, n] of summarize(job).parallelism)
    events.push({ name: 'running thunks', ph: 'C', ts: t * 1000, pid: 1, tid: 0, args: { running: n } });
  return {
    traceEvents: events,
    displayTimeUnit: 'ms',
    metadata: {
      'gg-job': job.header.id,
      command: ['gg', ...job.header.argv].join(' '),
      status: job.end?.status ?? 'unfinished (no end record: the job crashed or is running)',
    },
  };
}
