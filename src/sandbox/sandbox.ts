/**
 * Running one thunk's program: the contract between the engines and the isolation mechanisms.
 * The caller prepares an empty host directory and the verified host paths of every object; the sandbox makes
 * the declared inputs appear at their declared file names, runs the program with only the declared
 * environment, enforces the limits, and leaves the outputs in `outputDir` for the caller to collect.
 */
export interface SandboxLimits {
  /**
   * Hard wall-clock limit; the whole process tree is killed when it passes. 0 = none (the default): only
   * the user sets one (`gg force --timeout`). A thunk's own `timeout` is never a kill limit, only the
   * scheduler's hint for when a run is a straggler (as in gg).
   */
  timeoutMs: number;
  memoryBytes: number;
  /** Largest total of files the program may write. */
  outputBytes: number;
  maxProcesses: number;
}

export const DEFAULT_LIMITS: SandboxLimits = {
  timeoutMs: 0,
  memoryBytes: 4 * 1024 ** 3,
  outputBytes: 4 * 1024 ** 3,
  maxProcesses: 512,
};

export interface StagedFile {
  /** The object placed there. */
  name: string;
  /** Declared file name: relative (inside the working directory) or absolute. */
  filename: string;
  /** Verified host path of the object's content. */
  hostPath: string;
}

export interface SandboxRequest {
  /** Empty host directory owned by this run; it becomes the working directory. */
  workDir: string;
  files: StagedFile[];
  /** name -> verified host path, for every object `@{GGHASH:NAME}` may name. */
  objects: ReadonlyMap<string, string>;
  /** Host path of the program (the function's executable). */
  program: string;
  /** argv (argv[0] included) and NAME=VALUE envars, still holding `@{GGHASH:...}` placeholders. */
  args: string[];
  envars: string[];
  links: Record<string, string>;
  /** Start directory relative to the working directory ('' = itself). */
  cwd: string;
  limits: SandboxLimits;
  /** Host file that receives the program's stdout and stderr (appended to; the file is reused). */
  logFile: string;
  /** Aborting kills the program's whole process tree (--fail-fast stops running work at once). */
  abort?: AbortSignal;
  /**
   * A wider view than the declared files (bwrap only; other sandboxes refuse it): `gg infer` runs a compile
   * once this way to learn which files it reads (gcc-depend.ts). The working directory shows `tree`
   * read-only (`files` must then hold no relative names) and each directory of `readOnly` (absolute)
   * appears at its own path, read-only; the program writes only into `writable` files.
   */
  view?: SandboxView;
}

export interface SandboxView {
  tree: string;
  readOnly: string[];
  /**
   * [jail path, host file]: host files (writable by anyone: made by the caller for this run) bound at jail
   * paths that exist already in `tree` (the working directory, named relative to it) or lie below /tmp.
   */
  writable: [string, string][];
}

export type LimitBroken = 'timeout' | 'memory' | 'output' | 'processes' | 'cancelled';

export interface SandboxResult {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  /** Set when the run was stopped for breaking a limit. */
  limit?: LimitBroken;
  /** Host directory where outputs are looked up by tag (the start directory). */
  outputDir: string;
  wallMs: number;
  /** CPU time (user + system) of everything the program started, where the sandbox can count it. */
  cpuMs?: number;
}

/**
 * Names a host file's content (the store's stat-keyed hash cache, handed in by whoever opens the sandbox): a
 * sandbox that runs on the host checks that an input declared at an absolute path really holds that content.
 */
export interface FileNamer {
  hashFile(file: string): string;
  /**
   * Runs `link` (a hard link of `file`, which moves only its ctime) and keeps the file's known name across it:
   * without this, staging a blob into a jail root or a run directory makes its next use rehash it.
   */
  keepName?(file: string, link: () => void): void;
}

export interface Sandbox {
  /** 'none' or 'bwrap': shown in messages and traces. */
  readonly kind: string;
  /** Something the user should know about how this sandbox isolates (e.g. a weaker fallback), said once per run. */
  readonly notice?: string | undefined;
  /**
   * Where run directories go (on the cache's file system), when the sandbox wants them somewhere of its own:
   * the jail's are outside the store, so their host path tells a thunk nothing (jail-home.ts).
   */
  readonly scratchDir?: string | undefined;
  run(req: SandboxRequest): Promise<SandboxResult>;
  /** Start setting up what the first run needs, when that is done lazily (LazySandbox). */
  prepare?(): void;
  /** Release what the sandbox holds across runs (namespaces, cgroups). */
  close?(): Promise<void>;
}
