/**
 * The directory of model programs put first on PATH by `gg infer`: one small client binary (client.c,
 * compiled once with the host cc into the cache) linked under every tool name it models, plus
 * `gg-force-and-run` so that placeholders the build executes force themselves. The directory is stable
 * (`.gg/cache/infer/bin`), because build systems such as CMake bake the compiler's absolute path.
 */
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { GgError } from '../../errors.js';
import { privateDir, readPrivateFile, userCacheDir } from '../../store/host-pool.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
/** dist/src/frontend/infer -> repo root (four levels up), src/frontend/infer -> three. */
const REPO = fs.existsSync(path.resolve(HERE, '../../../../package.json'))
  ? path.resolve(HERE, '../../../..')
  : path.resolve(HERE, '../../..');

export const COMPILER_MODELS = ['gcc', 'g++', 'cc', 'c++', 'c89', 'c99', 'clang', 'clang++'];
/** Not modelled as thunks: they run for real, after the placeholders they read are forced. */
export const OTHER_MODELS = ['ar', 'ranlib', 'ld', 'strip', 'as', 'nm', 'objdump', 'objcopy', 'readelf', 'size'];
/** Compiler launchers: `ccache cc ...` is modelled as the compile it launches (when ccache is installed). */
export const LAUNCHER_MODELS = ['ccache'];

export function clientSourcePath(): string {
  for (const p of [path.join(HERE, 'client.c'), path.join(REPO, 'src/frontend/infer/client.c')])
    if (fs.existsSync(p)) return p;
  throw new GgError('GG_E_INFER', 'the model client source (client.c) is missing from this installation', {
    hint: 'reinstall gg-ts',
  });
}

/** The bundled program (scripts/bundle.mjs: it starts faster), else tsc's output when run from a bare `tsc`. */
function forceAndRunScript(): string {
  const bundled = path.join(REPO, 'dist/bin/gg-force-and-run.js');
  return fs.existsSync(bundled) ? bundled : path.join(REPO, 'dist/src/cli/force-and-run.js');
}

function nodeClientScript(): string {
  return path.join(REPO, 'dist/src/frontend/infer/node-client.js');
}

function findOnPath(tool: string, searchPath: string): string | undefined {
  for (const dir of searchPath.split(':')) {
    const p = path.join(dir || '.', tool);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      if (fs.statSync(p).isFile()) return p;
    } catch {
      // not here
    }
  }
  return undefined;
}

/**
 * Copy a client binary another process left in the user's cache into `dest`, only if it is a regular file of
 * ours that nobody else may write, in a directory nobody else may write. The file is opened without following
 * links and checked through that descriptor, so a swap after the check cannot slip another file in.
 */
function adoptSharedClient(file: string, dest: string): boolean {
  if (!privateDir(path.dirname(file), false)) return false;
  const bytes = readPrivateFile(file);
  return bytes !== undefined && bytes.length > 0 && writeThroughTemp(dest, bytes);
}

/** Write an executable `dest` through a temp name (never a half-written program under the final name). */
function writeThroughTemp(dest: string, bytes: Buffer): boolean {
  const tmp = `${dest}.tmp-${process.pid}`;
  try {
    fs.mkdirSync(path.dirname(dest), { recursive: true, mode: 0o755 });
    fs.writeFileSync(tmp, bytes, { mode: 0o755, flag: 'wx' });
    fs.chmodSync(tmp, 0o755); // whatever the umask: a group-writable copy would be refused next time
    fs.renameSync(tmp, dest);
    return true;
  } catch {
    fs.rmSync(tmp, { force: true });
    return false;
  }
}

/**
 * Compile the client once per source version (kept in the .gg cache, and shared through the user's cache
 * directory by every .gg); returns its path, or undefined when no C compiler works.
 */
export function buildClient(cacheDir: string, realPath: string, userDir = userCacheDir()): string | undefined {
  const src = clientSourcePath();
  const text = fs.readFileSync(src);
  const digest = crypto.createHash('sha256').update(text).digest('hex').slice(0, 16);
  const out = path.join(cacheDir, `client-${digest}`);
  if (fs.existsSync(out)) return out;
  const shared = userDir && path.join(userDir, `client-${digest}`);
  if (shared && adoptSharedClient(shared, out)) return out;
  const cc = findOnPath('cc', realPath) ?? findOnPath('gcc', realPath);
  if (!cc) return undefined;
  fs.mkdirSync(cacheDir, { recursive: true });
  const tmp = `${out}.tmp-${process.pid}`;
  const r = spawnSync(cc, ['-O2', '-o', tmp, src], { env: { ...process.env, PATH: realPath }, encoding: 'utf8' });
  if (r.status !== 0) {
    fs.rmSync(tmp, { force: true });
    return undefined;
  }
  fs.renameSync(tmp, out);
  if (shared) writeThroughTemp(shared, fs.readFileSync(out)); // best effort: a read-only home compiles again
  return out;
}

export interface ModelDir {
  dir: string;
  /** tool name -> absolute path of its model. */
  models: Map<string, string>;
  /** 'c' when the compiled client is used, 'node' for the slower fallback. */
  client: 'c' | 'node';
}

function writeIfChanged(file: string, content: string, mode: number): void {
  let old: string | undefined;
  try {
    old = fs.readFileSync(file, 'utf8');
  } catch {
    old = undefined;
  }
  if (old === content && (fs.statSync(file).mode & 0o777) === mode) return;
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, content, { mode });
  fs.chmodSync(tmp, mode);
  fs.renameSync(tmp, file);
}

function linkIfChanged(target: string, link: string): void {
  try {
    if (fs.readlinkSync(link) === target) return;
  } catch {
    // missing or not a link
  }
  const tmp = `${link}.tmp-${process.pid}`;
  fs.rmSync(tmp, { force: true });
  fs.symlinkSync(target, tmp);
  fs.renameSync(tmp, link);
}

/** Create or refresh the model directory under `inferCacheDir`. */
export function prepareModelDir(inferCacheDir: string, realPath: string): ModelDir {
  const dir = path.join(inferCacheDir, 'bin');
  fs.mkdirSync(dir, { recursive: true });
  const client = process.env['GG_INFER_NODE_CLIENT'] === '1' ? undefined : buildClient(inferCacheDir, realPath);
  const models = new Map<string, string>();
  const tools = [
    ...COMPILER_MODELS.filter((t) => !t.startsWith('clang') || findOnPath(t, realPath)),
    ...OTHER_MODELS,
    ...LAUNCHER_MODELS.filter((t) => findOnPath(t, realPath)),
  ];
  for (const tool of tools) {
    const p = path.join(dir, tool);
    if (client) linkIfChanged(client, p);
    else {
      fs.rmSync(p, { force: true });
      writeIfChanged(p, `#!/bin/sh\nexec "${process.execPath}" "${nodeClientScript()}" "$0" "$@"\n`, 0o755);
    }
    models.set(tool, p);
  }
  // A placeholder the build runs (`#!/usr/bin/env gg-force-and-run`) reaches the server through the client
  // too, which can answer the run from a thunk (run-model.ts); the Node runner is its fallback.
  const runner = `#!/bin/sh\nexec "${process.execPath}" "${forceAndRunScript()}" "$@"\n`;
  writeIfChanged(path.join(dir, 'gg-force-and-run-node'), runner, 0o755);
  const forceAndRun = path.join(dir, 'gg-force-and-run');
  if (client) linkIfChanged(client, forceAndRun);
  else {
    fs.rmSync(forceAndRun, { force: true });
    writeIfChanged(forceAndRun, runner, 0o755);
  }
  return { dir, models, client: client ? 'c' : 'node' };
}

export { findOnPath };
