/** Shared by the security regression tests: hostile thunks written straight into a store, CLI runs with extras. */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { encodeThunk, type Thunk } from '../../src/ir/thunk.js';
import { GG } from '../helpers/cli.js';
import type { JailProject } from '../helpers/jail-thunks.js';

/**
 * A thunk as an attacker with write access to a store would put it there: encoded without validation, so only
 * the reader's checks stand between it and the host. `sh -c script`, outputs ['out'] unless given.
 */
export function rawThunk(
  p: JailProject,
  script: string,
  extra: Partial<Thunk> & { tools?: string[]; argv0?: string } = {},
): string {
  const { tools, argv0, ...rest } = extra;
  const t: Thunk = {
    function: { hash: p.sh.name, args: [argv0 ?? 'sh', '-c', script], envars: ['PATH=/usr/bin:/bin'] },
    values: [],
    thunks: [],
    executables: [...p.sh.inputs, ...(tools ?? []).flatMap((n) => p.tool(n))],
    outputs: ['out'],
    timeout: 0,
    links: {},
    ...rest,
  };
  const name = p.store.putSync(encodeThunk(t)).name;
  p.store.hashCache.flush();
  return name;
}

/** `gg ARGS` in `cwd` as a child process (GG_DIR from the project), with optional extra descriptors. */
export function spawnGg(
  cwd: string,
  args: string[],
  stdio: (number | 'ignore' | 'pipe')[] = ['ignore', 'pipe', 'pipe'],
): ChildProcess {
  return spawn(process.execPath, [GG, ...args], { cwd, env: { ...process.env, GG_DIR: path.join(cwd, '.gg') }, stdio });
}

export function collectOutput(
  child: ChildProcess,
): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })));
}

/** Resolve with `p`, or reject after `ms` (a hang is a failure, not a stuck test run). */
export function within<T>(ms: number, what: string, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
    }),
  ]);
}

export function exists(p: string): boolean {
  return fs.existsSync(p);
}
