/**
 * `gg infer CMD...`: run a build with model programs first on PATH, so that every compile, link and archive
 * step writes thunks and leaves a placeholder instead of working. Everything else the build runs (make,
 * generators, configure, scripts) runs for real, with the real PATH behind the models.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { GgError } from '../../errors.js';
import { placeOutput } from '../../force/targets.js';
import { readPlaceholder } from '../../ir/placeholder.js';
import { LazyEngine } from '../../engine/lazy-engine.js';
import { LocalEngine, type ViewRunner } from '../../engine/local-engine.js';
import { HostFilePool, storeHostFiles } from '../../store/host-pool.js';
import { LocalStore } from '../../store/local-store.js';
import { GraphBuilder } from '../sdk.js';
import { readFastLog } from './fast-answer.js';
import { FileDeclarer } from './file-declarer.js';
import { ANSWER_VERSION } from './gcc-model.js';
import { HeaderDepsCache } from './header-deps.js';
import { SingleFlightEngine } from '../../engine/single-flight.js';
import { forceRefs, showThunkLogs, type ForceContext } from '../../force/force-command.js';
import { InferServer, type ForcePlaceholders } from './infer-server.js';
import { interceptedSpawn } from './intercept.js';
import { prepareModelDir } from './model-dir.js';
import { knownResult, OutputStager } from './known-outputs.js';
import type { InferContext, InferStats } from './model.js';
import { ToolchainCache } from './toolchain.js';

export interface InferOptions {
  /** The build command and its arguments. */
  command: string[];
  ggDir: string;
  /** Files under it are declared relative to it; default: the directory holding .gg. */
  root?: string;
  /** The sandbox kind placeholders the build runs are forced in (GG_SANDBOX for gg-force-and-run). */
  sandbox: string;
  /** Shared store for what the build forces (here and in gg-force-and-run); unset = the local .gg alone. */
  storageUri?: string;
  /** Forces placeholders a real tool reads; whoever wires gg infer opens it on the same sandbox and store. */
  forcePlaceholders: ForcePlaceholders;
  /**
   * What forced thunks run on (opened on first use): given, runs of programs the build linked become thunks
   * when the compiled client serves as gg-force-and-run and the sandbox is bwrap (run-model.ts).
   */
  forceContext?: () => Promise<ForceContext>;
  /**
   * `gg infer --force`: compiles and links (with the archives they name) are forced (forceJobs at a time, on
   * forceContext) while the build goes on, and when it ends every placeholder its links, archives and binutils
   * steps left is forced into place, as `gg force` would, in this process.
   */
  forceOutputs?: boolean;
  /** How many thunks `forceOutputs` runs at once while the build goes on (default 1). */
  forceJobs?: number;
  verbose?: boolean;
  cwd?: string;
  /** Where messages go (stderr by default). */
  log?: (line: string) => void;
}

export interface InferResult {
  exitCode: number;
  stats: InferStats;
  wallMs: number;
}

/** PATH without the model directory (in case gg infer runs inside gg infer). */
function realPathOf(env: NodeJS.ProcessEnv, modelDir: string): string {
  const base = env['GG_INFER_REAL_PATH'] ?? env['PATH'] ?? '/usr/bin:/bin';
  return base
    .split(':')
    .filter((d) => d && path.resolve(d) !== modelDir)
    .join(':');
}

export async function runInfer(o: InferOptions): Promise<InferResult> {
  const start = performance.now();
  if (o.command.length === 0)
    throw new GgError('GG_E_USAGE', 'gg infer needs a build command', { hint: 'for example: gg infer make -j2' });
  const store = new LocalStore(o.ggDir);
  const root = path.resolve(o.root ?? path.dirname(o.ggDir));
  const inferDir = path.join(store.cacheDir, 'infer');
  fs.mkdirSync(inferDir, { recursive: true });
  const modelDirPath = path.join(inferDir, 'bin');
  const realPath = realPathOf(process.env, modelDirPath);
  const models = prepareModelDir(inferDir, realPath);
  const say = o.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  const verbose = o.verbose === true || process.env['GG_INFER_VERBOSE'] === '1';
  const stats: InferStats = {
    thunks: 0,
    modelled: 0,
    real: 0,
    depsCached: 0,
    depsDiscovered: 0,
    cutoff: 0,
    compiledAtInfer: 0,
    placed: 0,
    runs: 0,
    wrappers: 0,
    fallbacks: new Map(),
  };
  // Host files (toolchain, system headers) come from the user's pool, as hard links, unless GG_HOST_POOL=0.
  const pool = process.env['GG_HOST_POOL'] === '0' ? undefined : HostFilePool.open();
  const hostFiles = pool?.filesFor(store) ?? storeHostFiles(store);
  const declarer = new FileDeclarer(store, root, hostFiles);
  /** Placeholders the build runs reach the server (the compiled client is gg-force-and-run). */
  const runsServed = models.client === 'c' && o.forceContext !== undefined;
  const ctx: InferContext = {
    store,
    builder: new GraphBuilder(store),
    root,
    realPath,
    declarer,
    toolchains: new ToolchainCache(store, inferDir, realPath, hostFiles, pool?.subdir('infer')),
    deps: new HeaderDepsCache(store, inferDir, (abs) => declarer.nameOf(abs)),
    stats,
    outputs: new Set(),
    staging: new OutputStager(store),
    runsAsThunks: runsServed && o.sandbox === 'bwrap',
    cold: !fs.existsSync(path.join(inferDir, 'answers')),
    log: verbose ? (l) => say(`gg infer: ${l}`) : () => {},
  };
  // compile answers the compiled client replays by itself (fast-answer.ts)
  if (models.client === 'c' && process.env['GG_INFER_CLIENT_REPLAY'] !== '0')
    ctx.fastDir = path.join(inferDir, `fast-${ANSWER_VERSION}`);
  // The jail's user reads the project as "others" do: a tree it cannot read gets no compiles at infer time.
  if (
    o.forceOutputs &&
    o.forceContext &&
    o.sandbox === 'bwrap' &&
    process.env['GG_INFER_DEPEND'] !== '0' &&
    (fs.statSync(root).mode & 0o005) === 0o005
  ) {
    const context = o.forceContext;
    let sandbox: Promise<ViewRunner | undefined> | undefined;
    // only where the memo is the local store's (a shared store gets results through the scheduler)
    ctx.dependSandbox = () =>
      (sandbox ??= context()
        .then(async (rt) => {
          if (rt.remote !== undefined) return undefined;
          const engine = rt.engine instanceof LazyEngine ? await rt.engine.opened() : rt.engine;
          return engine instanceof LocalEngine ? engine.viewRunner : undefined;
        })
        .catch(() => undefined));
  }
  const early = o.forceOutputs && o.forceContext ? new EarlyForcer(store, o.forceContext, o.forceJobs ?? 1) : undefined;
  if (early) {
    ctx.compiled = (ref) => early.add(ref);
    ctx.linked = (ref) => early.add(ref);
  }
  const sockDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gg-infer-'));
  const socketPath = path.join(sockDir, 'sock');
  const server = new InferServer({
    ctx,
    forcePlaceholders: o.forcePlaceholders,
    logFile: path.join(inferDir, 'last-run.log'),
    runs: runsServed ? { sandbox: o.sandbox, context: o.forceContext! } : undefined,
  });
  await server.listen(socketPath);
  if (models.client === 'node')
    say('gg infer: warning: no C compiler for the model client; using the slower Node client');
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PATH: `${models.dir}:${realPath}`,
    GG_INFER_REAL_PATH: realPath,
    GG_INFER_SOCKET: socketPath,
    GG_DIR: o.ggDir,
    GG_SANDBOX: o.sandbox,
    GG_STORAGE_URI: o.storageUri ?? '',
  };
  const fastLog = path.join(sockDir, 'fast.log');
  if (ctx.fastDir !== undefined) Object.assign(env, { GG_INFER_FAST: ctx.fastDir, GG_INFER_FAST_LOG: fastLog });
  // CC, CXX, AR... are left as the user set them: make's defaults (cc, ar) and what configure, CMake and
  // Meson find first on PATH are the models already, and a changed $(CC) would change the build itself
  // (command lines, directories named after a hash of the flags).
  // Tools the build names by absolute path (Meson's wrappers) are reached through a mount namespace.
  const icpt = interceptedSpawn(models, o.command, env, realPath, o.cwd ?? process.cwd());
  let exitCode: number;
  try {
    exitCode = await new Promise<number>((resolve, reject) => {
      const child = icpt
        ? spawn(icpt.file, icpt.args, {
            argv0: icpt.argv0,
            cwd: o.cwd ?? process.cwd(),
            env: icpt.env,
            stdio: 'inherit',
          })
        : spawn(o.command[0]!, o.command.slice(1), { cwd: o.cwd ?? process.cwd(), env, stdio: 'inherit' });
      // A .gg that never recorded a compile answer (a cold build) will compile in the jail: its set-up (trial
      // jail, user namespace, ~0.3 s) overlaps the toolchain's discovery instead of following it. A rebuild
      // may replay every compile and run no jail at all, so it still sets up on first use.
      if (ctx.dependSandbox && ctx.cold) void ctx.dependSandbox().then((runner) => runner?.prepare());
      child.on('error', (e) =>
        reject(
          new GgError('GG_E_INFER', `could not run ${o.command[0]}: ${e.message}`, { hint: 'check the build command' }),
        ),
      );
      child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 + (os.constants.signals[signal] ?? 1) : 1)));
    });
  } finally {
    await server.close();
    store.hashCache.flush();
    pool?.flush();
    countFastReplays(ctx, fastLog);
    fs.rmSync(sockDir, { recursive: true, force: true });
  }
  await early?.stop();
  try {
    if (exitCode === 0) await placeKnownOutputs(ctx);
  } finally {
    await ctx.staging?.discard();
  }
  if (exitCode === 0 && o.forceOutputs) {
    const left = [...ctx.outputs].filter((f) => {
      try {
        return readPlaceholder(f) !== undefined;
      } catch {
        return false;
      }
    });
    if (left.length > 0) await o.forcePlaceholders(left);
  }
  pool?.flush();
  return { exitCode, stats, wallMs: performance.now() - start };
}

/** Compiles the client replayed by itself count as modelled, their objects as cached header lists. */
function countFastReplays(ctx: InferContext, log: string): void {
  const fast = readFastLog(log);
  ctx.stats.modelled += fast.commands;
  ctx.stats.depsCached += fast.placeholders;
  for (const f of fast.first) ctx.log(`client: replayed ${path.relative(process.cwd(), f)}`);
}

/**
 * After the build: the placeholders of links, archives and binutils steps whose result the memo holds (a
 * rebuild after `make clean`) become that result, as `gg force` would make them, so a rebuild with nothing
 * to run needs no `gg force` (and its start-up) at all. Objects stay placeholders (the links read them from
 * the store), and so do hard-linked placeholders (`gg force` keeps such links together). A copy made while the
 * build ran (known-outputs.ts) is renamed into place when it holds that result.
 */
async function placeKnownOutputs(ctx: InferContext): Promise<void> {
  for (const file of ctx.outputs) {
    let ref: string | undefined;
    let mode: number;
    try {
      const st = fs.statSync(file);
      if (st.nlink !== 1) continue;
      mode = st.mode & 0o7777;
      ref = readPlaceholder(file);
    } catch {
      continue; // removed or replaced by the build
    }
    if (ref === undefined) continue;
    const known = knownResult(ctx.store, ref, 0);
    if (known === undefined) continue;
    if (await ctx.staging?.place(file, known, mode))
      ctx.log(`placed ${path.relative(process.cwd(), file)} (copied while the build ran)`);
    else await placeOutput(ctx.store, file, known, mode);
    ctx.stats.placed++;
  }
}

/**
 * Forces compile placeholders in the background while the build runs, `jobs` at a time, so that their work
 * overlaps what the build and gg infer do meanwhile. The build's own jobs mostly wait on the model server
 * (a discovery preprocess is a few percent of a compile): one compile at a time left a core idle until the
 * build ended. Failures are left for the final force, which reports them. Warnings are shown once, as they come.
 */
class EarlyForcer {
  private readonly queue: string[] = [];
  private readonly running = new Set<Promise<void>>();
  private stopped = false;
  /**
   * One engine for every lane that runs a thunk once while it is in flight (a link forced on one lane needs
   * the compile another lane is running), and one log writer that shows each thunk's warnings once.
   */
  private shared: Promise<ForceContext> | undefined;
  private readonly logs = showThunkLogs(process.stderr);

  constructor(
    private readonly store: LocalStore,
    private readonly context: () => Promise<ForceContext>,
    private readonly jobs: number,
  ) {}

  add(ref: string): void {
    if (this.stopped || this.store.getReductionSync(ref) !== undefined) return;
    this.queue.push(ref);
    if (this.running.size < this.jobs) {
      const lane: Promise<void> = this.drain().finally(() => this.running.delete(lane));
      this.running.add(lane);
    }
  }

  private async drain(): Promise<void> {
    try {
      const rt = await (this.shared ??= this.context().then((c) => ({
        ...c,
        engine: new SingleFlightEngine(c.engine),
      })));
      while (!this.stopped && this.queue.length > 0) {
        const ref = this.queue.shift()!;
        await forceRefs(rt, [ref], { jobs: 1, trace: false, onEvent: this.logs }).catch(() => {});
      }
    } catch {
      // no runtime: the final force reports why
    }
  }

  /** Stops taking work and waits for the thunks in flight (the final force would otherwise run them twice). */
  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all([...this.running]);
  }
}

/** The end-of-run account of commands that ran for real, most frequent reason first. */
export function fallbackSummary(fallbacks: ReadonlyMap<string, number>): string {
  const total = [...fallbacks.values()].reduce((a, b) => a + b, 0);
  if (total === 0) return 'gg infer: 0 commands ran for real\n';
  const rows = [...fallbacks].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  const width = String(rows[0]![1]).length;
  return `gg infer: ${total} command${total === 1 ? '' : 's'} ran for real (each in .gg/cache/infer/last-run.log), by reason:\n${rows.map(([r, n]) => `  ${String(n).padStart(width)}  ${r}\n`).join('')}`;
}
