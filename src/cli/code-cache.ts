/**
 * Run a program bundle (dist/bin/*.main.js, one CommonJS script: scripts/bundle.mjs) through V8's code cache.
 * Why: Node 20 compiles every script on every start (its module compile cache is 22.1+), and a memoized force
 * and every placeholder run as a program are mostly start-up. The bytecode V8 compiled for one run of a command
 * is kept in the user's cache directory and handed back to V8 on the next run of that command.
 *
 * V8 checks a cache against its own version, its flags and the script's length, and rejects a mismatch (then
 * the script compiles as usual and the cache is written again): a cache of another Node never breaks `gg`. It
 * does not check the bytes against the source, so a cache is code: its file name carries a hash of the bundle,
 * and it is read only from a directory and a file owned by this user that no one else can write, and written
 * there atomically (temp name, rename). Any failure to read or write a cache only costs the compile.
 */
import { isAscii } from 'node:buffer';
import fs from 'node:fs';
import Module, { createRequire } from 'node:module';
import path from 'node:path';
import vm from 'node:vm';
import { adoptExtraCaCerts } from '../store/tls-trust.js';

/** A cache of another bundle or Node, for the same command, is removed once it is this old. */
const STALE_MS = 24 * 3600 * 1000;

export type CacheUse = 'accepted' | 'rejected' | 'missing' | 'untrusted' | 'off';

/** Where the caches live: $XDG_CACHE_HOME/gg-ts/code, else ~/.cache/gg-ts/code; none if neither is known. */
export function codeCacheDir(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const base = env['XDG_CACHE_HOME'] || (env['HOME'] ? path.join(env['HOME'], '.cache') : undefined);
  return base && path.isAbsolute(base) ? path.join(base, 'gg-ts', 'code') : undefined;
}

/**
 * The cache file of one kind of run (e.g. the command) of one bundle, named by its build hash and by its file's
 * mtime (a bundle edited by hand keeps the hash its loader was built with), for this exact Node.
 */
export function codeCacheFile(dir: string, kind: string, bundleHash: string, bundleMtimeMs: number): string {
  const k = /^[a-z][a-z0-9-]{0,39}$/.test(kind) ? kind : '_';
  const stamp = Math.trunc(bundleMtimeMs).toString(36);
  return path.join(dir, `${k}-${bundleHash}-${stamp}-${process.version}-${process.arch}.bin`);
}

/** Owned by this user and writable by no one else: what may hold code we run. */
function trusted(st: fs.Stats): boolean {
  return st.uid === process.geteuid?.() && (st.mode & 0o022) === 0;
}

function readTrusted(file: string): Buffer | 'missing' | 'untrusted' {
  let dir: fs.Stats;
  try {
    dir = fs.lstatSync(path.dirname(file));
  } catch {
    return 'missing';
  }
  if (!dir.isDirectory() || !trusted(dir)) return 'untrusted';
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'missing' : 'untrusted';
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile() || !trusted(st) || st.size > 64 << 20) return 'untrusted';
    return fs.readFileSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Write `file` (temp, rename), and remove the caches of the same kind of run that other bundles or Nodes wrote
 * over a day ago (a rebuilt checkout does not pile them up; two installs in use at once do not evict each other).
 */
function writeAtomic(file: string, data: Buffer): void {
  const dir = path.dirname(file);
  try {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    if (!trusted(fs.lstatSync(dir))) return;
    const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
    try {
      fs.writeFileSync(tmp, data, { flag: 'wx', mode: 0o600 });
      fs.renameSync(tmp, file);
    } catch {
      fs.rmSync(tmp, { force: true });
      return;
    }
    const kind = /^([a-z_][a-z0-9-]*)-[0-9a-f]{16}-/.exec(path.basename(file))?.[1];
    if (kind === undefined) return;
    for (const other of fs.readdirSync(dir))
      if (other !== path.basename(file) && other.endsWith('.bin') && other.startsWith(`${kind}-`))
        if (/^-[0-9a-f]{16}-/.test(other.slice(kind.length))) {
          const st = fs.lstatSync(path.join(dir, other), { throwIfNoEntry: false });
          if (st && Date.now() - st.mtimeMs > STALE_MS) fs.rmSync(path.join(dir, other), { force: true });
        }
  } catch {
    // No cache directory (read-only home, no space): the next run compiles again.
  }
}

/**
 * A script's text. ASCII (scripts/bundle.mjs checks the bundles are) is read as latin1: the same string, without
 * Node's UTF-8 decoding of the whole file, ~8 M instructions (~2 ms) of every start for the gg bundle.
 */
function readSource(file: string): string {
  const bytes = fs.readFileSync(file);
  return isAscii(bytes) ? bytes.toString('latin1') : bytes.toString('utf8');
}

/**
 * Run the CommonJS script `file` as a module, with V8's code cache kept in `cacheFile` (undefined: none).
 * A missing or rejected cache is written when the process exits, so it holds what this run compiled.
 */
export function runWithCodeCache(file: string, cacheFile: string | undefined): CacheUse {
  const source = readSource(file);
  const read = cacheFile === undefined ? 'off' : readTrusted(cacheFile);
  const script = new vm.Script(Module.wrap(source), {
    filename: file,
    cachedData: typeof read === 'string' ? undefined : read,
  });
  const use: CacheUse = typeof read === 'string' ? read : script.cachedDataRejected ? 'rejected' : 'accepted';
  if (cacheFile !== undefined && (use === 'missing' || use === 'rejected'))
    process.once('exit', () => writeAtomic(cacheFile, script.createCachedData()));
  const module = { exports: {}, filename: file, id: file, loaded: false };
  const run = script.runInThisContext() as (...args: unknown[]) => void;
  run.call(module.exports, module.exports, createRequire(file), module, file, path.dirname(file));
  return use;
}

/** What a program's loader (dist/bin/gg.js, made by scripts/bundle.mjs) calls; GG_CODE_CACHE=0 turns it off. */
export function launch(file: string, bundleHash: string, kind: string): void {
  adoptExtraCaCerts(); // the launcher moved NODE_EXTRA_CA_CERTS aside: back for children (src/store/tls-trust.ts)
  const dir = process.env['GG_CODE_CACHE'] === '0' ? undefined : codeCacheDir();
  const use = runWithCodeCache(file, dir && codeCacheFile(dir, kind, bundleHash, fs.statSync(file).mtimeMs));
  if (process.env['GG_CODE_CACHE'] === 'report') process.stderr.write(`gg: code cache ${use}\n`);
}
