/**
 * An engine executes thunks whose inputs are all values and reports the names of their outputs.
 * Engines know nothing of make or gcc; the scheduler (src/force) knows nothing of where thunks run.
 * Every engine works over any Store: objects a thunk needs are fetched through the shared worker runtime
 * (`worker-runtime.ts`) into an `ObjectCache`, never looked up in a concrete store.
 */
import type { Thunk } from '../ir/thunk.js';

export interface ExecutedOutput {
  tag: string;
  name: string;
}

/** Where the time and the bytes of one run went (measured where the thunk ran). */
export interface ExecutionStats {
  fetchMs: number;
  runMs: number;
  uploadMs: number;
  /** Bytes of inputs downloaded into the runner's cache for this run (0 when all were cached). */
  bytesFetched: number;
  bytesUploaded: number;
  /** Objects downloaded for this run (they are now in the runner's cache). */
  fetched: string[];
}

export interface ExecutionResult {
  outputs: ExecutedOutput[];
  wallMs: number;
  /** What the program printed (stdout+stderr), when it printed anything; shown like a compiler's warnings. */
  log: string;
  /** Which worker ran it (remote engines). */
  worker?: string;
  stats?: ExecutionStats;
  /** CPU time of the program (user + system), when the sandbox can measure it. */
  cpuMs?: number;
  /** What this run cost, for engines that bill (Lambda); shown live and kept in the job trace. */
  costUsd?: number;
  /**
   * The runner recorded the memo entries (T#tag for each output, and T) in the shared store itself, signed or
   * not: the scheduler only notes them locally (Store.noteReductions) instead of writing them a second time.
   */
  recorded?: { signed: boolean };
}

export interface ExecuteOptions {
  /** Aborting cancels the run wherever it is (queued or running). */
  abort?: AbortSignal;
  /** Called when the thunk really starts (a worker took it), with the worker's id if remote. */
  onStarted?: (worker: string | undefined) => void;
  /** Run it anywhere but on this worker (a speculative duplicate of a straggler). */
  avoidWorker?: string;
}

export interface Engine {
  readonly name: string;
  /**
   * Whether a straggler's duplicate can run somewhere else (remote engines): the scheduler then speculates.
   * On one machine a duplicate only competes with the original for the same cores.
   */
  readonly speculative?: boolean;
  /**
   * Thunks up to this many bytes (encoded) travel inside the engine's job: it never reads them from the store.
   * The scheduler may then dispatch a thunk whose dependency just ran while it stores the thunk and asks the
   * memo for an early cutoff, instead of after (withdrawing the run on a cutoff): on a remote engine those are
   * round trips on every dependent step.
   */
  readonly carriesThunkBytes?: number;
  /** Run `thunk` (named `name`; no thunk inputs left). Rejects with a GgError on any failure. */
  execute(name: string, thunk: Thunk, opts?: ExecuteOptions): Promise<ExecutionResult>;
  /** Counters for `gg force --json`'s `engine` block (jobs, bytes moved, cost, ...), if the engine keeps any. */
  summary?(): Record<string, unknown>;
  close(): Promise<void>;
  /** A few words for the live status line (a remote engine's cost, throttling), if it has any. */
  statusText?(): string;
}
