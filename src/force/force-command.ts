/**
 * `gg force` as a library call: resolve targets, force them, put outputs in place of their placeholders.
 */
import { GgError } from '../errors.js';
import type { Runtime } from '../runtime.js';
import { forceAll, type ForceEvent, type ForceOutcome } from './force.js';
import type { SpeculationOptions } from './speculation.js';
import { linkOutput, placeOutput, resolveTarget, type Target } from './targets.js';
import { objectsToUpload } from './upload-plan.js';
import type { UploadProgress } from '../store/upload.js';

export interface ForceTargetsOptions {
  jobs: number;
  /** Progress of the bulk upload to a remote store, before forcing. */
  onUpload?: (p: UploadProgress) => void;
  failFast?: boolean;
  onEvent?: (e: ForceEvent) => void;
  /** Straggler duplicates (engines that run elsewhere); false = off. */
  speculation?: SpeculationOptions | false;
  /** Aborting cancels queued and running thunks (Ctrl-C). */
  signal?: AbortSignal;
}

export interface TargetReport {
  target: string;
  ref: string;
  result?: string;
  error?: GgError;
  upToDate?: boolean;
}

export interface ForceReport extends ForceOutcome {
  targets: TargetReport[];
}

export async function forceTargets(
  rt: Runtime,
  specs: readonly string[],
  o: ForceTargetsOptions,
): Promise<ForceReport> {
  if (specs.length === 0)
    throw new GgError('GG_E_USAGE', 'no targets given', { hint: 'gg force PLACEHOLDER|THUNK-NAME...' });
  const targets: Target[] = specs.map((s) => resolveTarget(s, rt.local));
  const refs = [...new Set(targets.filter((t) => !t.upToDate).map((t) => t.ref))];
  const outcome = await forceRefs(rt, refs, o);
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
      else await placeOutput(rt.store, t.file, result);
      if (t.inode !== undefined && sibling === undefined) placedByInode.set(t.inode, t.file);
    }
    reports.push({ target: t.spec, ref: t.ref, result });
  }
  return { ...outcome, targets: reports };
}

/** Force references on the runtime's engine and store (what every front end does with the graph it wrote). */
export async function forceRefs(rt: Runtime, refs: readonly string[], o: ForceTargetsOptions): Promise<ForceOutcome> {
  if (rt.remote) {
    // gg's model: everything the graph needs goes up in one bulk step, so any worker can force any thunk.
    await rt.remote.ensureRemote(await objectsToUpload(refs, rt.store), o.onUpload ? { onProgress: o.onUpload } : {});
  }
  return forceAll(refs, {
    store: rt.store,
    engine: rt.engine,
    jobs: o.jobs,
    ...(o.failFast ? { failFast: true } : {}),
    ...(o.onEvent ? { onEvent: o.onEvent } : {}),
    ...(o.speculation !== undefined ? { speculation: o.speculation } : {}),
    ...(o.signal ? { signal: o.signal } : {}),
  });
}

/**
 * An onEvent that writes what each executed thunk printed (a compile's warnings) to `stream`, once per
 * executed thunk, as make shows a compiler's output; memoized results stay silent (as they ran before).
 */
export function showThunkLogs(stream: NodeJS.WritableStream): (e: ForceEvent) => void {
  return (e) => {
    if (e.type === 'finished' && e.log.trim()) stream.write(e.log.endsWith('\n') ? e.log : `${e.log}\n`);
  };
}
