/**
 * The local engine: runs each thunk on this machine through a Sandbox, in a private directory under
 * .gg/tmp (same file system as the blobs, so outputs are renamed into the store, never copied).
 */
import fs from 'node:fs';
import path from 'node:path';
import { GgError } from '../errors.js';
import { shortName } from '../ir/name.js';
import type { Thunk } from '../ir/thunk.js';
import { readLogSince } from '../sandbox/process-runner.js';
import { DEFAULT_LIMITS, type Sandbox, type SandboxLimits, type StagedFile } from '../sandbox/sandbox.js';
import type { LocalStore } from '../store/local-store.js';
import type { Engine, ExecutedOutput, ExecutionResult } from './engine.js';

export interface LocalEngineOptions {
  limits?: Partial<SandboxLimits>;
  /** Bring an object missing from the local store into it (from a shared remote store). */
  fetch?: (name: string) => Promise<void>;
  /** Keep the working directory of failed thunks for inspection. */
  keepFailed?: boolean;
}

const LOG_TAIL_BYTES = 2048;
const MAX_LOG_REUSE = 1024 * 1024;

interface RunSlot {
  workDir: string;
  logFile: string;
}

export class LocalEngine implements Engine {
  readonly name = 'local';
  private readonly limits: SandboxLimits;
  private readonly idle: RunSlot[] = [];

  constructor(
    private readonly store: LocalStore,
    readonly sandbox: Sandbox,
    private readonly options: LocalEngineOptions = {},
  ) {
    this.limits = { ...DEFAULT_LIMITS, ...options.limits };
  }

  async execute(name: string, thunk: Thunk, abort?: AbortSignal): Promise<ExecutionResult> {
    if (thunk.thunks.length > 0) throw new GgError('GG_E_INTERNAL', `thunk ${name} still has unforced dependencies`);
    const objects = new Map<string, string>();
    const files: StagedFile[] = [];
    const inputs = [...thunk.values, ...thunk.executables];
    if (this.options.fetch) {
      for (const input of inputs) if (!this.store.hasSync(input.name)) await this.options.fetch(input.name);
    }
    for (const input of inputs) {
      const host = objects.get(input.name) ?? this.store.verifiedBlobPath(input.name);
      objects.set(input.name, host);
      if (input.filename) files.push({ name: input.name, filename: input.filename, hostPath: host });
    }
    const program = objects.get(thunk.function.hash)!;
    this.store.ensureExecutable(program);
    const slot = this.takeSlot();
    const { workDir, logFile } = slot;
    const logStart = fs.statSync(logFile, { throwIfNoEntry: false })?.size ?? 0;
    let keep = false;
    try {
      const limits = thunk.timeout ? { ...this.limits, timeoutMs: thunk.timeout } : this.limits;
      const result = await this.sandbox.run({
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
        throw new GgError('GG_E_THUNK_TIMEOUT', `thunk ${name} (${thunk.function.args[0]}) ran past its ${limits.timeoutMs} ms timeout and was killed${stderrBlock(tail())}`, {
          hint: 'raise the limit with gg force --timeout MS (or the thunk\'s own timeout), or find why the program hangs',
        });
      }
      if (result.limit === 'cancelled') {
        throw new GgError('GG_E_CANCELLED', `thunk ${name} (${thunk.function.args[0]}) was stopped: another thunk failed (--fail-fast)`);
      }
      if (result.limit !== undefined) {
        throw new GgError('GG_E_THUNK_LIMIT', `thunk ${name} (${thunk.function.args[0]}) broke its ${result.limit} limit and was killed${stderrBlock(tail())}`, {
          hint: 'raise the limit (gg force --memory-limit / --output-limit / --pids-limit) if the program really needs more',
        });
      }
      if (result.exitCode !== 0) {
        keep = this.options.keepFailed === true;
        const status = result.signal ? `was killed by ${result.signal}` : `exited with status ${result.exitCode}`;
        throw new GgError('GG_E_THUNK_FAILED', `thunk ${name} (${thunk.function.args[0]}) ${status}${stderrBlock(tail())}`, {
          hint: keep ? `its working directory was kept in ${workDir}` : `inspect it with: gg describe ${shortName(name)}… (full name above)`,
        });
      }
      const outputs = this.collectOutputs(name, thunk, result.outputDir, limits);
      return { outputs, wallMs: result.wallMs, log: tail(64 * 1024), ...(result.cpuMs === undefined ? {} : { cpuMs: result.cpuMs }) };
    } finally {
      this.returnSlot(slot, keep);
    }
  }

  /**
   * Working directories and log files are reused: a run that leaves its directory empty (outputs are moved
   * into the store) hands it to the next run, saving a mkdir/rmdir and a log create/unlink per thunk.
   */
  private takeSlot(): RunSlot {
    const idle = this.idle.pop();
    if (idle) return idle;
    const workDir = this.store.tempPath('run');
    fs.mkdirSync(workDir);
    return { workDir, logFile: `${workDir}.log` };
  }

  private returnSlot(slot: RunSlot, keep: boolean): void {
    if (!keep && fs.readdirSync(slot.workDir).length === 0) {
      if ((fs.statSync(slot.logFile, { throwIfNoEntry: false })?.size ?? 0) > MAX_LOG_REUSE) fs.rmSync(slot.logFile, { force: true });
      this.idle.push(slot);
      return;
    }
    if (!keep) fs.rmSync(slot.workDir, { recursive: true, force: true });
    fs.rmSync(slot.logFile, { force: true });
  }

  private collectOutputs(name: string, thunk: Thunk, dir: string, limits: SandboxLimits): ExecutedOutput[] {
    const found: { tag: string; file: string }[] = [];
    let total = 0;
    for (const tag of thunk.outputs) {
      const file = path.join(dir, tag);
      const st = fs.lstatSync(file, { throwIfNoEntry: false });
      if (!st?.isFile()) {
        throw new GgError('GG_E_THUNK_OUTPUT_MISSING', `thunk ${name} (${thunk.function.args[0]}) did not produce its declared output '${tag}'${st ? ' as a regular file' : ''}`, {
          hint: `the program must write a file named '${tag}' in its working directory`,
        });
      }
      total += st.size;
      found.push({ tag, file });
    }
    if (total > limits.outputBytes) {
      throw new GgError('GG_E_THUNK_LIMIT', `thunk ${name} wrote ${total} bytes of output, over the ${limits.outputBytes}-byte limit`, {
        hint: 'raise --output-limit if this is expected',
      });
    }
    // Only after every output is present do any of them enter the store.
    return found.map(({ tag, file }) => ({ tag, name: this.store.adoptFile(file).name }));
  }

  async close(): Promise<void> {
    for (const slot of this.idle.splice(0)) {
      fs.rmSync(slot.workDir, { recursive: true, force: true });
      fs.rmSync(slot.logFile, { force: true });
    }
  }
}

function stderrBlock(tail: string): string {
  const t = tail.trimEnd();
  if (!t) return '';
  return `; its output ended with:\n${t.split('\n').map((l) => `  | ${l}`).join('\n')}`;
}

