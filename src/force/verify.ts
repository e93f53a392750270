/**
 * The determinism check (`gg verify`, `gg force --check`): every thunk of the targets' graphs runs a second
 * time in a fresh jail, memo ignored, with exactly the inputs of its first run; any output whose name differs
 * from the first run's is reported by thunk and tag. The first run is whatever the memo holds (forced now if
 * missing), so a check also catches a thunk that gives another result today than it did yesterday.
 * Second-run outputs enter the store (they are content-addressed) but never the memo.
 */
import { GgError, isGgError } from '../errors.js';
import { computeName, isThunkName, isValidName, joinTag, nameSize, splitTag } from '../ir/name.js';
import { decodeThunk, encodeThunk, rewriteThunk, thunkDependencies, type Thunk } from '../ir/thunk.js';
import type { Engine } from '../engine/engine.js';
import type { Store } from '../store/store.js';
import { Forcer, LOCAL_HOST, type ForceEvent } from './force.js';
import { Semaphore } from './semaphore.js';

export interface OutputDifference {
  /** The thunk as it ran (dependencies rewritten to their values). */
  thunk: string;
  argv0: string;
  tag: string;
  first: string;
  second: string;
}

export interface VerifyOptions {
  store: Store;
  engine: Engine;
  jobs: number;
  onEvent?: (e: ForceEvent) => void;
}

export interface VerifyOutcome {
  /** Thunks run a second time. */
  checked: number;
  differences: OutputDifference[];
  /** ref -> error, for targets that could not be forced or re-run at all. */
  errors: Map<string, GgError>;
}

export async function verifyRefs(refs: readonly string[], o: VerifyOptions): Promise<VerifyOutcome> {
  const forcer = new Forcer({
    store: o.store,
    engine: o.engine,
    jobs: o.jobs,
    ...(o.onEvent ? { onEvent: o.onEvent } : {}),
  });
  const slots = new Semaphore(Math.max(1, o.jobs));
  const visits = new Map<string, Promise<void>>();
  const differences: OutputDifference[] = [];
  let checked = 0;

  const visit = (name: string): Promise<void> => {
    let p = visits.get(name);
    if (!p) {
      p = check(name);
      visits.set(name, p);
    }
    return p;
  };

  const check = async (name: string): Promise<void> => {
    const thunk = decodeThunk(await o.store.get(name));
    const deps = thunkDependencies(thunk);
    // First run (or the memo's record of it) of this thunk and of everything it depends on.
    await forcer.force(name);
    await forcer.recorded(); // its memo entries are read below
    const resolved = new Map<string, string>();
    for (const d of deps) resolved.set(d, await forcer.force(d));
    const asRun: Thunk = deps.length > 0 ? rewriteThunk(thunk, resolved) : thunk;
    const runName = deps.length > 0 ? computeName(encodeThunk(asRun)) : name;
    const firstRefs = asRun.outputs.map((tag) => joinTag(runName, tag));
    let first = await o.store.getReductions(firstRefs);
    if (first.some((f) => f === undefined) && runName !== name)
      first = await o.store.getReductions(asRun.outputs.map((tag) => joinTag(name, tag)));
    const argv0 = asRun.function.args[0] ?? '';
    const byTag = new Map<string, string>();
    await slots.acquire();
    try {
      const where = { engine: o.engine.name, host: LOCAL_HOST, slot: 0 };
      const bytesIn = [...asRun.values, ...asRun.executables].reduce((n, i) => n + nameSize(i.name), 0);
      o.onEvent?.({ type: 'started', name: runName, argv0, output: asRun.outputs[0] ?? '', bytesIn, ...where });
      const second = await o.engine.execute(runName, asRun);
      const bytesOut = second.outputs.reduce((n, x) => n + nameSize(x.name), 0);
      o.onEvent?.({
        type: 'finished',
        name: runName,
        argv0,
        wallMs: second.wallMs,
        bytesOut,
        log: '',
        ...where,
        ...(second.worker ? { host: second.worker } : {}),
      });
      for (const x of second.outputs) byTag.set(x.tag, x.name);
    } catch (e) {
      // It succeeded the first time: failing now is nondeterminism too (but a broken machine is not).
      if (!isGgError(e) || e.retryable || e.code === 'GG_E_INFRA') throw e;
      for (const tag of asRun.outputs) byTag.set(tag, `failed (${e.code})`);
    } finally {
      checked++;
      slots.release();
    }
    asRun.outputs.forEach((tag, i) => {
      const a = first[i];
      const b = byTag.get(tag);
      if (a !== undefined && b !== undefined && a !== b)
        differences.push({ thunk: runName, argv0, tag, first: a, second: b });
    });
    // The graph goes on below (dependencies) and, for dynamic graphs, through outputs that are thunks.
    const next = new Set(deps.map((d) => splitTag(d).name));
    for (const out of [...first, ...byTag.values()])
      if (out !== undefined && isValidName(splitTag(out).name) && isThunkName(splitTag(out).name))
        next.add(splitTag(out).name);
    await Promise.all([...next].map(visit));
  };

  const errors = new Map<string, GgError>();
  await Promise.all(
    refs.map(async (ref) => {
      const { name } = splitTag(ref);
      if (!isThunkName(name)) return;
      try {
        await visit(name);
      } catch (e) {
        errors.set(ref, isGgError(e) ? e : new GgError('GG_E_INTERNAL', String((e as Error)?.stack ?? e)));
      }
    }),
  );
  differences.sort((a, b) => (a.thunk + a.tag < b.thunk + b.tag ? -1 : 1));
  return { checked, differences, errors };
}

/** GG_E_NONDETERMINISTIC naming every differing output, or undefined when all agreed. */
export function nondeterminismError(differences: readonly OutputDifference[]): GgError | undefined {
  if (differences.length === 0) return undefined;
  const lines = differences.map((d) => `  ${d.thunk} (${d.argv0}) output '${d.tag}': ${d.first} then ${d.second}`);
  const thunks = new Set(differences.map((d) => d.thunk)).size;
  return new GgError(
    'GG_E_NONDETERMINISTIC',
    `${thunks} thunk(s) gave different outputs when run twice:\n${lines.join('\n')}`,
    {
      hint: 'a thunk must depend only on its inputs: look for timestamps, random numbers, PIDs or unordered directory listings in its outputs',
    },
  );
}
