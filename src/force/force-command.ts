/**
 * `gg force` and `gg verify` as library calls: resolve targets, force them, put outputs in place of their
 * placeholders, optionally check determinism; the report says what to tell the user (each error once). Nothing
 * here writes to stdout or stderr: the CLI prints the report.
 */
import path from 'node:path';
import { GgError } from '../errors.js';
import type { Engine } from '../engine/engine.js';
import { waitWhileGc } from '../store/gc-lock.js';
import type { LocalStore } from '../store/local-store.js';
import type { Store } from '../store/store.js';
import type { TieredStore } from '../store/tiered-store.js';
import { forceAll, type ForceEvent, type ForceOutcome } from './force.js';
import { JobTrace, type JobStatus, type TraceTarget } from './job-trace.js';
import type { SpeculationOptions } from './speculation.js';
import { linkOutput, placeOutput, resolveTarget, type Target } from './targets.js';
import { objectsToUpload } from './upload-plan.js';
import { nondeterminismError, verifyRefs, type VerifyOutcome } from './verify.js';
import type { UploadProgress } from '../store/upload.js';

/**
 * What a force runs on, handed in by whoever wires it (the CLI's `openRuntime`, a test, a worker): the forcer
 * and the front ends never open a store or an engine themselves.
 */
export interface ForceContext {
  /** The local .gg store: targets resolve in it, the job trace is kept in it. */
  local: LocalStore;
  /** Where objects and the memo live: `local`, or a TieredStore in front of a remote store. */
  store: Store;
  /** Set when `store` is tiered: everything the graph needs is uploaded before forcing. */
  remote?: TieredStore;
  engine: Engine;
}

export interface ForceTargetsOptions {
  jobs: number;
  /** Progress of the bulk upload to a remote store, before forcing. */
  onUpload?: (p: UploadProgress) => void;
  failFast?: boolean;
  onEvent?: (e: ForceEvent) => void;
  /** Straggler duplicates (engines that run elsewhere); false = off. */
  speculation?: SpeculationOptions | false;
  /** Aborting cancels queued and running thunks (Ctrl-C); finished results stay, the trace is closed. */
  signal?: AbortSignal;
  /** Record the job's trace in .gg/jobs (default true); `argv` is kept in it to say what ran. */
  trace?: boolean;
  argv?: string[];
  /** Called once the trace is open (the CLI closes it if the process must exit at once). */
  onTraceOpen?: (trace: JobTrace) => void;
  /** Called when the job waits for a running `gg gc` before starting. */
  onGcWait?: () => void;
  /** Then, when every target was forced, run every thunk a second time (memo ignored) and compare (`--check`). */
  check?: boolean;
}

export interface ForceRefsOutcome extends ForceOutcome {
  /** The job trace (.gg/jobs/ID.jsonl), unless tracing was off. */
  job?: { id: string; file: string; status: JobStatus };
  /** Stopped by the signal (Ctrl-C). */
  interrupted: boolean;
}

export interface TargetReport {
  target: string;
  ref: string;
  result?: string;
  error?: GgError;
  upToDate?: boolean;
}

export interface ForceReport extends ForceRefsOutcome {
  targets: TargetReport[];
  /** Targets that did not reach a value. */
  failedTargets: number;
  /** The determinism check (`check`), run when no target failed. */
  check?: VerifyOutcome;
  /**
   * What to tell the user, each error once: the thunks that failed, then target errors not said by them (nor a
   * dependency's failure or a cancellation, whose cause is said), then what the check found.
   */
  problems: GgError[];
  /** Every target forced (and, with `check`, every output the same twice). */
  ok: boolean;
}

export async function forceTargets(
  rt: ForceContext,
  specs: readonly string[],
  o: ForceTargetsOptions,
): Promise<ForceReport> {
  if (specs.length === 0)
    throw new GgError('GG_E_USAGE', 'no targets given', { hint: 'gg force PLACEHOLDER|THUNK-NAME...' });
  const targets: Target[] = specs.map((s) => resolveTarget(s, rt.local));
  const refs = [...new Set(targets.filter((t) => !t.upToDate).map((t) => t.ref))];
  const cwd = process.cwd();
  const traced = targets
    .filter((t) => !t.upToDate)
    .map((t) => ({ target: t.spec, ...(t.file ? { file: absolute(cwd, t.file) } : {}), ref: t.ref }));
  const outcome = await forceRefs(rt, refs, o, traced);
  const reports: TargetReport[] = [];
  // Placeholders that were hard links of each other (git's builtins: `ln git git-add`) stay links: the output
  // is written once, not once per name.
  const placedByInode = new Map<string, string>();
  for (const t of targets) {
    if (t.upToDate) {
      reports.push({ target: t.spec, ref: '', upToDate: true });
      continue;
    }
    const result = outcome.results.get(t.ref);
    if (result === undefined) {
      reports.push({ target: t.spec, ref: t.ref, error: outcome.errors.get(t.ref)! });
      continue;
    }
    if (t.file) {
      const sibling = t.inode === undefined ? undefined : placedByInode.get(t.inode);
      if (sibling !== undefined) linkOutput(sibling, t.file);
      else await placeOutput(rt.store, t.file, result, t.mode);
      if (t.inode !== undefined && sibling === undefined) placedByInode.set(t.inode, t.file);
    }
    reports.push({ target: t.spec, ref: t.ref, result });
  }
  const problems = outcome.failures.map((f) => f.error);
  for (const t of reports) {
    if (
      t.error &&
      !outcome.failures.some((f) => f.error === t.error) &&
      t.error.code !== 'GG_E_DEPENDENCY_FAILED' &&
      t.error.code !== 'GG_E_CANCELLED'
    )
      problems.push(t.error);
  }
  const failedTargets = reports.filter((t) => t.error).length;
  let check: VerifyOutcome | undefined;
  if (o.check && failedTargets === 0 && !outcome.interrupted) {
    check = await verifyRefs(
      reports.filter((t) => t.result).map((t) => t.ref),
      { store: rt.store, engine: rt.engine, jobs: o.jobs },
    );
    problems.push(...checkProblems(check));
  }
  const ok =
    failedTargets === 0 && (check === undefined || (check.errors.size === 0 && check.differences.length === 0));
  return { ...outcome, targets: reports, failedTargets, ...(check ? { check } : {}), problems, ok };
}

/**
 * path.resolve(cwd, file), without its normalization when there is nothing to normalize (no empty, '.' or '..'
 * segment): path.resolve walks the whole absolute path character by character, ~100,000 instructions a call
 * while V8 still interprets it, once per target of a force.
 */
export function absolute(cwd: string, file: string): string {
  if (file === '' || /(?:^|\/)\.\.?(?:\/|$)|\/\/|\/$/.test(file) || cwd.endsWith('/')) return path.resolve(cwd, file);
  return file.startsWith('/') ? file : `${cwd}/${file}`;
}

/** A check's errors, then the differences it found as one GG_E_NONDETERMINISTIC. */
function checkProblems(check: VerifyOutcome): GgError[] {
  const nd = nondeterminismError(check.differences);
  return [...check.errors.values(), ...(nd ? [nd] : [])];
}

export interface VerifyReport extends VerifyOutcome {
  /** The check's errors and differences, to tell the user; empty when every output agreed. */
  problems: GgError[];
}

/** `gg verify` as a library call: placeholders are read, never replaced; every thunk of the targets runs twice. */
export async function verifyTargets(
  rt: ForceContext,
  specs: readonly string[],
  o: { jobs: number },
): Promise<VerifyReport> {
  const refs = [
    ...new Set(
      specs
        .map((t) => resolveTarget(t, rt.local))
        .filter((t) => !t.upToDate)
        .map((t) => t.ref),
    ),
  ];
  const outcome = await verifyRefs(refs, { store: rt.store, engine: rt.engine, jobs: o.jobs });
  return { ...outcome, problems: checkProblems(outcome) };
}

/**
 * Force references on the runtime's engine and store (what every front end does with the graph it wrote),
 * recording the job's trace: its header (the targets) goes to disk before anything is forced, so a `gg gc`
 * that starts meanwhile keeps what this job needs, and the job then waits while a gc holds its lock.
 */
export async function forceRefs(
  rt: ForceContext,
  refs: readonly string[],
  o: ForceTargetsOptions,
  targets?: TraceTarget[],
): Promise<ForceRefsOutcome> {
  const trace =
    o.trace === false
      ? undefined
      : JobTrace.open(rt.local.ggDir, {
          cwd: process.cwd(),
          argv: o.argv ?? [],
          targets: targets ?? refs.map((ref) => ({ target: ref, ref })),
          jobs: o.jobs,
          engine: rt.engine.name,
          store: rt.store.description,
        });
  if (trace) o.onTraceOpen?.(trace);
  try {
    await waitWhileGc(rt.local.ggDir, o.onGcWait, o.signal);
    const unreduced = new Set<string>();
    if (rt.remote) {
      // gg's model: everything the graph needs goes up in one bulk step, so any worker can force any thunk.
      await rt.remote.ensureRemote(
        await objectsToUpload(refs, rt.store, unreduced),
        o.onUpload ? { onProgress: o.onUpload } : {},
      );
    }
    const onEvent =
      trace && o.onEvent
        ? (e: ForceEvent): void => {
            trace.onEvent(e);
            o.onEvent!(e);
          }
        : (trace?.onEvent ?? o.onEvent);
    const outcome = await forceAll(refs, {
      store: rt.store,
      engine: rt.engine,
      jobs: o.jobs,
      ...(o.failFast ? { failFast: true } : {}),
      ...(onEvent ? { onEvent } : {}),
      ...(o.speculation !== undefined ? { speculation: o.speculation } : {}),
      ...(o.signal ? { signal: o.signal } : {}),
      unreduced,
    });
    const interrupted = o.signal?.aborted === true;
    const status: JobStatus = interrupted ? 'interrupted' : outcome.errors.size > 0 ? 'failed' : 'ok';
    trace?.close(status);
    return { ...outcome, interrupted, ...(trace ? { job: { id: trace.id, file: trace.file, status } } : {}) };
  } catch (e) {
    trace?.close(o.signal?.aborted ? 'interrupted' : 'error', e instanceof Error ? e.message : String(e));
    throw e;
  }
}

/**
 * An onEvent that writes what each executed thunk printed (a compile's warnings) to `stream`, once per thunk
 * (a run joined or repeated by another force sharing this writer prints nothing new), as make shows a
 * compiler's output; memoized results stay silent (as they ran before).
 */
export function showThunkLogs(stream: { write(text: string): unknown }): (e: ForceEvent) => void {
  const shown = new Set<string>();
  return (e) => {
    if (e.type !== 'finished' || !e.log.trim() || shown.has(e.name)) return;
    shown.add(e.name);
    stream.write(e.log.endsWith('\n') ? e.log : `${e.log}\n`);
  };
}
