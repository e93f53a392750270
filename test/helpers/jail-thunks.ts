/** Thunks that run host programs in the bubblewrap jail, for the sandbox tests (real programs, no mocks). */
import fs from 'node:fs';
import { after, before } from 'node:test';
import path from 'node:path';
import { type GgError } from '../../src/errors.js';
import { forceAll } from '../../src/force/force.js';
import { GraphBuilder, type ExecutableFile, type InputSpec, type WrittenThunk } from '../../src/frontend/sdk.js';
import type { ThunkInput } from '../../src/ir/thunk.js';
import { openRuntime, type Runtime } from '../../src/runtime.js';
import { jailPlaces } from '../../src/sandbox/jail-home.js';
import type { SandboxLimits } from '../../src/sandbox/sandbox.js';
import { initGgDir } from '../../src/store/gg-dir.js';
import { LocalStore } from '../../src/store/local-store.js';
import { tempDir } from './cli.js';

export interface ScriptOptions {
  /** Host programs (from /usr/bin unless absolute) the script may run. */
  tools?: string[];
  values?: InputSpec[];
  thunks?: InputSpec[];
  outputs?: string[];
  timeoutMs?: number;
  env?: Record<string, string>;
  argv0?: string;
}

export interface Forced {
  value?: string;
  error?: GgError;
}

export class JailProject {
  readonly dir: string;
  readonly ggDir: string;
  readonly store: LocalStore;
  readonly g: GraphBuilder;
  readonly sh: ExecutableFile;
  private readonly tools = new Map<string, ThunkInput[]>();

  /** In a new temp dir, or in `dir` (e.g. one on a file system of its own). */
  constructor(dir?: string) {
    this.dir = dir ?? tempDir('gg-jail-');
    this.ggDir = initGgDir(this.dir, {});
    this.store = new LocalStore(this.ggDir);
    this.g = new GraphBuilder(this.store);
    this.sh = this.g.executableFile('/bin/sh');
  }

  tool(name: string): ThunkInput[] {
    let t = this.tools.get(name);
    if (!t) {
      t = this.g.executableFile(path.isAbsolute(name) ? name : path.join('/usr/bin', name)).inputs;
      this.tools.set(name, t);
    }
    return t;
  }

  /** `sh -c script` in the jail; outputs default to ['out']. */
  script(script: string, o: ScriptOptions = {}): WrittenThunk {
    const t = this.g.thunk({
      function: this.sh.name,
      executables: [...this.sh.inputs, ...(o.tools ?? []).flatMap((n) => this.tool(n))],
      args: [o.argv0 ?? 'sh', '-c', script],
      outputs: o.outputs ?? ['out'],
      ...(o.values ? { values: o.values } : {}),
      ...(o.thunks ? { thunks: o.thunks } : {}),
      ...(o.timeoutMs ? { timeoutMs: o.timeoutMs } : {}),
      env: { PATH: '/usr/bin:/bin', ...(o.env ?? {}) },
    });
    this.store.hashCache.flush();
    return t;
  }

  runtime(limits: Partial<SandboxLimits> = {}, sandbox: 'bwrap' | 'none' = 'bwrap'): Promise<Runtime> {
    return openRuntime({ ggDir: this.ggDir, sandbox, limits });
  }

  text(value: string): string {
    return fs.readFileSync(this.store.blobPath(value), 'utf8');
  }

  /** The jail's run directories (outside the store: jail-home.ts). */
  scratchDir(): string {
    const dir = jailPlaces(this.store.cacheDir).scratchDir;
    if (dir === undefined) throw new Error(`this test needs the jail's directories outside the store here`);
    return dir;
  }

  /** Run directories left in .gg/tmp or the jail's scratch directory that are not idle (reusable ones are empty). */
  leftovers(): string[] {
    return [path.join(this.ggDir, 'tmp'), this.scratchDir()].flatMap((tmp) =>
      fs.readdirSync(tmp).filter((n) => {
        const p = path.join(tmp, n);
        return !(fs.statSync(p).isDirectory() && fs.readdirSync(p).length === 0) && !n.endsWith('.log');
      }),
    );
  }

  remove(): void {
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

export async function force(rt: Runtime, ref: string): Promise<Forced> {
  const o = await forceAll([ref], { store: rt.store, engine: rt.engine, jobs: 2 });
  const value = o.results.get(ref);
  return value !== undefined ? { value } : { error: o.errors.get(ref)! };
}

/** Host processes whose command line contains `marker` (jailed processes are visible from the host). */
export function processesWith(marker: string): number[] {
  const found: number[] = [];
  for (const pid of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      if (fs.readFileSync(`/proc/${pid}/cmdline`, 'latin1').split('\0').includes(marker)) found.push(Number(pid));
    } catch {
      // exited meanwhile
    }
  }
  return found;
}

/** Whether a process has ended: gone, or a zombie (which still answers kill(pid, 0); /proc says what it is). */
export function ended(pid: number): boolean {
  try {
    return /^\d+ \(.*\) Z/.test(fs.readFileSync(`/proc/${pid}/stat`, 'latin1'));
  } catch {
    return true;
  }
}

/** Polls `ok` until it holds; fails naming `what` after `timeoutMs`. */
export async function waitUntil(what: string, ok: () => boolean, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * A JailProject and its runtime for the tests of one describe block: made before them, closed and removed after
 * (also when they fail). Read `jail.p` and `jail.rt` inside tests and hooks.
 */
export function jailSuite(limits: Partial<SandboxLimits> = {}): { readonly p: JailProject; readonly rt: Runtime } {
  let p: JailProject | undefined;
  let rt: Runtime | undefined;
  before(async () => {
    p = new JailProject();
    rt = await p.runtime(limits);
  });
  after(async () => {
    await rt?.close();
    p?.remove();
  });
  const ready = <T>(v: T | undefined): T => {
    if (v === undefined) throw new Error('jailSuite: read jail.p and jail.rt inside a test or hook');
    return v;
  };
  return {
    get p() {
      return ready(p);
    },
    get rt() {
      return ready(rt);
    },
  };
}
