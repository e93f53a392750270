/**
 * An engine executes thunks whose inputs are all values and reports the names of their outputs.
 * Engines know nothing of make or gcc; the scheduler (src/force) knows nothing of where thunks run.
 */
import type { Thunk } from '../ir/thunk.js';

export interface ExecutedOutput {
  tag: string;
  name: string;
}

export interface ExecutionResult {
  outputs: ExecutedOutput[];
  wallMs: number;
  /** What the program printed (stdout+stderr), when it printed anything; shown like a compiler's warnings. */
  log: string;
}

export interface Engine {
  readonly name: string;
  /** Run `thunk` (named `name`; no thunk inputs left). Rejects with a GgError on any failure. */
  execute(name: string, thunk: Thunk, abort?: AbortSignal): Promise<ExecutionResult>;
  close(): Promise<void>;
  /** A few words for the live status line (a remote engine's cost, throttling), if it has any. */
  statusText?(): string;
  /** Engine-specific counters for `gg force --json`. */
  report?(): Record<string, unknown>;
}
