/**
 * Straggler mitigation (gg's duplicate launches): a thunk still running past its `timeout` hint, or past k
 * times the median run time of thunks of the same function, gets one duplicate on another worker. The first
 * result wins; the other run is cancelled. Only for engines that can run the duplicate elsewhere.
 */
import { GgError, isGgError } from '../errors.js';
import type { Thunk } from '../ir/thunk.js';
import type { Engine, ExecutionResult } from '../engine/engine.js';
import { monotonicMs } from './clock.js';

export interface SpeculationOptions {
  /** A run past k x the median of its function is a straggler (default 3). */
  k?: number;
  /** Never duplicate before this many ms (noise on trivial thunks; default 500). */
  minMs?: number;
  /** Runs of a function needed before its median is trusted (default 3). */
  minSamples?: number;
}

export interface SpeculationReport {
  /** Duplicates launched. */
  duplicates: number;
  /** Duplicates that finished first (their original was cancelled). */
  won: number;
  /**
   * Estimate of the time saved: for each win, how far past its function's usual run time (the median, or its
   * hint) the original already was when the duplicate's result arrived. The graph stopped waiting on it then.
   */
  savedMs: number;
}

const MAX_SAMPLES = 101;

/** Run times by function (its executable and argv[0]) and the straggler threshold they imply. */
export class StragglerWatch {
  private readonly samples = new Map<string, number[]>();
  private readonly k: number;
  private readonly minMs: number;
  private readonly minSamples: number;

  constructor(o: SpeculationOptions = {}) {
    this.k = o.k ?? 3;
    this.minMs = o.minMs ?? 500;
    this.minSamples = o.minSamples ?? 3;
    if (!(this.k > 1) || !(this.minMs >= 0) || !(this.minSamples >= 1)) {
      throw new GgError(
        'GG_E_USAGE',
        `bad speculation settings (k ${this.k}, min ${this.minMs} ms, ${this.minSamples} samples)`,
        { hint: 'k must be above 1' },
      );
    }
  }

  static key(thunk: Thunk): string {
    return `${thunk.function.hash} ${thunk.function.args[0] ?? ''}`;
  }

  record(thunk: Thunk, ms: number): void {
    const key = StragglerWatch.key(thunk);
    let list = this.samples.get(key);
    if (!list) this.samples.set(key, (list = []));
    list.push(ms);
    if (list.length > MAX_SAMPLES) list.shift();
  }

  median(thunk: Thunk): number | undefined {
    const list = this.samples.get(StragglerWatch.key(thunk));
    if (!list || list.length < this.minSamples) return undefined;
    const sorted = [...list].sort((a, b) => a - b);
    return sorted[Math.floor(sorted.length / 2)];
  }

  /** When a run of `thunk` becomes a straggler (ms after it started), or undefined if nothing says yet. */
  thresholdMs(thunk: Thunk): number | undefined {
    const med = this.median(thunk);
    const candidates: number[] = [];
    if (thunk.timeout > 0) candidates.push(thunk.timeout);
    if (med !== undefined) candidates.push(this.k * med);
    if (candidates.length === 0) return undefined;
    return Math.max(this.minMs, Math.min(...candidates));
  }

  /** The usual run time of the function: the median, else the hint. */
  usualMs(thunk: Thunk): number {
    return this.median(thunk) ?? (thunk.timeout > 0 ? thunk.timeout : 0);
  }
}

interface Run {
  ctl: AbortController;
  startedAt?: number;
  worker?: string;
  timer?: NodeJS.Timeout;
  duplicate: boolean;
  done: boolean;
}

/**
 * Execute with at most one duplicate for a straggler. Resolves with the first success; a failure of the
 * program itself (not retryable) is final at once; an infrastructure failure waits for the other run.
 */
export function executeSpeculatively(
  engine: Engine,
  name: string,
  thunk: Thunk,
  parent: AbortSignal,
  watch: StragglerWatch,
  report: SpeculationReport,
  onDuplicate?: (worker: string | undefined) => void,
): Promise<ExecutionResult> {
  return new Promise((resolve, reject) => {
    const runs: Run[] = [];
    let settled = false;
    const settle = (winner: Run | undefined): void => {
      settled = true;
      for (const r of runs) {
        clearTimeout(r.timer);
        if (r !== winner && !r.done) r.ctl.abort(); // the loser is cancelled wherever it is
      }
    };
    const arm = (run: Run): void => {
      const after = watch.thresholdMs(thunk);
      if (after === undefined) return;
      run.timer = setTimeout(() => {
        if (settled || runs.length > 1) return;
        report.duplicates++;
        onDuplicate?.(run.worker);
        launch(run.worker);
      }, after);
      run.timer.unref();
    };
    const launch = (avoid: string | undefined): void => {
      const run: Run = { ctl: new AbortController(), duplicate: runs.length > 0, done: false };
      runs.push(run);
      const onParent = (): void => run.ctl.abort();
      parent.addEventListener('abort', onParent, { once: true });
      const started = (worker: string | undefined): void => {
        if (run.startedAt !== undefined) return;
        run.startedAt = monotonicMs();
        if (worker !== undefined) run.worker = worker;
        if (!run.duplicate) arm(run);
      };
      engine
        .execute(name, thunk, {
          abort: run.ctl.signal,
          onStarted: started,
          ...(avoid !== undefined ? { avoidWorker: avoid } : {}),
        })
        .then(
          (r) => {
            run.done = true;
            if (settled) return;
            if (run.duplicate) {
              report.won++;
              const original = runs[0]!;
              if (original.startedAt !== undefined)
                report.savedMs += Math.max(0, monotonicMs() - original.startedAt - watch.usualMs(thunk));
            }
            settle(run);
            resolve(r);
          },
          (e: unknown) => {
            run.done = true;
            if (settled) return;
            const retryable = isGgError(e) && e.retryable;
            if (!retryable || runs.every((x) => x.done)) {
              settle(undefined);
              reject(e);
            }
          },
        )
        .finally(() => parent.removeEventListener('abort', onParent));
      if (parent.aborted) run.ctl.abort();
    };
    launch(undefined);
  });
}
