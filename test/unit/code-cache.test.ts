/**
 * The programs' code cache (src/cli/code-cache.ts): a cache is made by the first run and taken by the next, a
 * cache V8 rejects (garbage, another Node) only costs a compile and is replaced, and a cache someone else could
 * have written is never read. Each run is a real child `node` (the cache is written when the process exits).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { codeCacheDir, codeCacheFile } from '../../src/cli/code-cache.js';
import { GG, REPO, tempDir } from '../helpers/cli.js';

const MODULE = pathToFileURL(path.join(REPO, 'dist/src/cli/code-cache.js')).href;

/** A script with enough code for V8 to cache, which prints what it computed. */
function script(dir: string): string {
  const file = path.join(dir, 'prog.js');
  const fns = Array.from({ length: 50 }, (_, i) => `function f${i}(x) { return x * ${i} + ${i}; }`).join('\n');
  const sum = Array.from({ length: 50 }, (_, i) => `f${i}(2)`).join(' + ');
  fs.writeFileSync(file, `${fns}\nprocess.stdout.write(String(${sum}) + '\\n');\n`);
  return file;
}

/** Run `file` through runWithCodeCache in a fresh node; returns [what it printed, how the cache was used]. */
function runCached(file: string, cacheFile: string): [string, string] {
  const code = `const { runWithCodeCache } = await import(${JSON.stringify(MODULE)});
    const use = runWithCodeCache(${JSON.stringify(file)}, ${JSON.stringify(cacheFile)});
    process.stderr.write(use);`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return [r.stdout, r.stderr];
}

const EXPECTED = `${Array.from({ length: 50 }, (_, i) => 2 * i + i).reduce((a, b) => a + b)}\n`;

describe('code cache', () => {
  it('is written by the first run, atomically and private, and taken by the next', () => {
    const dir = tempDir();
    const file = script(dir);
    const cache = path.join(dir, 'cache', 'c.bin');
    assert.deepEqual(runCached(file, cache), [EXPECTED, 'missing']);
    const st = fs.statSync(cache);
    assert.equal(st.mode & 0o777, 0o600);
    assert.equal(fs.statSync(path.dirname(cache)).mode & 0o777, 0o700);
    assert.ok(st.size > 0);
    assert.deepEqual(fs.readdirSync(path.dirname(cache)), ['c.bin'], 'no temp file left');
    assert.deepEqual(runCached(file, cache), [EXPECTED, 'accepted']);
  });

  it('falls back to compiling when V8 rejects the cache, and replaces it', () => {
    const dir = tempDir();
    const file = script(dir);
    const cache = path.join(dir, 'cache', 'c.bin');
    fs.mkdirSync(path.dirname(cache), { mode: 0o700 });
    const garbage = Buffer.alloc(4096, 0x5a);
    fs.writeFileSync(cache, garbage, { mode: 0o600 });
    assert.deepEqual(runCached(file, cache), [EXPECTED, 'rejected']);
    assert.notDeepEqual(fs.readFileSync(cache), garbage);
    assert.deepEqual(runCached(file, cache), [EXPECTED, 'accepted']);
  });

  it('never reads a cache others can write, nor writes into a directory they can', () => {
    const dir = tempDir();
    const file = script(dir);
    const cache = path.join(dir, 'cache', 'c.bin');
    runCached(file, cache);
    const good = fs.readFileSync(cache);
    fs.chmodSync(cache, 0o620);
    assert.deepEqual(runCached(file, cache), [EXPECTED, 'untrusted']);
    assert.deepEqual(fs.readFileSync(cache), good, 'an untrusted cache is left alone');
    fs.chmodSync(cache, 0o600);
    fs.chmodSync(path.dirname(cache), 0o777);
    fs.rmSync(cache);
    assert.deepEqual(runCached(file, cache), [EXPECTED, 'untrusted']);
    assert.deepEqual(fs.readdirSync(path.dirname(cache)), [], 'nothing written into a shared directory');
  });

  it('keys a cache by the kind of run, the bundle (hash and mtime) and this exact Node', () => {
    const a = codeCacheFile('/c', 'force', 'aaaaaaaaaaaaaaaa', 1000);
    assert.notEqual(a, codeCacheFile('/c', 'force', 'bbbbbbbbbbbbbbbb', 1000));
    assert.notEqual(a, codeCacheFile('/c', 'force', 'aaaaaaaaaaaaaaaa', 2000), 'a bundle edited by hand');
    assert.notEqual(a, codeCacheFile('/c', 'init', 'aaaaaaaaaaaaaaaa', 1000));
    assert.ok(a.includes(process.version) && a.includes(process.arch));
    const odd = codeCacheFile('/c', '../x', 'aaaaaaaaaaaaaaaa', 1000);
    assert.equal(odd, codeCacheFile('/c', '--version', 'aaaaaaaaaaaaaaaa', 1000), 'odd kinds: one file');
    assert.equal(path.dirname(odd), '/c');
    assert.equal(codeCacheDir({ XDG_CACHE_HOME: '/x' }), '/x/gg-ts/code');
    assert.equal(codeCacheDir({ HOME: '/h' }), '/h/.cache/gg-ts/code');
    assert.equal(codeCacheDir({ XDG_CACHE_HOME: 'rel', HOME: '' }), undefined);
  });

  it("a new cache removes the same command's day-old caches of other bundles, and nothing else", () => {
    const dir = tempDir();
    const file = script(dir);
    const cacheDir = path.join(dir, 'cache');
    const old = codeCacheFile(cacheDir, 'force', '1111111111111111', 1);
    const recent = codeCacheFile(cacheDir, 'force', '3333333333333333', 3);
    const other = codeCacheFile(cacheDir, 'force-x', '1111111111111111', 1);
    for (const f of [old, recent, other]) runCached(file, f);
    const twoDaysAgo = new Date(Date.now() - 2 * 24 * 3600 * 1000);
    for (const f of [old, other]) fs.utimesSync(f, twoDaysAgo, twoDaysAgo);
    const now = codeCacheFile(cacheDir, 'force', '2222222222222222', 2);
    assert.deepEqual(runCached(file, now), [EXPECTED, 'missing']);
    const left = [now, recent, other].map((f) => path.basename(f)).sort();
    assert.deepEqual(fs.readdirSync(cacheDir).sort(), left);
  });

  it('the gg program uses it per command, and runs right from a garbage one', () => {
    const home = tempDir();
    const proj = tempDir();
    const env = { ...process.env, XDG_CACHE_HOME: home, GG_CODE_CACHE: 'report', GG_DIR: '' };
    const gg = (...args: string[]) => spawnSync(process.execPath, [GG, ...args], { cwd: proj, env, encoding: 'utf8' });
    let r = gg('init');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /code cache missing/);
    const codeDir = path.join(home, 'gg-ts', 'code');
    const [made] = fs.readdirSync(codeDir);
    assert.ok(made?.startsWith('init-'), made);
    r = gg('hash', path.join(REPO, 'package.json'));
    assert.match(r.stderr, /code cache missing/, 'another command: its own cache');
    const hash = r.stdout;
    for (const b of [Buffer.alloc(100_000, 1), Buffer.from('')]) {
      fs.writeFileSync(path.join(codeDir, made!), b);
      r = gg('init');
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stderr, /code cache rejected/);
    }
    r = gg('hash', path.join(REPO, 'package.json'));
    assert.match(r.stderr, /code cache accepted/);
    assert.equal(r.stdout, hash);
    const off = spawnSync(process.execPath, [GG, 'init'], { cwd: proj, env: { ...env, GG_CODE_CACHE: '0' } });
    assert.equal(off.status, 0);
  });
});
