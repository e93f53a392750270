/** What a model is given (one tool invocation from the build) and what it answers. */
import type { ViewRunner } from '../../engine/local-engine.js';
import type { LocalStore } from '../../store/local-store.js';
import type { GraphBuilder } from '../sdk.js';
import type { FileDeclarer } from './file-declarer.js';
import type { HeaderDepsCache } from './header-deps.js';
import type { OutputStager } from './known-outputs.js';
import type { ToolchainCache } from './toolchain.js';

export interface ModelRequest {
  /** Basename the model was invoked as (gcc, cc, ar, ...). */
  tool: string;
  /** Absolute directory the build ran the tool in. */
  cwd: string;
  /** argv as the build gave it, argv[0] included. */
  argv: string[];
  env: Record<string, string>;
  /** The request's fast-answer key (fast-answer.ts), taken before a launcher (`ccache cc`) is stripped. */
  fastKey?: Buffer;
}

export type ModelAnswer =
  | { kind: 'exit'; status: number; stdout?: string | Buffer; stderr?: string }
  /** Run the real tool for this command (a query, something not modelled); `reason` is logged. */
  | { kind: 'real'; reason: string; detail?: string; keepModelPath?: boolean };

export interface InferStats {
  thunks: number;
  modelled: number;
  real: number;
  depsCached: number;
  depsDiscovered: number;
  /** Compiles whose result was known at infer time (early cutoff: the compiler would see the same text). */
  cutoff: number;
  /** Compiles run at infer time whose object was recorded as their thunk's result (gcc-depend.ts). */
  compiledAtInfer: number;
  /** Links, archives and binutils outputs whose memoized result was put in place of a placeholder. */
  placed: number;
  /** Runs of programs the build linked, answered from a thunk (run-model.ts). */
  runs: number;
  /** Build-tool wrappers run by absolute path, answered by a model (meson-model.ts, intercept.ts). */
  wrappers: number;
  /** Commands run for real, by reason. */
  fallbacks: Map<string, number>;
}

export interface InferContext {
  store: LocalStore;
  builder: GraphBuilder;
  /** The project root: files under it are declared by relative names, the thunk's cwd is relative to it. */
  root: string;
  realPath: string;
  declarer: FileDeclarer;
  toolchains: ToolchainCache;
  deps: HeaderDepsCache;
  stats: InferStats;
  /**
   * Placeholders of links, archives and binutils steps: at the end of the build, each one still in place
   * whose result the memo already holds is replaced by that result (placeKnownOutputs in infer.ts).
   */
  outputs: Set<string>;
  /** Copies of the known results of `outputs` made while the build runs (known-outputs.ts). */
  staging?: OutputStager;
  /** Told of every compile placeholder written (`gg infer --force` forces them while the build goes on). */
  compiled?: (ref: string) => void;
  /**
   * Told of every link left as a placeholder whose result is not at hand (`gg infer --force` forces it, with
   * the archives it names, while the build goes on, rather than after the build's last step).
   */
  linked?: (ref: string) => void;
  /**
   * Set under `gg infer --force` with the bubblewrap sandbox (and GG_INFER_DEPEND not 0): compiles run at
   * infer time in a jail that shows the project, and their `-MD` list replaces discovery (gcc-depend.ts).
   */
  dependSandbox?: () => Promise<ViewRunner | undefined>;
  /** The .gg never recorded a compile answer (a cold build): set-up that every compile needs starts early. */
  cold?: boolean;
  /** Where compile answers the client may replay by itself are kept (fast-answer.ts); unset: none. */
  fastDir?: string;
  /** Runs of linked programs become thunks (run-model.ts): a program then stays a placeholder. */
  runsAsThunks?: boolean;
  /**
   * Work that only a later run reads (answers kept for replay, fast answers) is handed here: the server does
   * it right after the answer is sent, so the build's command (and make, waiting on it) goes on meanwhile.
   * Unset: done at once.
   */
  afterAnswer?: (task: () => void) => void;
  log(msg: string): void;
}

/**
 * Thrown by a model that cannot express a command as thunks: the real tool runs instead. `reason` is short
 * and stable (fallbacks are counted by it at the end of gg infer); `detail` names the flag or file.
 */
export class RunRealTool extends Error {
  constructor(
    readonly reason: string,
    readonly detail?: string,
  ) {
    super(detail ? `${reason}: ${detail}` : reason);
    this.name = 'RunRealTool';
  }
}

export function real(reason: string, detail?: string): never {
  throw new RunRealTool(reason, detail);
}
