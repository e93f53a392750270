/**
 * The scheduler: forces thunk references to values.
 *
 * For each reference it first asks the memo (reductions); on a miss it loads the thunk, forces its thunk
 * inputs (in parallel, each at most once), rewrites it to its "updated" name as gg does, asks the memo again
 * under that name (early cutoff: an unchanged rewritten thunk is not re-run), and otherwise runs it on the
 * engine, at most `jobs` at once. A thunk whose main output is itself a thunk is forced in turn (dynamic
 * graphs). Every result is recorded under the updated name and the original one, so a warm target is one
 * lookup. A failure stops the thunk's dependants; independent work carries on unless `failFast`.
 */
import { setMaxListeners } from 'node:events';
import { GgError, isGgError } from '../errors.js';
import { computeName, isThunkName, joinTag, nameSize, splitTag } from '../ir/name.js';
import { decodeThunk, encodeThunk, rewriteThunk, thunkDependencies, type Thunk } from '../ir/thunk.js';
import type { Engine, ExecutionResult } from '../engine/engine.js';
import { putAllReductions, type Store } from '../store/store.js';
import { monotonicMs } from './clock.js';
import { Semaphore } from './semaphore.js';
import {
  executeSpeculatively,
  StragglerWatch,
  type SpeculationOptions,
  type SpeculationReport,
} from './speculation.js';

/**
 * What the scheduler reports as it goes (progress, --json-events and the job trace are fed from these).
 * `name` is the thunk that runs (its updated name once its inputs are forced); `orig`, when different, the name
 * it was discovered under. Where it ran: `engine`, `host` (the worker's id on remote engines, else 'local') and
 * `slot` (the scheduler's lane: at most `jobs` run at once, one per lane).
 */
export type ForceEvent =
  | { type: 'discovered'; name: string; argv0: string; deps: string[] }
  /** `how`: 'memo' = the reference itself was in the memo; 'cutoff' = its rewritten (updated) name was. */
  | { type: 'cached'; ref: string; how: 'memo' | 'cutoff'; orig?: string }
  | { type: 'queued'; name: string; orig?: string; argv0: string }
  /** `output`: the main output's tag; with the program it tells the kind of step (cc -> gg.o vs cc -> gg.s). */
  | ({ type: 'started'; name: string; orig?: string; argv0: string; output: string; bytesIn: number } & Placement)
  | ({
      type: 'finished';
      name: string;
      orig?: string;
      argv0: string;
      wallMs: number;
      cpuMs?: number;
      bytesOut: number;
      log: string;
      worker?: string;
      costUsd?: number;
    } & Placement)
  /** A duplicate of a straggler was launched (remote engines); `straggler` is the worker of the original. */
  | { type: 'speculated'; name: string; argv0: string; straggler?: string }
  | ({ type: 'failed'; name: string; orig?: string; error: GgError } & Placement)
  | { type: 'cancelled'; name: string }
  | { type: 'retry'; name: string; attempt: number; error: GgError };

/** Where a thunk ran: the engine, the host (a remote worker's id, or 'local'), and the scheduler's slot. */
export interface Placement {
  engine: string;
  host: string;
  slot: number;
}

/** The host a run on this machine reports. */
export const LOCAL_HOST = 'local';

export interface ForceOptions {
  store: Store;
  engine: Engine;
  jobs: number;
  failFast?: boolean;
  /** Attempts for infrastructure failures (the program's own failure is never retried). */
  attempts?: number;
  onEvent?: (e: ForceEvent) => void;
  /** Straggler duplicates on engines that can run them elsewhere (on by default there); false = off. */
  speculation?: SpeculationOptions | false;
  /** Aborting (Ctrl-C) cancels queued and running thunks; results already recorded stay. */
  signal?: AbortSignal;
  /**
   * Refs the caller has just found missing from the memo (the upload plan): not looked up again, which on a
   * remote store saves a round trip per level of the graph. (One reduced meanwhile by someone else is run
   * again; a cluster worker's claim then reports the first result.)
   */
  unreduced?: ReadonlySet<string>;
}

export interface ForceOutcome {
  /** ref -> value name, for every target that succeeded. */
  results: Map<string, string>;
  /** ref -> error, for every target that did not. */
  errors: Map<string, GgError>;
  /** Thunks that failed themselves (not because a dependency did). */
  failures: { name: string; error: GgError }[];
  executed: number;
  cached: number;
  wallMs: number;
  speculation: SpeculationReport;
}

interface ThunkOutputs {
  /** tag -> name, in declaration order; the first entry is the main output. */
  byTag: Map<string, string>;
  main: string;
  /** The engine recorded these outputs under the name it ran (ExecutionResult.recorded). */
  recorded?: { signed: boolean };
}

/** What an early dispatch withdrawn for an early cutoff rejects with (never seen outside the Forcer). */
const WITHDRAWN = new GgError('GG_E_CANCELLED', 'withdrawn: an early cutoff answered');

/** The promise for `key`, started on first request: each ref and each thunk is worked on at most once per run. */
function once<T>(started: Map<string, Promise<T>>, key: string, start: () => Promise<T>): Promise<T> {
  let p = started.get(key);
  if (!p) {
    p = start();
    started.set(key, p);
  }
  return p;
}

export class Forcer {
  private readonly refs = new Map<string, Promise<string>>();
  private readonly thunks = new Map<string, Promise<ThunkOutputs>>();
  private readonly slots: Semaphore;
  private readonly attempts: number;
  private stopped: GgError | undefined;
  private readonly abort = new AbortController();
  private readonly stragglers: StragglerWatch | undefined;
  readonly speculation: SpeculationReport = { duplicates: 0, won: 0, savedMs: 0 };
  /** Free slot numbers: which of the `jobs` lanes a run holds (the trace draws one row per lane). */
  private readonly freeSlots: number[];
  private interrupted = false;
  /** Memo writes under way (recordSoon), and the first that failed. */
  private readonly recording = new Set<Promise<void>>();
  private recordError: GgError | undefined;
  /** Thunks this force ran (their outputs are new): a dependant of one is dispatched early (runThunk). */
  private readonly ran = new Set<string>();
  executed = 0;
  cached = 0;
  readonly failures: { name: string; error: GgError }[] = [];

  /** Who waits for whom (refs, and `thunk:NAME` for a thunk's run): a wait that would close a loop is a cycle. */
  private readonly waits = new Map<string, Set<string>>();
  /** Wait edges that follow a memo entry (ref -> its recorded result), dropped when they form a cycle. */
  private readonly memoEdges = new Set<string>();

  constructor(private readonly o: ForceOptions) {
    this.slots = new Semaphore(Math.max(1, o.jobs));
    // Remote engines meet more infrastructure failures (a worker lost, an upload refused) than one machine.
    this.attempts = o.attempts ?? (o.engine.speculative ? 5 : 3);
    // Every running thunk listens for a stop: thousands of listeners on one signal are expected.
    setMaxListeners(0, this.abort.signal);
    this.stragglers =
      o.engine.speculative && o.speculation !== false ? new StragglerWatch(o.speculation ?? {}) : undefined;
    const jobs = Math.max(1, o.jobs);
    this.freeSlots = Array.from({ length: jobs }, (_, i) => jobs - 1 - i);
  }

  /** Stop queued and running thunks (Ctrl-C): they fail with GG_E_CANCELLED, the store stays consistent. */
  cancel(reason = 'interrupted'): void {
    if (this.stopped) return;
    this.interrupted = true;
    this.stopped = new GgError('GG_E_CANCELLED', `not run: ${reason}`, {
      hint: 'run the same command again to resume: finished thunks are memoized',
    });
    this.abort.abort(this.stopped);
  }

  /** One run on the engine; `withdraw` (an early dispatch's) stops it like a Ctrl-C does. */
  private run(name: string, thunk: Thunk, argv0: string, withdraw?: AbortSignal): Promise<ExecutionResult> {
    const engine = this.o.engine;
    let signal = this.abort.signal;
    let release = (): void => undefined;
    if (withdraw) {
      const both = new AbortController();
      const stop = (): void => both.abort(this.abort.signal.aborted ? this.abort.signal.reason : withdraw.reason);
      this.abort.signal.addEventListener('abort', stop, { once: true });
      withdraw.addEventListener('abort', stop, { once: true });
      release = () => {
        this.abort.signal.removeEventListener('abort', stop);
        withdraw.removeEventListener('abort', stop);
      };
      signal = both.signal;
    }
    const onDuplicate = (straggler: string | undefined): void =>
      this.emit({ type: 'speculated', name, argv0, ...(straggler ? { straggler } : {}) });
    const p = this.stragglers
      ? executeSpeculatively(engine, name, thunk, signal, this.stragglers, this.speculation, onDuplicate)
      : engine.execute(name, thunk, { abort: signal });
    return withdraw ? p.finally(release) : p;
  }

  /**
   * `from` is about to wait for `to`. A memo written by anyone (a shared Redis, a bad tool) may loop (T -> T,
   * T -> T2 -> T): waiting would never end, so a loop is GG_E_MEMO_CYCLE and its memo entries are dropped.
   */
  private async waitFor<T>(from: string, to: string, viaMemo: boolean, work: () => Promise<T>): Promise<T> {
    const path = this.pathBetween(to, from);
    if (path) {
      const loop = [from, ...path];
      const bad = loop
        .slice(0, -1)
        .map((n, i) => ((viaMemo && i === 0) || this.memoEdges.has(`${n}\0${loop[i + 1]}`) ? n : undefined))
        .filter((n): n is string => n !== undefined && !n.startsWith('thunk:'));
      for (const ref of bad) await this.o.store.deleteReduction?.(ref).catch(() => undefined);
      throw new GgError(
        'GG_E_MEMO_CYCLE',
        `the memo loops: ${loop.map((n) => n.replace(/^thunk:/, '')).join(' -> ')}${bad.length ? `; ${bad.length === 1 ? 'its entry was' : 'its entries were'} dropped` : ''}`,
        {
          hint: 'run the command again to recompute; if it comes back, someone writes bad entries to the shared memo (see docs/SECURITY.md: signed memo entries)',
        },
      );
    }
    let set = this.waits.get(from);
    if (!set) this.waits.set(from, (set = new Set()));
    set.add(to);
    const edge = `${from}\0${to}`;
    if (viaMemo) this.memoEdges.add(edge);
    try {
      return await work();
    } finally {
      set.delete(to);
      if (set.size === 0) this.waits.delete(from);
      this.memoEdges.delete(edge);
    }
  }

  /** A path of wait edges from `a` to `b` (a..b inclusive), iteratively; undefined if there is none. */
  private pathBetween(a: string, b: string): string[] | undefined {
    if (a === b) return [a];
    const prev = new Map<string, string>([[a, a]]);
    const queue = [a];
    for (let i = 0; i < queue.length; i++) {
      const n = queue[i]!;
      for (const m of this.waits.get(n) ?? []) {
        if (prev.has(m)) continue;
        prev.set(m, n);
        if (m === b) {
          const path = [b];
          for (let x = b; x !== a;) path.unshift((x = prev.get(x)!));
          return path;
        }
        queue.push(m);
      }
    }
    return undefined;
  }

  private emit(e: ForceEvent): void {
    this.o.onEvent?.(e);
  }

  /** Force one reference (`V...` returns itself) to a value name. */
  force(ref: string): Promise<string> {
    return once(this.refs, ref, () => this.resolveRef(ref));
  }

  private async resolveRef(ref: string): Promise<string> {
    const { name, tag } = splitTag(ref);
    if (!isThunkName(name)) return name;
    const store = this.o.store;
    const memo = this.o.unreduced?.has(ref) ? undefined : await store.getReduction(ref);
    if (memo !== undefined && (isThunkName(memo) || (await store.has(memo)))) {
      this.cached++;
      this.emit({ type: 'cached', ref, how: 'memo' });
      return isThunkName(splitTag(memo).name) ? this.waitFor(ref, memo, true, () => this.force(memo)) : memo;
    }
    const outputs = await this.waitFor(ref, `thunk:${name}`, false, () => this.resolveThunk(name));
    const out = tag === undefined ? outputs.main : outputs.byTag.get(tag);
    if (out === undefined) {
      throw new GgError('GG_E_THUNK_INVALID', `thunk ${name} has no output '${tag}'`, {
        hint: `its outputs are: ${[...outputs.byTag.keys()].join(', ')}`,
      });
    }
    if (!isThunkName(out)) return out; // recorded with the thunk's other outputs
    const value = await this.waitFor(ref, out, false, () => this.force(out));
    // Dynamic graph: the memo held a chain (ref -> thunk); record the final value so next time is one lookup.
    await store.putReduction(ref, value);
    return value;
  }

  private resolveThunk(name: string): Promise<ThunkOutputs> {
    return once(this.thunks, name, () => this.runThunk(name));
  }

  private async runThunk(name: string): Promise<ThunkOutputs> {
    const store = this.o.store;
    const thunk = decodeThunk(await store.get(name));
    const deps = thunkDependencies(thunk);
    this.emit({ type: 'discovered', name, argv0: thunk.function.args[0] ?? '', deps });
    const resolved = new Map<string, string>();
    if (deps.length > 0) {
      const settled = await Promise.allSettled(
        deps.map((d) => this.waitFor(`thunk:${name}`, d, false, () => this.force(d))),
      );
      settled.forEach((s, i) => {
        if (s.status === 'rejected') {
          const cause = s.reason as unknown;
          const code = isGgError(cause) ? cause.code : 'GG_E_INTERNAL';
          if (code === 'GG_E_MEMO_CYCLE') throw cause;
          throw new GgError(
            'GG_E_DEPENDENCY_FAILED',
            `thunk ${name} was not run: its input ${deps[i]} failed (${code})`,
            { cause },
          );
        }
        resolved.set(deps[i]!, s.value);
      });
    }
    let runName = name;
    let runThunk: Thunk = thunk;
    if (deps.length > 0) {
      runThunk = rewriteThunk(thunk, resolved);
      const bytes = encodeThunk(runThunk);
      runName = computeName(bytes);
      if (runName !== name) {
        // A dependency that ran in this force made a new value, so the rewritten thunk is most likely new too:
        // an engine that carries the thunk in its job gets it first, and the early-cutoff lookup and the put of
        // its bytes follow (a turn later: their local file work would hold the job back); a cutoff withdraws
        // the run (a worker that already runs it is stopped; its memo claim would lose to the entries there).
        // After memo hits (a warm build) the lookup goes first: a memoized graph queues nothing.
        const early =
          deps.some((d) => this.ran.has(splitTag(d).name)) && bytes.length <= (this.o.engine.carriesThunkBytes ?? -1)
            ? new AbortController()
            : undefined;
        let answer = (_go: boolean): void => undefined;
        const running = early
          ? this.execute(runName, runThunk, name, {
              withdraw: early.signal,
              go: new Promise<boolean>((resolve) => (answer = resolve)),
            })
          : undefined;
        running?.catch(() => undefined); // awaited below unless withdrawn
        if (early) await new Promise((resolve) => setImmediate(resolve));
        // Early cutoff: the rewritten thunk may already be known even though the original is not. Its bytes
        // are stored meanwhile (one round trip for both on a remote store; wasted only on a cutoff).
        const lookup = this.memoOutputs(runName, runThunk);
        const put = store.put(bytes);
        void lookup.then(
          (k) => answer(k === undefined),
          () => answer(false),
        );
        let known: ThunkOutputs | undefined;
        try {
          [known] = await Promise.all([lookup, put]);
        } catch (e) {
          early?.abort();
          throw e;
        }
        if (known) {
          early?.abort();
          this.cached++;
          this.emit({ type: 'cached', ref: runName, how: 'cutoff', orig: name });
          this.recordSoon([name], runThunk, known);
          return known;
        }
        if (running) return this.ranNow(name, [runName, name], runThunk, await running);
      }
    }
    const outputs = await this.execute(runName, runThunk, runName === name ? undefined : name);
    return this.ranNow(name, runName === name ? [name] : [runName, name], runThunk, outputs);
  }

  private ranNow(name: string, names: string[], thunk: Thunk, outputs: ThunkOutputs): ThunkOutputs {
    this.ran.add(name);
    this.recordSoon(names, thunk, outputs);
    return outputs;
  }

  /**
   * The memo entries are written while the dependants go on: they only serve later runs (this run knows the
   * outputs), and on a remote store the writes were a few round trips on every dependent step. forceAll waits
   * for them all before it returns.
   */
  private recordSoon(names: string[], thunk: Thunk, outputs: ThunkOutputs): void {
    // Started on the next turn: their synchronous part (a local memo file per entry, slow to create on ext4)
    // would otherwise run in the microtasks ahead of the dependants' continuations and delay their dispatch.
    const next = new Promise<void>((resolve) => setImmediate(resolve));
    const p = next
      .then(() => this.record(names, thunk, outputs))
      .then(
        () => {
          this.recording.delete(p);
        },
        (e: unknown) => {
          this.recording.delete(p);
          this.recordError ??= isGgError(e)
            ? e
            : new GgError('GG_E_INTERNAL', `recording ${names[0]}: ${(e as Error).message}`, { cause: e });
        },
      );
    this.recording.add(p);
  }

  /** Wait for the memo writes still under way; the first that failed is thrown (the store is broken). */
  async recorded(): Promise<void> {
    while (this.recording.size > 0) await Promise.all([...this.recording]);
    if (this.recordError) throw this.recordError;
  }

  private async memoOutputs(name: string, thunk: Thunk): Promise<ThunkOutputs | undefined> {
    const refs = thunk.outputs.map((tag) => joinTag(name, tag));
    const found = await this.o.store.getReductions(refs);
    if (found.some((f) => f === undefined)) return undefined;
    const values = found.filter((f): f is string => f !== undefined && !isThunkName(f));
    const present = await this.o.store.hasMany(values);
    if (present.some((p) => !p)) return undefined;
    const byTag = new Map<string, string>();
    thunk.outputs.forEach((tag, i) => byTag.set(tag, found[i]!));
    return { byTag, main: found[0]! };
  }

  /**
   * Memo entries, under each of `names`: T#tag for every output, and bare T for the main one (gg's layout).
   * `names[0]` is the name that ran: when the engine recorded its entries already, they are only noted.
   */
  private async record(names: string[], thunk: Thunk, outputs: ThunkOutputs): Promise<void> {
    const store = this.o.store;
    const entriesOf = (name: string): [string, string][] => [
      ...thunk.outputs.map((tag): [string, string] => [joinTag(name, tag), outputs.byTag.get(tag)!]),
      [name, outputs.main],
    ];
    if (outputs.recorded) {
      await store.noteReductions?.(entriesOf(names[0]!), outputs.recorded.signed);
      names = names.slice(1);
      if (names.length === 0) return;
    }
    const entries = names.flatMap(entriesOf);
    await putAllReductions(store, entries);
  }

  /**
   * Run a thunk on the engine, retrying infrastructure failures. `early`: dispatched before the memo lookup
   * for its early cutoff has answered; `go` says whether it stands (then it is reported as queued and started)
   * or was withdrawn (it rejects with WITHDRAWN, and nothing is reported).
   */
  private async execute(
    name: string,
    thunk: Thunk,
    orig: string | undefined,
    early?: { withdraw: AbortSignal; go: Promise<boolean> },
  ): Promise<ThunkOutputs> {
    const argv0 = thunk.function.args[0] ?? '';
    const o = orig === undefined ? {} : { orig };
    if (!early) this.emit({ type: 'queued', name, ...o, argv0 });
    await this.slots.acquire();
    const slot = this.freeSlots.pop() ?? 0;
    const where: Placement = { engine: this.o.engine.name, host: LOCAL_HOST, slot };
    try {
      if (this.stopped) throw this.stopped;
      // Names carry their sizes: bytes in and out are known without touching the objects.
      const bytesIn = [...thunk.values, ...thunk.executables].reduce((n, i) => n + nameSize(i.name), 0);
      for (let attempt = 1; ; attempt++) {
        if (early?.withdraw.aborted) throw WITHDRAWN; // the cutoff answered while it waited for a slot
        const dispatched = early && attempt === 1 ? this.run(name, thunk, argv0, early.withdraw) : undefined;
        if (dispatched) {
          dispatched.catch(() => undefined); // awaited below unless withdrawn
          if (!(await early!.go)) throw WITHDRAWN;
          this.emit({ type: 'queued', name, ...o, argv0 });
        }
        this.emit({ type: 'started', name, ...o, argv0, output: thunk.outputs[0] ?? '', bytesIn, ...where });
        try {
          const r = await (dispatched ?? this.run(name, thunk, argv0));
          this.executed++;
          this.stragglers?.record(thunk, r.wallMs);
          this.emit({
            type: 'finished',
            name,
            ...o,
            argv0,
            wallMs: r.wallMs,
            log: r.log,
            ...where,
            bytesOut: r.outputs.reduce((n, out) => n + nameSize(out.name), 0),
            ...(r.worker ? { worker: r.worker, host: r.worker } : {}),
            ...(r.cpuMs === undefined ? {} : { cpuMs: r.cpuMs }),
            ...(r.costUsd === undefined ? {} : { costUsd: r.costUsd }),
          });
          const byTag = new Map(r.outputs.map((o) => [o.tag, o.name]));
          return { byTag, main: r.outputs[0]!.name, ...(r.recorded ? { recorded: r.recorded } : {}) };
        } catch (e) {
          const err = isGgError(e)
            ? e
            : new GgError('GG_E_INTERNAL', `running ${name}: ${(e as Error).message}`, { cause: e });
          if (err.retryable && attempt < this.attempts && !this.interrupted) {
            this.emit({ type: 'retry', name, attempt, error: err });
            await new Promise((r) => setTimeout(r, 100 * 4 ** (attempt - 1)));
            continue;
          }
          // After Ctrl-C a program may die of the terminal's SIGINT before the abort reaches it: not its fault.
          if (err.code === 'GG_E_CANCELLED' || this.interrupted) {
            this.emit({ type: 'cancelled', name }); // stopped by --fail-fast or Ctrl-C: not a failure of its own
            throw this.interrupted ? this.stopped! : err;
          }
          this.failures.push({ name, error: err });
          this.emit({ type: 'failed', name, ...o, error: err, ...where });
          // A machine that cannot run jails at all stops the whole run: every thunk would fail the same way.
          if ((this.o.failFast || err.code === 'GG_E_SANDBOX_UNAVAILABLE') && !this.stopped) {
            this.stopped = new GgError('GG_E_CANCELLED', `not run: stopped after the first failure (--fail-fast)`);
            this.abort.abort(this.stopped);
          } else if ((err.code === 'GG_E_COST_LIMIT' || err.code === 'GG_E_LAMBDA_CONFIG') && !this.stopped) {
            // No new launches; what is running finishes and is recorded, so a second force resumes from there.
            this.stopped = err;
          }
          throw err;
        }
      }
    } finally {
      this.freeSlots.push(slot);
      this.slots.release();
    }
  }
}

/** Force every target; never throws for a thunk's failure (see `errors`), only for broken infrastructure. */
export async function forceAll(targets: readonly string[], o: ForceOptions): Promise<ForceOutcome> {
  const start = monotonicMs();
  const forcer = new Forcer(o);
  const onAbort = (): void => forcer.cancel(typeof o.signal?.reason === 'string' ? o.signal.reason : undefined);
  if (o.signal?.aborted) onAbort();
  o.signal?.addEventListener('abort', onAbort, { once: true });
  const settled = await Promise.allSettled(targets.map((t) => forcer.force(t)));
  o.signal?.removeEventListener('abort', onAbort);
  await forcer.recorded();
  const results = new Map<string, string>();
  const errors = new Map<string, GgError>();
  settled.forEach((s, i) => {
    const ref = targets[i]!;
    if (s.status === 'fulfilled') results.set(ref, s.value);
    else
      errors.set(
        ref,
        isGgError(s.reason) ? s.reason : new GgError('GG_E_INTERNAL', String((s.reason as Error)?.stack ?? s.reason)),
      );
  });
  return {
    results,
    errors,
    failures: forcer.failures,
    executed: forcer.executed,
    cached: forcer.cached,
    wallMs: monotonicMs() - start,
    speculation: forcer.speculation,
  };
}
