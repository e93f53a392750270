/** Run the built CLI as a child process in a temp project, as a user would. */
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
/** The bundled program users run (package.json `bin`; scripts/bundle.mjs makes it from dist/src). */
export const GG = path.join(REPO, 'dist/bin/gg.js');
/** gg's byte-level test vectors, copied from shared/vectors/gg-original (made with the original C++ tools). */
export const VECTORS = path.join(REPO, 'test/fixtures/gg-original');

export interface RunResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

const temps: string[] = [];
// Each test file runs in its own process: its temp projects (each .gg holds a toolchain's closure, ~300 MB
// for the infer tests) go when it exits, pass or fail. GG_KEEP_TEST_DIRS=1 keeps them for a post-mortem.
process.on('exit', () => {
  if (process.env['GG_KEEP_TEST_DIRS'] === '1') return;
  for (const d of temps.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

export function tempDir(prefix = 'gg-test-'): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  temps.push(d);
  return d;
}

export function run(
  cwd: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number } = {},
): RunResult {
  const r: SpawnSyncReturns<string> = spawnSync(process.execPath, [GG, ...args], {
    cwd,
    env: { ...process.env, GG_DIR: '', ...opts.env },
    encoding: 'utf8',
    input: opts.input ?? '',
    timeout: opts.timeoutMs ?? 120_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Run and insist on success; returns trimmed stdout. */
export function gg(cwd: string, ...args: string[]): string {
  const r = run(cwd, args);
  if (r.status !== 0) throw new Error(`gg ${args.join(' ')} failed (${r.status}):\n${r.stderr}`);
  return r.stdout.trim();
}

/** A fresh project directory with .gg/ initialised. */
export function project(): string {
  const dir = tempDir();
  gg(dir, 'init');
  return dir;
}
