/**
 * Running one thunk on the machine at hand, for every engine: the local engine (cache = the local .gg store),
 * a cluster worker and the Lambda handler (cache = a size-capped LRU directory, objects from a shared Store).
 *
 *   inputs: from the cache, else fetched from `source` into it (verified, deduplicated across concurrent runs)
 *   run:    through the Sandbox, in a reused private directory on the cache's file system
 *   outputs: adopted into the cache by tag; then, when `publish` is set, uploaded to it and the memo recorded
 *            there (first result wins: see `claimReductions`)
 */
import fs from 'node:fs';
import path from 'node:path';
import { GgError } from '../errors.js';
import { joinTag, nameSize, shortName } from '../ir/name.js';
import { decodeThunk, type Thunk } from '../ir/thunk.js';
import { readLogSince } from '../sandbox/process-runner.js';
import { DEFAULT_LIMITS, type Sandbox, type SandboxLimits, type StagedFile } from '../sandbox/sandbox.js';
import { MemoSigner } from '../store/memo-signer.js';
import type { ObjectCache } from '../store/object-cache.js';
import { removeTree } from '../sandbox/tree.js';
import type { ClaimNotice, Store } from '../store/store.js';
import type { ExecutedOutput, ExecutionResult, ExecutionStats } from './engine.js';

export interface WorkerRuntimeOptions {
  cache: ObjectCache;
  sandbox: Sandbox;
  limits?: Partial<SandboxLimits>;
  /** Where missing inputs (and, for `runNamed`, the thunk) come from. */
  source?: Store;
  /** Bring a missing object into the cache some other way (a TieredStore whose local part is the cache). */
  fetch?: (name: string) => Promise<void>;
  /** Upload outputs to this store and record the thunk's memo entries there. */
  publish?: Store;
  /** Keep the working directory of failed thunks for inspection. */
  keepFailed?: boolean;
  /**
   * Signs the memo entries written to `publish` (readers holding the memo key ignore unsigned ones); with a
   * key, an unsigned or badly signed entry already there is not a result: ours replaces it.
   */
  signer?: MemoSigner;
}

const LOG_TAIL_BYTES = 2048;
/** Outputs up to this many bytes in all travel with the memo claim (publish). */
const CLAIM_WITH_BYTES = 256 * 1024;
let runDirCounter = 0;
/** No memo key: entries are written as they are, and a recorded signature is stripped unchecked. */
const UNSIGNED = new MemoSigner(undefined);

/** `notified`: the claim of its memo entries also sent the caller's notice (run's `notice`). */
export type RuntimeResult = ExecutionResult & { stats: ExecutionStats; notified?: boolean };

/**
 * The notice to send with the memo claim if this run's result is the one recorded (ClaimNotice), built from
 * the result as it stands just before the claim (stats.uploadMs and bytesUploaded so far).
 */
export type NoticeFor = (r: RuntimeResult) => ClaimNotice;

interface RunSlot {
  workDir: string;
  logFile: string;
}

export class WorkerRuntime {
  private readonly limits: SandboxLimits;
  private readonly idle: RunSlot[] = [];
  /** Downloads in flight, shared by concurrent runs needing the same object. */
  private readonly fetching = new Map<string, Promise<number>>();
  /** Run directories a killed gg left in the sandbox's scratch directory are removed once, on first use. */
  private sweptScratch = false;

  constructor(private readonly o: WorkerRuntimeOptions) {
    this.limits = { ...DEFAULT_LIMITS, ...o.limits };
    const probe = o.cache.tempPath('probe');
    sweepStaleTemp(path.dirname(probe));
  }

  get sandbox(): Sandbox {
    return this.o.sandbox;
  }

  /** Load thunk `name` from the source store (verified, validated) and run it. */
  async runNamed(name: string, abort?: AbortSignal, notice?: NoticeFor): Promise<RuntimeResult> {
    if (!this.o.source) throw new GgError('GG_E_INTERNAL', 'runNamed needs a source store');
    const t0 = performance.now();
    const bytes = await this.o.source.get(name);
    const thunk = decodeThunk(bytes);
    const loadMs = performance.now() - t0;
    const r = await this.run(name, thunk, abort, notice);
    r.stats.fetchMs += loadMs;
    r.stats.bytesFetched += bytes.length;
    return r;
  }

  async run(name: string, thunk: Thunk, abort?: AbortSignal, notice?: NoticeFor): Promise<RuntimeResult> {
    if (thunk.thunks.length > 0) throw new GgError('GG_E_INTERNAL', `thunk ${name} still has unforced dependencies`);
    const cache = this.o.cache;
    const inputs = [...thunk.values, ...thunk.executables];
    const inputNames = [...new Set(inputs.map((i) => i.name))];
    const stats: ExecutionStats = { fetchMs: 0, runMs: 0, uploadMs: 0, bytesFetched: 0, bytesUploaded: 0, fetched: [] };
    cache.pin?.(inputNames);
    try {
      const tFetch = performance.now();
      // One look per input: verifying a held blob is one stat (hash cache); only what is missing is fetched.
      // (A separate "is it here?" pass first cost a syscall per input per run: ~1 ms for a 300-input thunk.)
      const objects = new Map<string, string>();
      const missing: string[] = [];
      const canFetch = this.o.fetch !== undefined || this.o.source !== undefined;
      for (const n of inputNames) {
        try {
          objects.set(n, cache.verifiedBlobPath(n));
        } catch (e) {
          if (!(canFetch && e instanceof GgError && e.code === 'GG_E_OBJECT_MISSING')) throw e;
          missing.push(n);
        }
      }
      if (missing.length > 0) {
        const sizes = await Promise.all(missing.map((n) => this.fetchOne(n)));
        stats.bytesFetched = sizes.reduce((a, b) => a + b, 0);
        stats.fetched = missing;
        for (const n of missing) objects.set(n, cache.verifiedBlobPath(n));
      }
      const files: StagedFile[] = [];
      for (const input of inputs)
        if (input.filename)
          files.push({ name: input.name, filename: input.filename, hostPath: objects.get(input.name)! });
      const program = objects.get(thunk.function.hash)!;
      cache.ensureExecutable(program);
      stats.fetchMs = performance.now() - tFetch;

      const tRun = performance.now();
      const { outputs, wallMs, log, cpuMs } = await this.execute(name, thunk, objects, files, program, abort);
      stats.runMs = performance.now() - tRun;
      const cpu = cpuMs === undefined ? {} : { cpuMs };

      if (this.o.publish) {
        const tUp = performance.now();
        const noticeNow =
          notice &&
          ((): ClaimNotice =>
            notice({ outputs, wallMs, log, stats: { ...stats, uploadMs: performance.now() - tUp }, ...cpu }));
        const { outputs: published, notified } = await this.publish(name, thunk, outputs, stats, noticeNow);
        stats.uploadMs = performance.now() - tUp;
        return { outputs: published, wallMs, log, stats, ...cpu, ...(notified ? { notified } : {}) };
      }
      return { outputs, wallMs, log, stats, ...cpu };
    } finally {
      cache.unpin?.(inputNames);
    }
  }

  /** One download per object at a time, however many runs want it. Returns the bytes moved. */
  private fetchOne(name: string): Promise<number> {
    let p = this.fetching.get(name);
    if (!p) {
      p = this.download(name).finally(() => this.fetching.delete(name));
      this.fetching.set(name, p);
    }
    return p;
  }

  private async download(name: string): Promise<number> {
    if (this.o.fetch) {
      await this.o.fetch(name);
      return nameSize(name);
    }
    if (!this.o.source) {
      throw new GgError(
        'GG_E_OBJECT_MISSING',
        `input ${name} is not in the cache and there is no store to fetch it from`,
      );
    }
    const tmp = this.o.cache.tempPath('dl');
    try {
      await this.o.source.getToFile(name, tmp); // verified against the name before it lands at tmp
      // Blobs are read-only and may be programs or ELF interpreters (execve needs x on both), as in the
      // local store.
      fs.chmodSync(tmp, 0o555);
    } catch (e) {
      fs.rmSync(tmp, { force: true });
      throw e;
    }
    this.o.cache.adoptFile(tmp, name);
    return nameSize(name);
  }

  /** Outputs up, then the memo: no other machine ever sees a memo entry whose object it cannot fetch. */
  private async publish(
    name: string,
    thunk: Thunk,
    outputs: ExecutedOutput[],
    stats: ExecutionStats,
    notice?: () => ClaimNotice,
  ): Promise<{ outputs: ExecutedOutput[]; notified: boolean }> {
    const store = this.o.publish!;
    // Small outputs go up with the memo claim (one round trip, stored before the entries); the rest first.
    const small: Buffer[] = [];
    let smallBytes = 0;
    for (const o of new Set(outputs.map((x) => x.name))) {
      const size = nameSize(o);
      if (store.claimReductions && smallBytes + size <= CLAIM_WITH_BYTES) {
        small.push(fs.readFileSync(this.o.cache.blobPath(o)));
        smallBytes += size;
        continue;
      }
      const r = await store.putFile(this.o.cache.blobPath(o), o);
      if (r.written) stats.bytesUploaded += size;
    }
    const signer = this.o.signer ?? UNSIGNED;
    const entries: [string, string][] = outputs.map((o) => [joinTag(name, o.tag), o.name]);
    entries.push([name, outputs[0]!.name]);
    const sealed = entries.map(([r, v]): [string, string] => [r, signer.seal(r, v)]);
    if (!store.claimReductions) {
      await (store.putReductions
        ? store.putReductions(sealed)
        : Promise.all(sealed.map(([r, v]) => store.putReduction(r, v))));
      return { outputs, notified: false };
    }
    // Two runs of one thunk (a speculative duplicate, a frozen worker that woke up): the first recorded
    // result is the result; a later run reports it instead of its own, so nobody sees two answers.
    const claim = await store.claimReductions(sealed, small, notice?.());
    const recorded = claim.recorded;
    stats.bytesUploaded += claim.bytesWritten;
    const winners = recorded.map((v, i) => (v === undefined ? undefined : signer.open(entries[i]![0], v)));
    if (winners.some((w) => w === undefined)) {
      // Entries the key does not vouch for (written without it, or forged) are no result: ours replace them.
      const replace = sealed.filter((_, i) => winners[i] === undefined);
      await (store.putReductions
        ? store.putReductions(replace)
        : Promise.all(replace.map(([r, v]) => store.putReduction(r, v))));
      entries.forEach(([, v], i) => (winners[i] ??= v));
    }
    return { outputs: thunk.outputs.map((tag, i) => ({ tag, name: winners[i]! })), notified: claim.notified };
  }

  private async execute(
    name: string,
    thunk: Thunk,
    objects: Map<string, string>,
    files: StagedFile[],
    program: string,
    abort?: AbortSignal,
  ): Promise<{ outputs: ExecutedOutput[]; wallMs: number; log: string; cpuMs?: number }> {
    const slot = this.takeSlot();
    const { workDir, logFile } = slot;
    freshLog(logFile);
    const logStart = 0;
    let keep = false;
    try {
      // thunk.timeout is the scheduler's straggler hint (speculation.ts), never a kill limit: only the
      // user's hard limit (gg force --timeout) kills.
      const limits = this.limits;
      const result = await this.o.sandbox.run({
        workDir,
        files,
        objects,
        program,
        args: thunk.function.args,
        envars: thunk.function.envars,
        links: thunk.links,
        cwd: thunk.cwd ?? '',
        limits,
        logFile,
        ...(abort ? { abort } : {}),
      });
      const tail = (max = LOG_TAIL_BYTES): string => readLogSince(logFile, logStart, max);
      if (result.limit === 'timeout') {
        throw new GgError(
          'GG_E_THUNK_TIMEOUT',
          `thunk ${name} (${thunk.function.args[0]}) ran past the hard time limit of ${limits.timeoutMs} ms (gg force --timeout) and was killed${stderrBlock(tail())}`,
          {
            hint: 'raise or drop gg force --timeout (without it nothing is killed for taking long), or find why the program hangs',
          },
        );
      }
      if (result.limit === 'cancelled') {
        const why = abort?.reason instanceof GgError ? `: ${abort.reason.message.replace(/^not run: /, '')}` : '';
        throw new GgError(
          'GG_E_CANCELLED',
          `thunk ${name} (${thunk.function.args[0]}) was stopped before it finished${why}`,
        );
      }
      if (result.limit !== undefined) {
        throw new GgError(
          'GG_E_THUNK_LIMIT',
          `thunk ${name} (${thunk.function.args[0]}) broke its ${result.limit} limit and was killed${stderrBlock(tail())}`,
          {
            hint: 'raise the limit (gg force --memory-limit / --output-limit / --pids-limit) if the program really needs more',
          },
        );
      }
      if (result.exitCode !== 0) {
        keep = this.o.keepFailed === true;
        const status = result.signal ? `was killed by ${result.signal}` : `exited with status ${result.exitCode}`;
        throw new GgError(
          'GG_E_THUNK_FAILED',
          `thunk ${name} (${thunk.function.args[0]}) ${status}${stderrBlock(tail())}`,
          {
            hint: keep
              ? `its working directory was kept in ${workDir}`
              : `inspect it with: gg describe ${shortName(name)}… (full name above)`,
          },
        );
      }
      const outputs = this.collectOutputs(name, thunk, result.outputDir, limits);
      return {
        outputs,
        wallMs: result.wallMs,
        log: tail(64 * 1024),
        ...(result.cpuMs === undefined ? {} : { cpuMs: result.cpuMs }),
      };
    } finally {
      this.returnSlot(slot, keep);
    }
  }

  /**
   * Working directories and log files are reused: a run that leaves its directory empty (outputs are moved
   * into the cache) hands it to the next run, saving a mkdir/rmdir and a log create/unlink per thunk.
   */
  private takeSlot(): RunSlot {
    const idle = this.idle.pop();
    if (idle) return idle;
    // A jail wants its run directories outside the store (their host path is visible to the thunk).
    const scratch = this.o.sandbox.scratchDir;
    let workDir: string;
    if (scratch === undefined) {
      workDir = this.o.cache.tempPath('run');
    } else {
      if (!this.sweptScratch) {
        sweepStaleTemp(scratch);
        this.sweptScratch = true;
      }
      workDir = path.join(scratch, `run-${process.pid}-${(runDirCounter++).toString(36)}`);
    }
    fs.mkdirSync(workDir);
    return { workDir, logFile: `${workDir}.log` };
  }

  private returnSlot(slot: RunSlot, keep: boolean): void {
    if (!keep && fs.readdirSync(slot.workDir).length === 0) {
      this.idle.push(slot);
      return;
    }
    if (!keep) removeTree(slot.workDir);
    fs.rmSync(slot.logFile, { force: true });
  }

  private collectOutputs(name: string, thunk: Thunk, dir: string, limits: SandboxLimits): ExecutedOutput[] {
    const found: { tag: string; file: string }[] = [];
    let total = 0;
    for (const tag of thunk.outputs) {
      const file = path.join(dir, tag);
      const st = fs.lstatSync(file, { throwIfNoEntry: false });
      if (!st?.isFile()) {
        throw new GgError(
          'GG_E_THUNK_OUTPUT_MISSING',
          `thunk ${name} (${thunk.function.args[0]}) did not produce its declared output '${tag}'${st ? ' as a regular file' : ''}`,
          {
            hint: `the program must write a file named '${tag}' in its working directory`,
          },
        );
      }
      total += st.size;
      found.push({ tag, file });
    }
    if (total > limits.outputBytes) {
      throw new GgError(
        'GG_E_THUNK_LIMIT',
        `thunk ${name} wrote ${total} bytes of output, over the ${limits.outputBytes}-byte limit`,
        {
          hint: 'raise --output-limit if this is expected',
        },
      );
    }
    // Only after every output is present do any of them enter the cache.
    return found.map(({ tag, file }) => ({ tag, name: this.o.cache.adoptFile(file).name }));
  }

  async close(): Promise<void> {
    for (const slot of this.idle.splice(0)) {
      removeTree(slot.workDir);
      fs.rmSync(slot.logFile, { force: true });
    }
  }
}

/**
 * Each run writes to a log of its own: a reused one let a thunk read what the slot's previous thunk printed
 * (through /proc/self/fd/1) and so depend on what ran before. An empty log is kept (most compilers print
 * nothing), any other is replaced; 0600 and root's, so the jail user cannot reopen it either way.
 */
function freshLog(logFile: string): void {
  const st = fs.statSync(logFile, { throwIfNoEntry: false });
  if (st?.size === 0) return;
  if (st) fs.rmSync(logFile, { force: true });
  fs.closeSync(fs.openSync(logFile, 'wx', 0o600));
}

/**
 * Run directories (and their .log, .obj, .bwrap-args files) and partial downloads left in the cache's temp
 * directory by a gg that was killed: their names carry the pid that made them, and a dead pid owns nothing.
 */
export function sweepStaleTemp(tmpDir: string): number {
  let removed = 0;
  let names: string[];
  try {
    names = fs.readdirSync(tmpDir);
  } catch {
    return 0;
  }
  const alive = new Map<number, boolean>();
  for (const n of names) {
    const pid = Number(/^[a-z]+-(\d+)-/.exec(n)?.[1]);
    if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid) continue;
    let live = alive.get(pid);
    if (live === undefined) {
      try {
        process.kill(pid, 0);
        live = true;
      } catch (e) {
        live = (e as NodeJS.ErrnoException).code === 'EPERM';
      }
      alive.set(pid, live);
    }
    if (live) continue;
    try {
      removeTree(path.join(tmpDir, n));
      removed++;
    } catch {
      // another gg is sweeping too, or it cannot be removed: it is only space
    }
  }
  return removed;
}

function stderrBlock(tail: string): string {
  const t = tail.trimEnd();
  if (!t) return '';
  return `; its output ended with:\n${t
    .split('\n')
    .map((l) => `  | ${l}`)
    .join('\n')}`;
}
